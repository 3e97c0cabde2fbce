#!/usr/bin/env python3
"""Throughput and memory benchmark: tls-analyzer against tshark on one large capture.

    python3 bench/run.py [--big PATH] [--runs 3] [--cmd "tls-analyzer"] [--packets 200000]

Without --big, bench/out/big.pcap is generated from the seed captures (captures/tls13.pcap and
captures/tls12-ecdhe.pcap) with bench/make_big_capture.py. The commands below are then timed in
turns (tshark, ours --depth tcp, ours full; repeated --runs times) and each is run once more
under /usr/bin/time for its peak RSS; a capture half as long is measured the same way, to show
that memory does not grow with the capture's length. See bench/README.md.

It is a benchmark, not a test: the exit status is always 0.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, "out")
DEFAULT_SEEDS = [os.path.join(ROOT, "captures", "tls13.pcap"),
                 os.path.join(ROOT, "captures", "tls12-ecdhe.pcap")]

sys.path.insert(0, HERE)
import make_big_capture as mbc  # noqa: E402
import pcap_files  # noqa: E402


def log(msg: str = "") -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------- seeds


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_fallback_seeds(tmp: str) -> list[str]:
    """Record two small TLS captures (1.3 and 1.2 ECDHE) with openssl and tcpdump on lo."""
    for tool in ("openssl", "tcpdump"):
        if not shutil.which(tool):
            raise RuntimeError(f"{tool} not found")
    key, cert = os.path.join(tmp, "key.pem"), os.path.join(tmp, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "30", "-subj", "/CN=localhost"], check=True, capture_output=True)
    seeds = []
    for name, cargs in (("tls13", ["-tls1_3"]),
                        ("tls12-ecdhe", ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"])):
        port = _free_port()
        pcap = os.path.join(tmp, name + ".pcap")
        srv = subprocess.Popen(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert",
                                cert, "-key", key, "-www", "-quiet"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        dump = subprocess.Popen(["tcpdump", "-i", "lo", "-U", "-w", pcap, f"tcp port {port}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(1.5)
            for _ in range(2):
                subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}",
                                "-ign_eof", *cargs], input=b"GET / HTTP/1.0\r\n\r\n",
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10)
            time.sleep(1)
        finally:
            dump.send_signal(signal.SIGINT)
            dump.wait(timeout=10)
            srv.terminate()
            srv.wait(timeout=10)
        if not os.path.exists(pcap) or os.path.getsize(pcap) <= 24:
            raise RuntimeError(f"tcpdump recorded nothing for {name}")
        seeds.append(pcap)
    return seeds


# --------------------------------------------------------------------------- running


class Cmd:
    def __init__(self, name: str, argv: list[str], ours: bool):
        self.name, self.argv, self.ours = name, argv, ours
        self.available = shutil.which(argv[0]) is not None
        self.failed: str | None = None
        self.times: list[float] = []
        self.rss: dict[str, float | None] = {}


def run_timed(argv: list[str], timeout: float) -> tuple[float, int, str]:
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        try:
            rc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=err, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            rc = -999
        dt = time.perf_counter() - t0
        err.seek(0)
        tail = err.read()[-2000:].decode(errors="replace")
    return dt, rc, tail


def run_rss(argv: list[str], timeout: float) -> tuple[float | None, int, str]:
    """Peak RSS in MiB of one run, from /usr/bin/time -f %M (os.wait4 if it is missing)."""
    gnu_time = "/usr/bin/time"
    with tempfile.TemporaryDirectory() as tmp:
        errf = os.path.join(tmp, "err")
        if os.access(gnu_time, os.X_OK):
            memf = os.path.join(tmp, "mem")
            with open(errf, "wb") as err:
                try:
                    rc = subprocess.run([gnu_time, "-f", "%M", "-o", memf, *argv],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=err, timeout=timeout).returncode
                except subprocess.TimeoutExpired:
                    rc = -999
            try:
                with open(memf) as f:
                    kib = int(f.read().strip().splitlines()[-1])
                mib = kib / 1024
            except (OSError, ValueError, IndexError):
                mib = None
        else:
            with open(errf, "wb") as err:
                p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=err)
                _, status, ru = os.wait4(p.pid, 0)
                p.returncode = rc = os.waitstatus_to_exitcode(status)
            mib = ru.ru_maxrss / 1024
        with open(errf, "rb") as f:
            tail = f.read()[-2000:].decode(errors="replace")
    return mib, rc, tail


def check_rc(c: Cmd, rc: int, tail: str) -> bool:
    """True if the run counts. tshark must exit 0; ours may exit 0 or 1 (findings)."""
    ok = rc == 0 or (c.ours and rc == 1)
    if ok:
        return True
    what = "timed out" if rc == -999 else f"exit {rc}"
    c.failed = what
    log(f"  !! {c.name} FAILED ({what}); stderr tail:")
    for line in tail.strip().splitlines()[-15:]:
        log(f"     | {line}")
    return False


def fmt(x: float | None, spec: str = ".2f") -> str:
    return "-" if x is None else format(x, spec)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--big", help="capture to use (default: generate bench/out/big.pcap)")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per command (default 3)")
    ap.add_argument("--cmd", default="tls-analyzer", help='our CLI (default "tls-analyzer")')
    ap.add_argument("--packets", type=int, default=200_000, help="size of the generated capture")
    ap.add_argument("--seeds", nargs="+", default=DEFAULT_SEEDS, help="seed captures")
    ap.add_argument("--seed", type=int, default=1, help="random seed of the generator")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per run")
    ap.add_argument("--no-memcheck", action="store_true", help="skip the half-length capture")
    a = ap.parse_args(argv)

    log("== machine")
    aff = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    log(f"cpu count: {os.cpu_count()} (usable: {aff})   python: {sys.version.split()[0]} "
        f"({platform.python_implementation()})   {platform.platform()}")
    tshark = shutil.which("tshark")
    if tshark:
        v = subprocess.run([tshark, "--version"], capture_output=True, text=True).stdout
        log(f"tshark: {v.splitlines()[0] if v else '?'}")
    else:
        log("tshark: not available")
    try:  # --version says whether the hot path runs compiled
        version = subprocess.run(shlex.split(a.cmd) + ["--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        version = ""
    log(f"ours: {version or 'not available'}")

    os.makedirs(OUT, exist_ok=True)
    tmpdirs: list[str] = []
    half = None
    try:
        # ---------------------------------------------------------------- capture
        log("\n== capture")
        if a.big:
            big = a.big
            if not os.path.exists(big):
                log(f"{big}: no such file")
                return 0
            log(f"using {big}")
        else:
            seeds = [s for s in a.seeds if os.path.exists(s)]
            if len(seeds) < len(a.seeds):
                log("seed captures missing: "
                    + ", ".join(os.path.relpath(s, ROOT) for s in a.seeds if s not in seeds))
            if not seeds:
                tmp = tempfile.mkdtemp(prefix="tls-bench-seeds-")
                tmpdirs.append(tmp)
                log(f"recording fallback seeds with openssl + tcpdump in {tmp} ...")
                try:
                    seeds = make_fallback_seeds(tmp)
                except Exception as e:  # noqa: BLE001 - report and stop, exit 0
                    log(f"could not record seeds: {e}")
                    return 0
            log("seeds: " + ", ".join(seeds))
            big = os.path.join(OUT, "big.pcap")
            st = mbc.generate(seeds, big, a.packets, a.seed, quiet=True)
            log(f"generated {big} in {st['seconds']:.2f} s ({st['templates']} seed connections)")
            if not a.no_memcheck:
                half = os.path.join(OUT, "half.pcap")
                mbc.generate(seeds, half, a.packets // 2, a.seed, quiet=True)
        info = pcap_files.scan_capture(big)
        size = os.path.getsize(big)
        log(f"big capture: {info['packets']} packets, {info['connections']} TCP connections "
            f"({info['syns']} SYNs), {size / 2**20:.1f} MiB, server ports "
            f"{info['server_ports'][:20]}")
        if half is None and not a.no_memcheck:
            half = os.path.join(OUT, "half.pcap")
            pcap_files.truncate_capture(big, half, info["packets"] // 2)
        if half:
            hinfo = pcap_files.scan_capture(half)
            log(f"half capture: {half}: {hinfo['packets']} packets, "
                f"{hinfo['connections']} TCP connections, "
                f"{os.path.getsize(half) / 2**20:.1f} MiB")

        # ---------------------------------------------------------------- commands
        ports = [p for p in info["server_ports"] if p != 443][:50]
        decode_as = [x for p in ports for x in ("-d", f"tcp.port=={p},tls")]
        ours = shlex.split(a.cmd)

        def commands(path: str) -> list[Cmd]:
            return [
                Cmd("tshark", ["tshark", "-n", "-r", path, *decode_as, "-Y",
                               "tls.handshake.type", "-T", "fields", "-e", "frame.number",
                               "-e", "tls.handshake.type"], ours=False),
                Cmd("ours --depth tcp", [*ours, "analyze", path, "--depth", "tcp",
                                         "--format", "json"], ours=True),
                Cmd("ours full", [*ours, "analyze", path, "--format", "json"], ours=True),
            ]

        cmds = commands(big)
        log("\n== commands (stdout to /dev/null)")
        for c in cmds:
            log(f"{c.name:17} {shlex.join(c.argv)}")
            if not c.available:
                log(f"{'':17} -> {'ours' if c.ours else c.name}: not available "
                    f"({c.argv[0]} not found)")

        # warm the page cache so that the first timed run does not pay for the disk
        with open(big, "rb") as f:
            while f.read(1 << 24):
                pass

        # ---------------------------------------------------------------- timing
        log(f"\n== timing: {a.runs} runs, in turns")
        for i in range(a.runs):
            for c in cmds:
                if not c.available or c.failed:
                    continue
                dt, rc, tail = run_timed(c.argv, a.timeout)
                if check_rc(c, rc, tail):
                    c.times.append(dt)
                    log(f"  run {i + 1}: {c.name:17} {dt:8.2f} s   (exit {rc})")

        # ---------------------------------------------------------------- memory
        log("\n== peak RSS (separate runs under /usr/bin/time -f %M)")
        sets = [("big", cmds)]
        if half:
            hcmds = commands(half)
            for hc, c in zip(hcmds, cmds):
                hc.failed = c.failed
            sets.append(("half", hcmds))
        for label, cs in sets:
            for c, main_c in zip(cs, cmds):
                if not c.available or c.failed:
                    continue
                mib, rc, tail = run_rss(c.argv, a.timeout)
                if check_rc(main_c, rc, tail):
                    main_c.rss[label] = mib
                    log(f"  {label:4}: {c.name:17} {fmt(mib, '.1f')} MiB")

        # ---------------------------------------------------------------- table
        log("\n== results")
        log(f"capture: {big}  {info['packets']} packets, {info['connections']} connections, "
            f"{size / 2**20:.1f} MiB")
        ts_med = statistics.median(cmds[0].times) if cmds[0].times else None
        head = (f"{'command':17} {'median s':>9} {'min s':>8} {'kpkt/s':>8} "
                f"{'tshark/ours':>11} {'RSS MiB':>8} {'RSS half':>9}")
        log(head)
        log("-" * len(head))
        for c in cmds:
            if not c.available:
                log(f"{c.name:17} {'ours: not available' if c.ours else 'not available'}")
                continue
            if c.failed and not c.times:
                log(f"{c.name:17} FAILED ({c.failed})")
                continue
            med = statistics.median(c.times) if c.times else None
            mn = min(c.times) if c.times else None
            rate = info["packets"] / med / 1000 if med else None
            ratio = ts_med / med if (c.ours and med and ts_med) else None
            log(f"{c.name:17} {fmt(med):>9} {fmt(mn):>8} {fmt(rate, '.0f'):>8} "
                f"{(fmt(ratio) + 'x') if ratio else '-':>11} {fmt(c.rss.get('big'), '.1f'):>8} "
                f"{fmt(c.rss.get('half'), '.1f'):>9}"
                + (f"   FAILED ({c.failed})" if c.failed else ""))
        log("tshark/ours > 1 means ours is faster. RSS half = the same command on a capture "
            "half as long:\nif memory does not grow with the capture's length, RSS and RSS half "
            "are about equal (growth ~1.0x).")
        for c in cmds:
            big_rss, half_rss = c.rss.get("big"), c.rss.get("half")
            if big_rss and half_rss:
                log(f"  RSS growth, 2x packets: {c.name:17} {big_rss / half_rss:.2f}x")
        if any(c.ours and c.failed for c in cmds):
            log("NOTE: ours FAILED (see the stderr tails above)")
    finally:
        for d in tmpdirs:
            shutil.rmtree(d, ignore_errors=True)
    return 0


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
    except Exception as e:  # noqa: BLE001 - a benchmark reports, it does not fail
        import traceback

        traceback.print_exc()
        print(f"benchmark error: {e}", file=sys.stderr)
    sys.exit(0)
