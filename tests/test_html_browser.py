"""The HTML report in a real browser: Debian's headless Chromium driven by playwright. It loads
offline with no console error and no request beyond the file, the list filters and sorts, the
HelloRetryRequest capture's diagram shows the retry, the hostile capture runs nothing and breaks
no layout, dark and print styles apply. With CI set, a missing browser fails instead of skipping.

tests/snapshots/report.png is the README's screenshot: rewritten when UPDATE_SNAPSHOTS=1."""

from __future__ import annotations

import io
import json
import os
import struct
import time
from pathlib import Path

import pytest

from analyzer.cli import main
from analyzer.render import html
from analyzer.api import json_document

import headless
from conftest import CAPTURES, ROOT

SNAPSHOT = ROOT / "tests" / "snapshots" / "report.png"
ROW_H = 28
SNAPSHOT_SIZE = {"width": 1280, "height": 1260}  # the list and the first diagram


@pytest.fixture(scope="module")
def browser():
    why = headless.missing()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"the HTML report tests need a browser in CI: {why}")
        pytest.skip(why)
    with headless.chromium() as context:
        yield context


class Page:
    """A report opened in a fresh tab, with everything the page said or asked for recorded."""

    def __init__(self, context, path: Path, color_scheme: str = "light") -> None:
        self.url = path.as_uri()
        self.console: list[str] = []
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.page = context.new_page()
        self.page.emulate_media(color_scheme=color_scheme)
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.goto(self.url)
        self.page.wait_for_selector("html[data-ready]")

    def clean(self) -> None:
        assert self.console == [] and self.errors == [] and self.dialogs == []
        assert self.requests == [self.url]

    def visible_rows(self) -> list[dict]:
        return self.page.eval_on_selector_all(".spacer .row", """rows => rows
            .sort((a, b) => a.dataset.pos - b.dataset.pos)
            .map(r => Object.fromEntries([...r.children].map(c => [c.dataset.key, c.textContent])))""")

    def wait(self, predicate: str, timeout: float = 10.0) -> None:
        """Poll `predicate` (a JS function) until it holds. Not wait_for_function: that evaluates a
        string inside the page, which the report's Content-Security-Policy rightly refuses."""
        deadline = time.monotonic() + timeout
        while not self.page.evaluate(predicate):
            assert time.monotonic() < deadline, f"timed out waiting for {predicate}"
            self.page.wait_for_timeout(50)

    def count(self) -> str:
        return self.page.text_content(".filters .count")

    def open(self, row: int) -> None:
        self.page.evaluate(f"location.hash = '#c{row}'")
        self.page.wait_for_selector(f"section#c{row}:not([aria-busy]) svg.ladder")


def analyze_html(tmp_path: Path, *captures: str, extra: tuple[str, ...] = ()) -> Path:
    out = tmp_path / "report.html"
    assert main(["analyze", *(str(CAPTURES / c) for c in captures), "--format", "html", "-o", str(out), *extra]) == 0
    return out


def fixture_captures() -> list[str]:
    return sorted(p.name for p in CAPTURES.iterdir() if p.suffix in (".pcap", ".pcapng", ".gz"))


def test_every_fixture_loads_offline_and_every_section_opens_cleanly(browser, tmp_path) -> None:
    captures = fixture_captures()
    path = analyze_html(tmp_path, *captures)
    total = sum(len(json.loads(json_document(str(CAPTURES / c)))["connections"]) for c in captures)
    page = Page(browser, path)
    assert page.count() == f"{total} connections"
    for row in range(total):
        page.open(row)
    assert page.page.locator("section.conn").count() == total
    assert page.page.locator("section.conn .message").count() == 0  # no section failed to build
    page.clean()


def test_hrr_diagram_shows_the_retry(browser, tmp_path) -> None:
    page = Page(browser, analyze_html(tmp_path, "tls13-hrr.pcap"))
    page.page.click(".spacer .row")
    page.page.wait_for_selector("section.conn svg.ladder")
    steps = page.page.eval_on_selector_all("section.conn svg.ladder g.step", """gs => gs.map(g => ({
        cls: g.getAttribute('class'), label: g.querySelector('.label')?.textContent,
        note: g.querySelector('.note')?.textContent, y: +g.querySelector('.time').getAttribute('y'),
        x1: +g.querySelector('line')?.getAttribute('x1'), tip: +g.querySelector('polygon')?.getAttribute('points').split(',')[0]}))""")
    labels = [s["label"] for s in steps]
    assert labels.index("HelloRetryRequest") == 1 and labels.count("ClientHello") == 2
    hrr = steps[1]
    assert "hrr" in hrr["cls"] and "server" in hrr["cls"] and hrr["note"] == "retry with secp256r1"
    assert hrr["tip"] < hrr["x1"]  # drawn from the server's lifeline to the client's
    assert steps[0]["tip"] > steps[0]["x1"] and steps[0]["y"] < hrr["y"] < steps[4]["y"]
    band = page.page.eval_on_selector("section.conn g.step.hrr rect", "r => getComputedStyle(r).fill")
    assert band != "none"
    page.clean()


def test_filters_hide_rows_and_clear_brings_them_back(browser, tmp_path) -> None:
    page = Page(browser, analyze_html(tmp_path, *fixture_captures()))
    total = page.count()
    page.page.fill('input[data-filter="sni"]', "python*")
    page.wait(f"() => document.querySelector('.filters .count').textContent !== '{total}'")
    rows = page.visible_rows()
    assert rows and all(r["sni"].startswith("python") for r in rows)
    page.page.fill('input[data-filter="sni"]', "")
    page.wait(f"() => document.querySelector('.filters .count').textContent === '{total}'")
    page.page.select_option('select[data-filter="version"]', "TLSv1.2")
    assert {r["version"] for r in page.visible_rows()} == {"TLSv1.2"}
    page.page.select_option('select[data-filter="severity"]', "4")  # high and above
    rows = page.visible_rows()
    assert rows and all(r["severity"].split()[0] in ("high", "critical") for r in rows)
    page.page.fill('input[data-filter="address"]', "[::1]*")
    page.page.wait_for_selector(".empty")
    assert page.visible_rows() == [] and page.count().startswith("0 of ")
    page.page.click("text=clear")
    page.wait(f"() => document.querySelector('.filters .count').textContent === '{total}'")
    page.clean()


def test_sorting_orders_rows(browser, tmp_path) -> None:
    page = Page(browser, analyze_html(tmp_path, *fixture_captures()))
    page.page.click('.thead button[data-key="sni"]')
    snis = [r["sni"] for r in page.visible_rows()]
    named = [s for s in snis if s]
    assert named == sorted(named) and snis[:len(named)] == named  # connections without SNI last
    page.page.click('.thead button[data-key="sni"]')
    snis = [r["sni"] for r in page.visible_rows() if r["sni"]]
    assert snis == sorted(snis, reverse=True)
    page.page.click('.thead button[data-key="severity"]')  # worst first
    order = ["critical", "high", "medium", "low", "info", "–"]
    ranks = [order.index(r["severity"].split()[0]) for r in page.visible_rows()]
    assert ranks == sorted(ranks) and ranks[0] < ranks[-1]
    page.clean()


def test_rows_open_from_the_keyboard(browser, tmp_path) -> None:
    page = Page(browser, analyze_html(tmp_path, "tls13-hrr.pcap", "tls12-gap.pcap", "cert-expired.pcap"))
    page.page.focus('.row[data-pos="0"]')
    page.page.keyboard.press("ArrowDown")
    page.page.keyboard.press("ArrowDown")
    page.page.keyboard.press("Enter")
    page.page.wait_for_selector("section.conn:not([aria-busy]) svg.ladder")
    assert page.page.inner_text("section.conn h2").startswith("#0 ") and "expired.test" in page.page.inner_text("section.conn .head")
    page.page.click("section.conn header button")  # close
    assert page.page.locator("section.conn").count() == 0
    page.clean()


def test_hostile_capture_runs_nothing_and_breaks_no_layout(browser, tmp_path) -> None:
    conns = json.loads(json_document(str(CAPTURES / "tls-hostile-html.pcap")))["connections"]
    hostile_summary = {"schema": "tls-analyzer-summary/1", "captures": 1, "connections": 3,
                       "versions": {"</script><!--<script>document.title='pwned'</script>": 2},
                       "servers": [{"sni": "\"><img src=x onerror=alert(4)>", "leaf": "<svg onload=alert(5)>"}],
                       "findings": {"<b onmouseover=alert(6)>": {"severity": "high", "connections": 1}}}
    buf = io.BytesIO()
    html.write_report(buf, [{"file": "<img src=x onerror=alert(7)>.pcap", "frames": 46}], conns, hostile_summary,
                      title="<script>alert(8)</script>")
    path = tmp_path / "hostile.html"
    path.write_bytes(buf.getvalue())
    page = Page(browser, path)
    title = page.page.title()
    assert title == "<script>alert(8)</script>"
    sni = page.page.eval_on_selector_all('.row .cell[data-key="sni"]', "cs => cs.map(c => c.textContent)")
    assert "<script>document.title='pwned'</script>" in sni
    heights = page.page.eval_on_selector_all(".spacer .row", "rs => rs.map(r => r.getBoundingClientRect().height)")
    assert len(heights) == 3 and all(h == ROW_H for h in heights)
    for row in range(3):
        page.open(row)
    page.page.wait_for_timeout(300)  # time for an onerror or onload to fire, were there an element to carry it
    assert page.page.title() == title and page.dialogs == []
    injected = page.page.evaluate("""() => [...document.querySelectorAll('img, svg:not(.ladder), iframe, object, embed, marquee, b')]
        .filter(e => !e.closest('svg.ladder, .legend')).length""")
    assert injected == 0
    assert page.page.locator("script").count() == 4  # rows, details, meta, the report's own
    text = page.page.inner_text("main")
    for s in ("<img src=x onerror=alert(2)>", "><svg onload=alert(3)>", "\\u202e<b>", "<marquee>xxxx",
              "</script><!--<script>document.title='pwned'</script>", "<b onmouseover=alert(6)>"):
        assert s in text
    width = page.page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1]  # long strings wrap or scroll inside their own boxes
    page.clean()


SUMMARY = {  # built by hand after the `tls-analyzer-summary/1` key list (issue 17)
    "schema": "tls-analyzer-summary/1", "captures": 2, "connections": {"total": 9, "complete": 8, "failed": 1},
    "versions": {"TLSv1.3": 4, "TLSv1.2": 5}, "cipher_suites": {"TLS_AES_256_GCM_SHA384": {"count": 4, "share": 0.44}},
    "groups": {"x25519": 6, "secp256r1": 1},
    "pq": {"negotiated": 0, "offered_not_negotiated": 1, "not_offered": 8, "hrr_spent": 0},
    "servers": [{"address": "127.0.0.1:4434", "snis": ["example.test"], "pq": False, "worst": "info"}],
    "clients": [{"ja4": "t13d041000_16476d049b0b_78f1d400d464", "connections": 1, "offers_pq": False}],
    "findings": {"CERT-EXPIRED": {"severity": "high", "connections": 1, "servers": 1},
                 "KX-NO-PQ": {"severity": "info", "connections": 9}},
}


@pytest.mark.parametrize("summary, blocks", [
    (SUMMARY, ["pq", "versions", "cipher_suites", "groups", "findings", "servers", "clients"]),
    ({"pq": {"negotiated": 3}}, ["pq"]),
    ({"versions": [], "servers": "n/a", "future": {"a": 1}}, ["future"]),
])
def test_summary_renders_what_is_present(browser, tmp_path, summary: dict, blocks: list[str]) -> None:
    conns = [c for name in ("tls13-hrr.pcap", "tls12-gap.pcap", "cert-expired.pcap")
             for c in json.loads(json_document(str(CAPTURES / name)))["connections"]]
    buf = io.BytesIO()
    html.write_report(buf, [{"file": "a.pcap"}, {"file": "b.pcap"}], conns, summary)
    path = tmp_path / "summary.html"
    path.write_bytes(buf.getvalue())
    page = Page(browser, path)
    shown = page.page.eval_on_selector_all("section.summary [data-summary]", "bs => bs.map(b => b.dataset.summary)")
    assert shown == blocks  # in the order that leads with the answers, whatever the document's order
    text = page.page.inner_text("section.summary")
    if summary is SUMMARY:
        assert "CERT-EXPIRED" in text and "127.0.0.1:4434" in text and "t13d041000_16476d049b0b_78f1d400d464" in text
        assert "total: 9, complete: 8, failed: 1" in text
        page.page.click('[data-summary="versions"] li:has-text("TLSv1.2")')  # a distribution filters the list
        assert {r["version"] for r in page.visible_rows()} == {"TLSv1.2"}
    page.clean()


def test_dark_scheme_and_print_layout(browser, tmp_path) -> None:
    path = analyze_html(tmp_path, *fixture_captures())
    light = Page(browser, path)
    dark = Page(browser, path, color_scheme="dark")
    background = "getComputedStyle(document.body).backgroundColor"
    assert light.page.evaluate(background) == "rgb(255, 255, 255)"
    assert dark.page.evaluate(background) != light.page.evaluate(background)
    page = light.page
    rows_on_screen = page.locator(".spacer .row").count()
    light.open(0)
    page.emulate_media(media="print")
    page.evaluate("dispatchEvent(new Event('beforeprint'))")
    total = int(light.count().split()[0])
    assert page.locator(".spacer .row").count() == total > rows_on_screen
    assert page.eval_on_selector(".viewport", "v => getComputedStyle(v).overflowY") == "visible"
    assert page.locator(".filters").is_hidden() and page.locator("section.conn .ladder-wrap > svg").is_visible()
    page.evaluate("dispatchEvent(new Event('afterprint'))")
    page.emulate_media(media="screen")
    assert page.locator(".spacer .row").count() < total
    assert page.pdf()[:4] == b"%PDF"
    light.clean()
    dark.clean()


def test_a_long_list_is_virtual(browser, tmp_path) -> None:
    base = json.loads(json_document(str(CAPTURES / "tls12-session-resumption.pcap")))["connections"]
    conns = ({**base[i % len(base)], "id": i, "sni": f"host{i:05d}.test"} for i in range(3000))
    path = tmp_path / "long.html"
    with open(path, "wb") as fh:
        html.write_report(fh, [{"file": "long.pcap"}], conns)
    page = Page(browser, path)
    assert page.count() == "3000 connections"
    assert page.page.locator(".spacer .row").count() < 100
    page.page.eval_on_selector(".viewport", "v => { v.scrollTop = v.scrollHeight; }")
    page.wait("() => [...document.querySelectorAll('.spacer .row .cell[data-key=\"sni\"]')]"
              ".some(c => c.textContent === 'host02999.test')")
    page.open(2999)
    assert "host02999.test" in page.page.inner_text("section#c2999 .head")
    page.clean()


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_readme_screenshot(browser, tmp_path) -> None:
    path = analyze_html(tmp_path, "tls13-hrr.pcap", "tls12-gap.pcap", "cert-expired.pcap", "tls13-0rtt.pcap",
                        "tls-fatal-alert.pcap", "weak-rc4.pcap", "tls12-mtls.pcap")
    page = Page(browser, path)
    page.page.set_viewport_size(SNAPSHOT_SIZE)
    page.open(0)
    page.page.evaluate("window.scrollTo(0, 0)")
    shot = page.page.screenshot(full_page=False)
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_bytes(shot)
    assert SNAPSHOT.exists(), "run UPDATE_SNAPSHOTS=1 python3 -m pytest tests/test_html_browser.py"
    size = (SNAPSHOT_SIZE["width"], SNAPSHOT_SIZE["height"])
    assert _png_size(SNAPSHOT.read_bytes()) == _png_size(shot) == size
    page.clean()
