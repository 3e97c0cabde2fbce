#!/usr/bin/env python3
"""Growth benchmark: does doubling a hostile input at most double the time, and keep memory flat?

    python3 bench/growth.py [--cmd "python3 cli.py"] [--runs 3] [--scale 1] [--only NAME ...]
    python3 bench/growth.py --idle [--connections 20000]

For every input shape issue 23 lists (built by tests/hostile_inputs.py, the generators the tests
use), captures of n, 2n and 4n units are written to bench/out/growth/ and each is analysed with
`CMD analyze FILE --format json --jobs 1` (stdout to /dev/null; one process, so that the larger
sizes are not split between cores where the smaller are not), `--runs` times; the best wall-clock time
and the peak RSS of that process (GNU time's %M) are kept. A run's cost includes starting Python, so
the ratio is taken over the time above that of an empty capture: `ratio` = (t(2n) - t0) / (t(n) - t0),
and on the 4n row `per 2x` = sqrt((t(4n) - t0) / (t(n) - t0)), the doubling ratio over the whole
range (less noisy on a shared machine). Linear: about 2.0; the issue's bar is 2.2. Memory: peak RSS
should stay about flat (caps).

`--idle` measures instead the memory one idle connection holds (tracemalloc, in this process: the
Python objects the pipeline keeps for it, after a minute of capture time without a packet), for
a connection that only sent a SYN and for one whose ClientHello was decoded.

A benchmark, not a test: the exit status is 0 whatever it measures; `--timeout` bounds one run
(a run that hits it prints `>T`, as the shapes did before the fixes).
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, "out", "growth")
sys.path.insert(0, os.path.join(ROOT, "tests"))
import hostile_inputs as H  # noqa: E402

# name -> (issue item, what one unit is, the unit count n of the smallest size, frames for n units)
SHAPES: dict[str, tuple[str, str, int, Callable[[int], Iterable[tuple[float, bytes]]]]] = {
    "reversed-segments": ("23.6", "1-byte segment, last first", 160_000, H.reversed_segments),
    "shuffled-segments": ("23.6", "1-byte segment, any order", 200_000, lambda n: H.reversed_segments(n, shuffle=1)),
    "fragments-hole": ("23.7", "8-byte IPv4 fragment, the first missing", 32 * 8191,
                       lambda n: H.fragments_with_hole(8191, datagrams=n // 8191)),
    "certificates": ("23.8", "certificate, 100,000 in each message", 1_600_000,
                     lambda n: H.certificate_flood(100_000, connections=n // 100_000)),
    "zero-flood": ("23.9", "byte of zeros (HelloRequests)", 2_600_000, H.zero_flood),
    "ccs-flood": ("23.9", "ChangeCipherSpec record", 800_000, H.ccs_flood),
    "syn-flood": ("23.11", "SYN", 125_000, lambda n: list(H.syn_flood(n))),
    "syn-hello-flood": ("23.11", "SYN + ClientHello", 62_500, lambda n: list(H.syn_flood(n, hello=True))),
}


def write(name: str, n: int) -> str:
    path = os.path.join(OUT, f"{name}-{n}.pcap")
    if not os.path.exists(path):
        frames = SHAPES[name][3](n)
        with open(path + ".tmp", "wb") as fh:
            fh.write(H.pcap(frames))
        os.replace(path + ".tmp", path)
    return path


def run(cmd: list[str], path: str, timeout: float) -> tuple[float | None, float]:
    """(seconds, or None past the timeout; peak RSS in MiB) of one analysis. The peak is GNU time's
    %M: a child forked straight from this process would count this process's pages, held before
    its exec, as its own peak (Linux keeps the pre-exec high-water mark)."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss, open(os.devnull, "wb") as null:
        start = time.monotonic()
        try:
            subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss.name, *cmd, "analyze", path, "--format", "json",
                            "--jobs", "1"],
                           stdout=null, stderr=null, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None, 0.0
        seconds = time.monotonic() - start
        return seconds, int(rss.read().split()[-1]) / 1024


def best(cmd: list[str], path: str, runs: int, timeout: float) -> tuple[float | None, float]:
    times, peak = [], 0.0
    for _ in range(runs):
        t, rss = run(cmd, path, timeout)
        peak = max(peak, rss)
        if t is None:
            return None, peak
        times.append(t)
    return min(times), peak


def idle_bytes(n: int, hello: bool) -> float:
    """Bytes of Python memory one idle connection holds: n connections opened (a SYN, and a ClientHello
    when `hello`), then a minute of capture time without a packet, measured before any is reported."""
    import gc
    import tracemalloc

    sys.path.insert(0, ROOT)
    from analyzer.pipeline import Pipeline
    from analyzer.sources.pcap import TICK, Frame

    frames = [Frame(i + 1, ts, 1, data) for i, (ts, data) in enumerate(H.syn_flood(n, hello))]
    held: list[int] = []

    def source() -> Iterable[Frame]:
        yield from frames
        yield Frame(len(frames) + 1, frames[-1].ts + 60, TICK, b"")  # a live source's clock tick
        held.append(tracemalloc.get_traced_memory()[0])

    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for _ in Pipeline().run(source()):
            pass
    finally:
        tracemalloc.stop()
    return (held[0] - base) / n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cmd", default=f"{sys.executable} {os.path.join(ROOT, 'cli.py')}", help="our CLI")
    ap.add_argument("--runs", type=int, default=3, help="runs per size; the fastest counts (default 3)")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every size (default 1)")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds one run may take (default 300)")
    ap.add_argument("--only", nargs="*", choices=sorted(SHAPES), help="shapes to measure (default all)")
    ap.add_argument("--idle", action="store_true", help="measure the memory of an idle connection instead")
    ap.add_argument("--connections", type=int, default=20_000, help="connections for --idle (default 20000)")
    args = ap.parse_args()
    if args.idle:
        for hello, what in ((False, "a SYN only"), (True, "a SYN and a decoded ClientHello")):
            print(f"idle connection, {what}: {idle_bytes(args.connections, hello):.0f} bytes "
                  f"({args.connections} connections)")
        return 0
    cmd = shlex.split(args.cmd)
    os.makedirs(OUT, exist_ok=True)
    empty = os.path.join(OUT, "empty.pcap")
    with open(empty, "wb") as fh:
        fh.write(H.pcap_header())
    t0, rss0 = best(cmd, empty, args.runs, args.timeout)
    assert t0 is not None
    print(f"cmd: {args.cmd}\nstart-up (empty capture): {t0:.2f} s, {rss0:.0f} MiB\n")
    print(f"{'shape':20} {'issue':6} {'units':>9} {'MiB in':>7} {'seconds':>8} {'ratio':>6} {'per 2x':>6} "
          f"{'RSS MiB':>8}  unit")
    for name in args.only or SHAPES:
        item, unit, n0, _ = SHAPES[name]
        prev = first = None
        for k in (1, 2, 4):
            n = int(n0 * args.scale) * k
            if name == "fragments-hole":
                n = max(1, n // 8191) * 8191
            elif name == "certificates":
                n = max(1, n // 100_000) * 100_000
            path = write(name, n)
            t, rss = best(cmd, path, args.runs, args.timeout)
            above = None if t is None else max(t - t0, 1e-3)
            ratio = f"{above / prev:.2f}" if above is not None and prev is not None else "-"
            first = above if k == 1 else first
            overall = f"{(above / first) ** 0.5:.2f}" if k == 4 and above is not None and first else "-"
            shown = f">{args.timeout:.0f}" if t is None else f"{t:.2f}"
            rss_shown = "-" if t is None else f"{rss:.0f}"
            print(f"{name:20} {item:6} {n:>9} {os.path.getsize(path) / 2**20:>7.1f} {shown:>8} {ratio:>6} "
                  f"{overall:>6} {rss_shown:>8}  {unit}", flush=True)
            prev = above
            if t is None:
                break
    return 0


if __name__ == "__main__":
    sys.exit(main())
