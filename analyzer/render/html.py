"""The HTML report: one self-contained file (CSS and JS inline, no request to any network) that
lists every connection, sorts and filters them, and draws a connection's section (ladder as an
SVG sequence diagram, facts, findings, certificate chain) when it is opened.

It renders the public JSON contract: connection dicts exactly as `analyze --format json` prints
them, the capture dicts of that document, and optionally a `summary` document. It streams: each
connection becomes a list row and a detail (`html_model`) as it comes, and they are written in
chunks of CHUNK connections, so memory holds one chunk, never the capture.

Layout of the file: head (CSP, CSS), then per chunk a rows block and a details block, then the
meta block (captures, summary, counts), then the page's script. Rows of all chunks form one
deflate stream (flushed per chunk) that the page inflates at load to build the list; each
chunk's details are a deflate stream of their own, inflated when one of its connections is
opened. Both are base64 in `<script type="application/octet-stream">` blocks, which the browser
never runs; the meta block is JSON with `<`, `>`, `&` and U+2028/9 escaped, so no wire string
can close its element or open a comment. A Content-Security-Policy allows only this file's own
script and style (by hash) and no fetch, image, font or frame from anywhere.
"""

from __future__ import annotations

import base64
import hashlib
import html
import os
import zlib
from collections.abc import Iterable, Sequence
from importlib import resources
from typing import Any, Final, Protocol

import orjson

from analyzer import __version__
from analyzer.render import html_model
from analyzer.render.json import dumps
from analyzer.render.sanitize import text

SCHEMA: Final = "tls-analyzer-report/1"  # the page's view model (rows, details, meta), not a public contract
CHUNK: Final = 128  # connections per details block: what opening one connection inflates (about 0.3 MB)
DEFAULT_TITLE: Final = "TLS handshakes"


SCRIPTS: Final = ("dom.js", "list.js", "section.js", "summary.js", "page.js")  # html_assets/, joined in this order


def _asset(name: str) -> str:
    s = resources.files("analyzer.render").joinpath("html_assets").joinpath(name).read_text("utf-8")
    if "</script" in s.lower() or "</style" in s.lower():
        raise ValueError(f"{name} must not contain a closing script or style tag")
    return s


def page_script() -> str:
    """The report's script: its files as one strict function, so they share names and leak none."""
    return '"use strict";\n(() => {\n' + "\n".join(_asset(name) for name in SCRIPTS) + "})();\n"


def _csp_hash(s: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"


_ESCAPES: Final = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026",
                   0x2028: "\\u2028", 0x2029: "\\u2029"}


def script_json(obj: Any) -> bytes:
    """JSON that is safe inside a <script> element: no `</script>`, no `<!--`, nothing an HTML parser
    reads as markup (the characters are escaped inside strings, where JSON allows \\u escapes).
    Keys keep their order: a summary's producer orders its tables' columns."""
    return orjson.dumps(obj).decode().translate(_ESCAPES).encode()


def _clean(obj: Any) -> Any:
    """A capture or summary value with every string made inert (keys too)."""
    if isinstance(obj, str):
        return text(obj)
    if isinstance(obj, dict):
        return {text(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


class Output(Protocol):
    """Where the report goes: a binary file, stdout's buffer, or the CLI's lazily created output."""

    def write(self, data: bytes, /) -> Any: ...


class _Base64Stream:
    """Bytes in, base64 out, in pieces that are each valid base64 (whole 3-byte groups)."""

    def __init__(self) -> None:
        self.rest = b""

    def encode(self, data: bytes, final: bool = False) -> bytes:
        data = self.rest + data
        cut = len(data) if final else len(data) - len(data) % 3
        self.rest = data[cut:]
        return base64.b64encode(data[:cut])


class ReportWriter:
    """Write a report while connections arrive: `add` each, then `finish` once.

    `finish` takes the captures and the summary, so a caller that learns them only while the
    connections stream (frame counts, the summary's tallies) gives them at the end."""

    def __init__(self, out: Output, title: str = DEFAULT_TITLE, *, chunk: int = CHUNK, compress: bool = True) -> None:
        self.out, self.title, self.chunk, self.compress = out, title, chunk, compress
        self.count = 0
        self.chunks = 0
        self.rows: list[bytes] = []
        self.details: list[bytes] = []
        self.rows_zip = zlib.compressobj(9)
        self.rows_b64 = _Base64Stream()
        self.started = False
        self.css, self.js = _asset("report.css"), page_script()

    def _head(self) -> None:
        csp = (f"default-src 'none'; script-src {_csp_hash(self.js)}; style-src {_csp_hash(self.css)}; "
               "img-src 'none'; connect-src 'none'; base-uri 'none'; form-action 'none'")
        self.out.write((
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{csp}">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            '<meta name="color-scheme" content="light dark">\n'
            f'<meta name="generator" content="tls-analyzer {html.escape(__version__)}">\n'
            f"<title>{html.escape(text(self.title))}</title>\n<style>{self.css}</style></head>\n"
            '<body><noscript><p>This report draws its list and diagrams with JavaScript: allow it for this file, '
            "or read the same data with <code>tls-analyzer analyze --format json</code>.</p></noscript>\n"
        ).encode())
        self.started = True

    def add(self, conn: dict[str, Any], capture: str = "") -> None:
        """One connection dict (`analyze --format json`); `capture` names its capture file (jsonl's
        `"capture"` key is used when it is not given)."""
        if not self.started:
            self._head()
        capture = capture or conn.get("capture") or ""
        self.rows.append(dumps(html_model.row(conn, capture)))
        self.details.append(dumps(html_model.detail(conn, capture)))
        self.count += 1
        if len(self.rows) >= self.chunk:
            self._flush()

    def _block(self, kind: str, payload: bytes, encoding: str) -> None:
        kind_type = "application/octet-stream" if encoding == "deflate" else "application/json"
        self.out.write(f'<script type="{kind_type}" class="tls-{kind}" data-chunk="{self.chunks}" '
                       f'data-encoding="{encoding}">'.encode() + payload + b"</script>\n")

    def _flush(self, final: bool = False) -> None:
        rows = b"\n".join(self.rows)
        details = b"[" + b",".join(self.details) + b"]"
        if self.compress:
            data = self.rows_zip.compress(rows + b"\n") if self.rows else b""
            data += self.rows_zip.flush(zlib.Z_FINISH if final else zlib.Z_SYNC_FLUSH)
            self._block("rows", self.rows_b64.encode(data, final), "deflate")
            if self.details:  # (the last rows block may only end the stream)
                self._block("details", base64.b64encode(zlib.compress(details, 9)), "deflate")
        else:
            self._block("rows", rows.decode().translate(_ESCAPES).encode(), "json")
            self._block("details", details.decode().translate(_ESCAPES).encode(), "json")
        if self.details:
            self.chunks += 1
        self.rows.clear()
        self.details.clear()

    def finish(self, captures: Sequence[dict[str, Any]] = (), summary: dict[str, Any] | None = None) -> int:
        """Write the rest of the file; returns how many connections it holds."""
        if not self.started:
            self._head()
        if self.rows or (self.compress and self.chunks):
            self._flush(final=True)  # the rows stream ends here
        meta = {"schema": SCHEMA, "title": text(self.title), "generator": f"tls-analyzer {__version__}",
                "connections": self.count, "chunk": self.chunk, "chunks": self.chunks,
                "columns": list(html_model.ROW_COLUMNS), "severities": list(html_model.SEVERITIES),
                "captures": _clean(list(captures)), "summary": _clean(summary) if summary is not None else None}
        self.out.write(b'<script type="application/json" id="tls-meta">' + script_json(meta) + b"</script>\n")
        self.out.write(f"<script>{self.js}</script>\n</body></html>\n".encode())
        return self.count


def title_for(captures: Sequence[str]) -> str:
    """The report's title from the capture paths it covers."""
    names = ["stdin" if c == "-" else os.path.basename(c) for c in captures]
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return f"TLS handshakes: {shown}" if shown else DEFAULT_TITLE


def write_report(out: Output, captures: Sequence[dict[str, Any]], connections: Iterable[dict[str, Any]],
                 summary: dict[str, Any] | None = None, title: str = DEFAULT_TITLE, *, chunk: int = CHUNK,
                 compress: bool = True) -> int:
    """The report of `connections` (dicts as `analyze --format json` prints them, consumed one at a
    time) from `captures` (that document's capture dicts, read once the connections are exhausted,
    so they may be filled meanwhile), with `summary` (a `tls-analyzer-summary/1` document) on top
    when given. Returns how many connections it holds."""
    writer = ReportWriter(out, title, chunk=chunk, compress=compress)
    for conn in connections:
        writer.add(conn)
    return writer.finish(captures, summary)
