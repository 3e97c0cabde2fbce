#!/usr/bin/env python3
"""Throughput of `tls-analyzer batch` over a folder of many captures, by number of workers.

    python3 bench/batch_scale.py [--files 200] [--packets 200000] [--runs 3] [--cmd "python3 cli.py"]

The folder: bench/out/big.pcap (made by make_big_capture.py from the fixtures when missing) cut
into --files captures of equal packet counts with `editcap -c`, as `tcpdump -C` or a dumpcap ring
buffer would leave them (connections that straddle a cut are split across two files, as they
would be). Then, in turns, --runs times each, wall-clock seconds of the whole command (start-up of
the pool or the client included), each into a fresh output folder:

  analyze, one process    tls-analyzer analyze FILES... --format json > /dev/null   (the baseline)
  batch, 1 local worker   tls-analyzer batch DIR --out OUT --workers 1
  batch, 2 local workers  tls-analyzer batch DIR --out OUT --workers 2
  batch, scheduler + 2    a `dask scheduler` and two `dask worker` processes (one thread each) on
                          127.0.0.1, ports 20010-20030; tls-analyzer batch DIR --out OUT --scheduler tcp://...

and prints captures/s and packets/s from the medians. It is a benchmark, not a test: exit status 0.
"""

from __future__ import annotations

import argparse
import glob
import os
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, "out")
SEEDS = [os.path.join(ROOT, "captures", "tls13.pcap"), os.path.join(ROOT, "captures", "tls12-ecdhe.pcap")]
SCHEDULER_PORT = 20010  # this bench's own ports (workers and nannies: 20011-20030)


def log(msg: str = "") -> None:
    print(msg, flush=True)


def make_folder(files: int, packets: int) -> tuple[str, int]:
    """bench/out/split-FILES/ holding the big capture cut into `files` captures; returns it and the packets."""
    big = os.path.join(OUT, "big.pcap")
    if not os.path.exists(big):
        os.makedirs(OUT, exist_ok=True)
        subprocess.run([sys.executable, os.path.join(HERE, "make_big_capture.py"), *SEEDS, "-o", big,
                        "--packets", str(packets)], check=True)
    total = int(subprocess.run(["capinfos", "-M", "-c", "-T", "-r", big], capture_output=True, text=True,
                               check=True).stdout.split()[-1])
    folder = os.path.join(OUT, f"split-{files}")
    if len(glob.glob(os.path.join(folder, "*.pcap"))) != files:
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        per = -(-total // files)
        subprocess.run(["editcap", "-c", str(per), big, os.path.join(folder, "part.pcap")], check=True)
    made = len(glob.glob(os.path.join(folder, "*.pcap")))
    if made != files:
        log(f"note: editcap made {made} files (packets per file rounded up)")
    return folder, total


class Cluster:
    """A dask scheduler and two single-threaded workers on 127.0.0.1, stopped on exit."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []
        self.address = f"tcp://127.0.0.1:{SCHEDULER_PORT}"

    def __enter__(self) -> str:
        env = {**os.environ, "PYTHONPATH": ROOT, "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False"}
        self.procs.append(subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port",
             str(SCHEDULER_PORT), "--no-dashboard"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True))
        for n in (0, 1):
            self.procs.append(subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", self.address, "--nworkers", "1",
                 "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1", "--death-timeout", "60",
                 "--worker-port", str(20011 + n), "--nanny-port", str(20021 + n)],
                env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        from distributed import Client

        with Client(self.address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
        return self.address

    def cpu(self) -> float:
        """CPU seconds the scheduler and workers (and the processes they started) have used."""
        import psutil

        total = 0.0
        for proc in self.procs:
            try:
                for p in [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]:
                    t = p.cpu_times()
                    total += t.user + t.system
            except psutil.NoSuchProcess:
                continue
        return total

    def __exit__(self, *exc: object) -> None:
        for proc in reversed(self.procs):
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def timed(argv: list[str], cluster: Cluster) -> tuple[float, float, str]:
    """Wall-clock seconds, CPU seconds (the command, the processes it started, and the cluster's)
    and the last line of its stderr."""
    children, cluster_cpu = resource.getrusage(resource.RUSAGE_CHILDREN), cluster.cpu()
    started = time.monotonic()
    p = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    elapsed = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime + cluster.cpu() - cluster_cpu
    if p.returncode != 0:
        log(f"FAILED (exit {p.returncode}): {shlex.join(argv)}\n{p.stderr[-2000:]}")
    return elapsed, cpu, (p.stderr.strip().splitlines() or [""])[-1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--packets", type=int, default=200_000, help="of the big capture, when it is generated")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cmd", default=f"{sys.executable} cli.py", help="how to start our CLI")
    args = ap.parse_args(argv)
    cmd = shlex.split(args.cmd)

    folder, packets = make_folder(args.files, args.packets)
    files = sorted(glob.glob(os.path.join(folder, "*.pcap")))
    version = subprocess.run([*cmd, "--version"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    log(f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, {version}")
    log(f"folder: {folder}  {len(files)} captures, {packets} packets, "
        f"{sum(os.path.getsize(f) for f in files) / 2**20:.1f} MiB")

    scratch = tempfile.mkdtemp(prefix="batch-bench-")
    times: dict[str, list[float]] = {}
    cpus: dict[str, list[float]] = {}
    last: dict[str, str] = {}
    loads = []
    try:
        with (cluster := Cluster()) as address:
            cases = {
                "analyze, one process": [*cmd, "analyze", *files, "--format", "json", "--jobs", "1"],
                "batch, 1 local worker": [*cmd, "batch", folder, "--workers", "1"],
                "batch, 2 local workers": [*cmd, "batch", folder, "--workers", "2"],
                "batch, scheduler + 2 workers": [*cmd, "batch", folder, "--scheduler", address],
            }
            for run in range(args.runs):
                for name, argv in cases.items():
                    if argv[len(cmd)] == "batch":
                        out = os.path.join(scratch, f"out-{run}-{len(times.get(name, []))}-{name.split(',')[1].strip()}")
                        argv = [*argv, "--out", out.replace(" ", "_")]
                    elapsed, cpu, last[name] = timed(argv, cluster)
                    times.setdefault(name, []).append(elapsed)
                    cpus.setdefault(name, []).append(cpu)
                    loads.append(os.getloadavg()[0])
                    log(f"  run {run + 1}: {name:30} {elapsed:7.2f} s wall, {cpu:7.2f} s CPU, "
                        f"load {loads[-1]:.1f}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    log()
    log(f"load average during the runs: {min(loads):.1f} to {max(loads):.1f} on {os.cpu_count()} CPUs "
        "(above the CPU count, others' work competes for the cores: compare CPU seconds)")
    log(f"{'command':30} {'median s':>9} {'min s':>7} {'captures/s':>11} {'packets/s':>10} {'speed-up':>9} "
        f"{'CPU s':>7} {'packets/CPU s':>14}")
    base = statistics.median(times["batch, 1 local worker"])
    for name, ts in times.items():
        med, cpu = statistics.median(ts), statistics.median(cpus[name])
        log(f"{name:30} {med:9.2f} {min(ts):7.2f} {len(files) / med:11.1f} {packets / med:10,.0f} {base / med:8.2f}x "
            f"{cpu:7.2f} {packets / cpu:14,.0f}")
    log()
    for name, line in last.items():
        log(f"{name}: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
