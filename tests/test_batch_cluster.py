"""`batch --scheduler` against a real Dask cluster: a `dask scheduler` and two `dask worker`
processes on 127.0.0.1 (ports chosen by the OS), stopped at the end whatever happens.

The worker-killed case is deterministic: one input is a named pipe, so the task reading it
blocks until the test writes. The test finds the worker process that opened the pipe, kills it
with SIGKILL while its task runs, then serves the capture's bytes to whichever worker retries
it; the batch must finish with every capture, that one included.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

pytest.importorskip("distributed", reason="the batch extra is not installed (pip install '.[batch]')")

from batch_helpers import analyze_documents, rows  # noqa: E402
from conftest import CAPTURES, ROOT  # noqa: E402

START_TIMEOUT = 60.0


def _start(args: list[str], log: Path, pythonpath: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": pythonpath}  # the analyzer the workers import (-m puts the cwd first: not ROOT)
    return subprocess.Popen([sys.executable, "-m", "distributed.cli." + args[0], *args[1:]], cwd=log.parent, env=env,
                            stdout=subprocess.DEVNULL, stderr=open(log, "wb"), start_new_session=True)  # noqa: SIM115


def _stop(proc: subprocess.Popen) -> None:
    """The process and everything it started (its own session), politely, then not."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def dask_cluster(tmp_path: Path, workers: int = 2, pythonpath: str = str(ROOT)) -> Iterator[str]:
    """A scheduler and single-threaded workers on 127.0.0.1; yields the scheduler's address."""
    info = tmp_path / "scheduler.json"
    procs = [_start(["dask_scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                     "--scheduler-file", str(info)], tmp_path / "scheduler.log", pythonpath)]
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not info.exists() or not info.read_text().strip():
            assert time.monotonic() < deadline and procs[0].poll() is None, (tmp_path / "scheduler.log").read_text()
            time.sleep(0.1)
        address = json.loads(info.read_text())["address"]
        for n in range(1, workers + 1):
            procs.append(_start(["dask_worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard",
                                 "--host", "127.0.0.1", "--name", f"w{n}", "--death-timeout", "60"],
                                tmp_path / f"worker{n}.log", pythonpath))
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(workers, timeout=START_TIMEOUT)
        yield address
    finally:
        for proc in reversed(procs):
            _stop(proc)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[str]:
    with dask_cluster(tmp_path) as address:
        yield address


def _batch(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "batch", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


CAPTURE_NAMES = ("tls13.pcap", "tls12-ecdhe.pcap", "tls12-mtls.pcap", "tls12-session-resumption.pcap",
                 "tls13-hrr.pcap", "weak-rc4.pcap")


def test_batch_on_a_scheduler_with_two_workers(cluster: str, tmp_path: Path) -> None:
    paths = [str(CAPTURES / name) for name in CAPTURE_NAMES]
    out = tmp_path / "ds"
    p = _batch(*paths, "--out", str(out), "--scheduler", cluster)
    stdout, stderr = p.communicate(timeout=600)
    assert p.returncode == 0, stderr
    docs = analyze_documents(paths)
    got = sorted((r["capture_path"], r["connection_id"], r["sni"], r["version_name"])
                 for r in rows(out, "connections"))
    assert got == sorted((path, c["id"], c.get("sni"), c.get("version_name"))
                         for path, d in docs.items() for c in d["connections"])
    assert len(rows(out, "findings")) == sum(len(c.get("findings", ())) for d in docs.values() for c in d["connections"])
    assert f"{len(paths)} captures ({len(paths)} analysed, 0 already done, 0 errors)" in stderr and stdout == ""

    p = _batch(*paths, "--out", str(out), "--scheduler", cluster)  # resumed: nothing to do, nothing added
    _, stderr = p.communicate(timeout=600)
    assert p.returncode == 0 and f"({0} analysed, {len(paths)} already done, 0 errors)" in stderr
    assert len(rows(out, "connections")) == len(got)


def _open_for_writing(fifo: Path, deadline: float) -> int:
    """Wait until a reader has the pipe open, then open its writing end."""
    while True:
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _readers(fifo: Path) -> list[int]:
    """Processes other than this one holding the pipe open."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if any(os.readlink(fd) == str(fifo) for fd in (proc / "fd").iterdir()):
                pids.append(int(proc.name))
        except OSError:  # gone, or not ours to look at
            continue
    return pids


def test_a_worker_killed_mid_task_does_not_lose_the_batch(cluster: str, tmp_path: Path) -> None:
    others = [str(CAPTURES / name) for name in CAPTURE_NAMES]
    slow = tmp_path / "slow-capture.pcap"
    os.mkfifo(slow)
    plain = tmp_path / "plain.pcap"
    shutil.copy(CAPTURES / "tls13-0rtt.pcap", plain)
    out = tmp_path / "ds"
    p = _batch(*others, str(slow), "--out", str(out), "--scheduler", cluster)
    try:
        deadline = time.monotonic() + 300
        held = _open_for_writing(slow, deadline)  # a task now reads the pipe, and waits for bytes
        while not (victims := _readers(slow)):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert len(victims) == 1
        os.replace(plain, slow)  # from now on the path is a plain capture: the retry reads that
        os.kill(victims[0], signal.SIGKILL)  # the worker process, in the middle of the task
        os.close(held)
        stdout, stderr = p.communicate(timeout=300)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, stderr
    total = len(others) + 1
    assert f"{total} captures ({total} analysed, 0 already done, 0 errors)" in stderr
    done = {r["capture"]: r["connections"] for r in rows(out, "captures")}
    assert sorted(done) == sorted([*CAPTURE_NAMES, slow.name])
    want = analyze_documents([str(slow)])
    assert done[slow.name] == len(want[str(slow)]["connections"]) > 0
    assert rows(out, "errors") == []


def test_workers_without_the_package_are_one_line_exit_3(tmp_path: Path) -> None:
    fake = tmp_path / "site" / "analyzer"  # an analyzer package without batch shadows ours on the worker
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text('__version__ = "0.0.1"\n')
    # the submodules too: an editable install's finder would otherwise resolve analyzer.batch to ours
    (fake / "batch").mkdir()
    (fake / "batch" / "__init__.py").write_text('raise ImportError("this analyzer has no batch")\n')
    with dask_cluster(tmp_path, workers=1, pythonpath=str(fake.parent)) as address:
        p = _batch(str(CAPTURES / "tls13.pcap"), "--out", str(tmp_path / "ds"), "--scheduler", address)
        _, stderr = p.communicate(timeout=300)
    assert p.returncode == 3
    assert stderr.startswith("error: the Dask workers cannot run tls-analyzer (") and len(stderr.splitlines()) == 1
    assert "install tls-analyzer[batch] on every worker" in stderr and rows(tmp_path / "ds", "connections") == []
