"""The HTML report file (analyzer/render/html.py) read back without a browser: what it embeds decodes
to exactly what the model made, nothing from the data can end its script blocks, the Content
Security Policy names this file's own script and style, it streams, and the CLI writes it."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import zlib
from html.parser import HTMLParser

import pytest

from analyzer.cli import main
from analyzer.render import html, html_model
from analyzer.api import json_document

from conftest import CAPTURES

HOSTILE_SUMMARY = {"schema": "tls-analyzer-summary/1", "captures": 1,
                   "versions": {"</script><!--<script>document.title='pwned'</script>": 2},
                   "servers": [{"sni": "</SCRIPT ><img src=x onerror=alert(1)>", "address": "\u202e1.2.3.4"}]}


class Blocks(HTMLParser):
    """The file's script and style elements, as an HTML parser sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.scripts: list[tuple[dict, str]] = []
        self.styles: list[str] = []
        self.csp = ""
        self._in: tuple[str, dict] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "meta" and a.get("http-equiv") == "Content-Security-Policy":
            self.csp = a["content"]
        if tag in ("script", "style"):
            self._in = (tag, a)
            self._text: list[str] = []

    def handle_data(self, data: str) -> None:
        if self._in:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._in and tag == self._in[0]:
            text = "".join(self._text)
            (self.scripts.append((self._in[1], text)) if tag == "script" else self.styles.append(text))
            self._in = None


def conns(*names: str) -> list[dict]:
    out = []
    for name in names:
        for c in json.loads(json_document(str(CAPTURES / name)))["connections"]:
            out.append({"capture": name, **c})
    return out


def report(connections: list[dict], summary: dict | None = None, **kw) -> str:
    buf = io.BytesIO()
    html.write_report(buf, [{"file": "x.pcap", "frames": 1}], connections, summary, **kw)
    return buf.getvalue().decode()


def decode(blocks: Blocks) -> tuple[list, list]:
    """Rows and details the way the page's script (html_assets/dom.js) reads them."""
    rows_blocks = [t for a, t in blocks.scripts if a.get("class") == "tls-rows"]
    detail_blocks = [t for a, t in blocks.scripts if a.get("class") == "tls-details"]
    raw = b"".join(base64.b64decode(t) for t in rows_blocks)
    rows = [json.loads(line) for line in zlib.decompress(raw).decode().splitlines() if line]
    details = [d for t in detail_blocks for d in json.loads(zlib.decompress(base64.b64decode(t)))]
    return rows, details


def test_embedded_data_is_exactly_the_model_of_each_connection() -> None:
    cs = conns("tls13-hrr.pcap", "tls12-gap.pcap", "tls-hostile-html.pcap", "cert-expired.pcap")
    blocks = Blocks()
    blocks.feed(report(cs, chunk=2))  # several chunks, one rows stream across them
    rows, details = decode(blocks)
    assert rows == [json.loads(json.dumps(html_model.row(c, c["capture"]))) for c in cs]
    assert details == [json.loads(json.dumps(html_model.detail(c, c["capture"]))) for c in cs]
    assert len([a for a, _ in blocks.scripts if a.get("class") == "tls-details"]) == 3


def test_nothing_from_the_data_ends_a_script_block_or_opens_a_comment() -> None:
    page = report(conns("tls-hostile-html.pcap"), HOSTILE_SUMMARY, title="</title><script>alert(1)</script>")
    blocks = Blocks()
    blocks.feed(page)
    kinds = [a.get("class") or a.get("id") or "app" for a, _ in blocks.scripts]
    assert kinds == ["tls-rows", "tls-details", "tls-meta", "app"]  # no element was cut short or injected
    meta = json.loads(blocks.scripts[2][1])
    assert list(meta["summary"]["versions"]) == ["</script><!--<script>document.title='pwned'</script>"]
    assert meta["summary"]["servers"][0]["address"] == "\\u202e1.2.3.4"  # made inert, as in every text output
    assert "<!--" not in blocks.scripts[2][1] and "</" not in blocks.scripts[2][1]
    assert "<title>&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;</title>" in page


def test_uncompressed_blocks_are_escaped_json() -> None:
    blocks = Blocks()
    blocks.feed(report(conns("tls-hostile-html.pcap"), compress=False))
    rows = [t for a, t in blocks.scripts if a.get("class") == "tls-rows"]
    assert len(rows) == 1 and "<" not in rows[0]
    assert json.loads(rows[0].splitlines()[0])[html_model.ROW_COLUMNS.index("sni")] == \
        "<script>document.title='pwned'</script>"


def test_the_security_policy_allows_only_this_files_script_and_style() -> None:
    blocks = Blocks()
    blocks.feed(report(conns("tls13-hrr.pcap")))

    def digest(s: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"

    app = blocks.scripts[-1][1]
    assert f"script-src {digest(app)};" in blocks.csp and f"style-src {digest(blocks.styles[0])};" in blocks.csp
    assert "default-src 'none'" in blocks.csp and "connect-src 'none'" in blocks.csp and "img-src 'none'" in blocks.csp
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", app + blocks.styles[0])  # nothing to fetch


def test_it_streams_a_chunk_before_the_connections_end() -> None:
    cs = conns("tls13-hrr.pcap") * 5
    out = io.BytesIO()
    seen_at: list[bool] = []

    def feed():
        for i, c in enumerate(cs):
            if i == 3:  # after a chunk of 2 and before the last connection
                seen_at.append(b'class="tls-details" data-chunk="0"' in out.getvalue())
            yield {**c, "id": i}

    assert html.write_report(out, [], feed(), chunk=2) == 5
    assert seen_at == [True]


def test_an_empty_report_is_still_a_page() -> None:
    blocks = Blocks()
    blocks.feed(report([]))
    assert [a.get("id") or "app" for a, _ in blocks.scripts] == ["tls-meta", "app"]
    assert json.loads(blocks.scripts[0][1])["connections"] == 0


def test_cli_writes_html_to_output_and_stdout(tmp_path, capsysbinary) -> None:
    out = tmp_path / "r.html"
    assert main(["analyze", str(CAPTURES / "tls13-hrr.pcap"), str(CAPTURES / "tls12-gap.pcap"),
                 "--format", "html", "--output", str(out)]) == 0
    blocks = Blocks()
    blocks.feed(out.read_text())
    rows, details = decode(blocks)
    assert [(r[0], r[1]) for r in rows] == [("tls13-hrr.pcap", 0), ("tls12-gap.pcap", 0)]
    meta = json.loads(next(t for a, t in blocks.scripts if a.get("id") == "tls-meta"))
    assert [(c["file"], c["frames"]) for c in meta["captures"]] == [("tls13-hrr.pcap", 20), ("tls12-gap.pcap", 16)]
    assert b"2 connections" in capsysbinary.readouterr().err
    assert main(["analyze", str(CAPTURES / "tls13-hrr.pcap"), "--format", "html", "--depth", "tcp"]) == 0
    page = capsysbinary.readouterr().out.decode()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")


def test_secrets_never_reach_the_report(tmp_path) -> None:
    keys = CAPTURES / "keys" / "tls13.keys"
    out = tmp_path / "r.html"
    assert main(["analyze", str(CAPTURES / "tls13.pcap"), "--keylog", str(keys), "--show-secrets",
                 "--format", "html", "-o", str(out)]) == 0
    blocks = Blocks()
    blocks.feed(out.read_text())
    _, details = decode(blocks)
    secret = next(line.split()[2] for line in keys.read_text().splitlines() if line and not line.startswith("#"))
    assert secret.lower() not in json.dumps(details).lower()


@pytest.mark.parametrize("value, escaped", [("</script>", "\\u003c/script\\u003e"), ("<!--", "\\u003c!--"),
                                           ("a&b", "a\\u0026b"), ("\u2028", "\\u2028")])
def test_script_json_escapes(value: str, escaped: str) -> None:
    assert html.script_json(value).decode() == f'"{escaped}"'
    assert json.loads(html.script_json(value)) == value
