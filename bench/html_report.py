#!/usr/bin/env python3
"""Size and load time of the HTML report of the big capture, in headless Chromium.

    python3 bench/html_report.py [--big PATH] [--runs 5] [--cmd "python3 cli.py"] [--no-raw]

Writes `analyze BIG --format html` to bench/out/big.html (timed beside `--format json`, in turns),
then opens it --runs times in Debian's headless chromium (through playwright, as the tests do) and
reports: the file's size and what it is made of, the time until the list is interactive (the page's
own mark, milliseconds since navigation start: the file read and parsed, the rows inflated, the
list drawn), the JS heap and DOM size then, and how long opening one connection's section takes
(inflate its chunk, draw its ladder). Unless --no-raw, the same report written without compression
(`write_report(..., compress=False)`) is measured too, to show what compression buys.

A benchmark, not a test: it always exits 0 and says what it could not do.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, "out")
SEEDS = [os.path.join(ROOT, "captures", "tls13.pcap"), os.path.join(ROOT, "captures", "tls12-ecdhe.pcap")]

sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, ROOT)
import headless  # noqa: E402
import make_big_capture as mbc  # noqa: E402


def log(msg: str = "") -> None:
    print(msg, flush=True)


def timed(argv: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def parts(path: str) -> dict[str, int]:
    """Bytes of each kind of block in a report."""
    page = open(path, encoding="utf-8").read()
    sizes = {"rows": 0, "details": 0, "meta": 0}
    for kind, body in re.findall(r'<script type="[^"]+" (?:class="tls-(\w+)"[^>]*|id="tls-meta")>(.*?)</script>', page, re.S):
        sizes[kind or "meta"] += len(body)
    sizes["page (HTML, CSS, JS)"] = len(page.encode()) - sum(sizes.values())
    return sizes


OPEN = """row => new Promise(done => {  // ms from the request to the section drawn, measured in the page
    const t0 = performance.now();
    const drawn = () => document.querySelector(`section#c${row}:not([aria-busy]) svg.ladder`);
    new MutationObserver((_, observer) => {
        if (drawn()) { observer.disconnect(); done(performance.now() - t0); }
    }).observe(document.body, {subtree: true, childList: true, attributes: true});
    location.hash = "#c" + row;
})"""


def browse(path: str, runs: int, conns: int) -> dict[str, list[float]]:
    got: dict[str, list[float]] = {"ready": [], "open": [], "heap": [], "nodes": []}
    with headless.chromium() as context:
        for i in range(runs):
            page = context.new_page()
            page.goto("file://" + path)
            page.wait_for_selector("html[data-ready]", timeout=120_000)
            got["ready"].append(float(page.evaluate("+document.documentElement.dataset.ready")))
            got["heap"].append(page.evaluate("performance.memory ? performance.memory.usedJSHeapSize : 0") / 2**20)
            got["nodes"].append(page.evaluate("document.getElementsByTagName('*').length"))
            row = (conns * (i + 1)) // (runs + 1)  # a different chunk each run
            got["open"].append(page.evaluate(OPEN, row))
            page.close()
    return got


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--big", help="capture (default: bench/out/big.pcap, generated when missing)")
    ap.add_argument("--runs", type=int, default=5, help="page loads (and timed report writes: half as many)")
    ap.add_argument("--cmd", default=f"{shlex.quote(sys.executable)} {shlex.quote(os.path.join(ROOT, 'cli.py'))}",
                    help="our CLI (default: this tree's cli.py)")
    ap.add_argument("--no-raw", action="store_true", help="skip the uncompressed variant")
    a = ap.parse_args(argv)
    why = headless.missing()
    if why:
        log(f"cannot measure load times: {why}")
        return 0
    os.makedirs(OUT, exist_ok=True)
    big = a.big or os.path.join(OUT, "big.pcap")
    if not os.path.exists(big):
        if a.big:
            log(f"{big}: no such file")
            return 0
        st = mbc.generate(SEEDS, big, 200_000, 1, quiet=True)
        log(f"generated {big} in {st['seconds']:.2f} s")
    cmd = shlex.split(a.cmd)
    version = subprocess.run([*cmd, "--version"], capture_output=True, text=True).stdout.strip()
    chromium = subprocess.run([headless.CHROMIUM, "--version"], capture_output=True, text=True).stdout.strip()
    log(f"{version}; {chromium}; {os.cpu_count()} CPUs")
    report = os.path.join(OUT, "big.html")
    writes: dict[str, list[float]] = {"json": [], "html": []}
    for _ in range(max(1, a.runs // 2)):
        writes["json"].append(timed([*cmd, "analyze", big, "--format", "json", "--jobs", "1", "-o", os.devnull]))
        writes["html"].append(timed([*cmd, "analyze", big, "--format", "html", "-o", report]))
    conns = int(re.search(rb'"connections":(\d+)', open(report, "rb").read()[-200_000:]).group(1))
    log(f"capture: {big}  {os.path.getsize(big) / 2**20:.1f} MiB, {conns} connections")
    log(f"write (median of {len(writes['html'])}): --format json {statistics.median(writes['json']):.2f} s, "
        f"--format html {statistics.median(writes['html']):.2f} s (--jobs 1: the report is written by one process)")
    variants = [("deflate (default)", report)]
    if not a.no_raw:
        import orjson

        from analyzer.render import html

        raw = os.path.join(OUT, "big-raw.html")
        doc = orjson.loads(subprocess.run([*cmd, "analyze", big, "--format", "json"], capture_output=True, check=True).stdout)
        with open(raw, "wb") as fh:
            html.write_report(fh, [doc["capture"]], doc["connections"], compress=False)
        variants.append(("uncompressed JSON", raw))
    log(f"{'report':20} {'MiB':>7} {'rows MiB':>9} {'details MiB':>12} {'ready ms':>9} {'min':>6} "
        f"{'open ms':>8} {'heap MiB':>9} {'DOM nodes':>10}")
    for name, path in variants:
        size = os.path.getsize(path) / 2**20
        p = parts(path)
        got = browse(path, a.runs, conns)
        log(f"{name:20} {size:7.2f} {p['rows'] / 2**20:9.2f} {p['details'] / 2**20:12.2f} "
            f"{statistics.median(got['ready']):9.0f} {min(got['ready']):6.0f} {statistics.median(got['open']):8.0f} "
            f"{statistics.median(got['heap']):9.1f} {statistics.median(got['nodes']):10.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
