"""The batch driver: inputs to tasks on a Dask cluster, results to the progress line and errors/.

The driver reads no capture: it lists the inputs, skips those already done (same path, size and
modification time as a `captures/` row), and keeps a bounded window of one-capture tasks in
flight, largest captures first so a big file does not start last. Workers write the Parquet
parts themselves (the output folder must be the same path on every worker: a shared file system
on a cluster), so only small `Outcome`s come back. A task that raises is retried by Dask
(`RETRIES`); one whose worker dies is rescheduled by the scheduler (its allowed-failures); when
all tries fail the capture becomes an `errors/` row and the batch goes on.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, Final

from analyzer.batch import columns, parts, require
from analyzer.batch.adapter import Settings
from analyzer.batch.progress import Progress, Tally
from analyzer.batch.task import Outcome, record_error, run_capture
from analyzer.errors import AnalyzerError, BackendUnavailable, ExitCode, InputError, UsageError
from analyzer.render.sanitize import text
from analyzer.sources.inputs import expand

RETRIES: Final = 2  # tries after the first, for a task that raised
WINDOW_PER_THREAD: Final = 4  # tasks in flight per worker thread: enough to keep every worker busy
CONNECT_TIMEOUT: Final = "10s"
WORKERS_TIMEOUT: Final = 60  # seconds to wait for a first worker on an existing cluster
MANIFEST: Final = "_batch.json"  # pyarrow and DuckDB's *.parquet skip it


def settings_label(sources: dict[str, str | None]) -> dict[str, str]:
    """What the rows depend on besides the captures: the profile, and the files given, by content."""
    label = {}
    for option, value in sorted(sources.items()):
        if value is None:
            continue
        if option == "profile":
            label[option] = value
        else:
            try:
                with open(value, "rb") as fh:
                    label[option] = "sha256:" + hashlib.sha256(fh.read()).hexdigest()
            except OSError:
                label[option] = value  # loading it has already failed with its own error, or will
    return label


def prepare(out: str, label: dict[str, str]) -> None:
    """Create the folders; refuse to mix rows made under other settings into an existing batch."""
    manifest = os.path.join(out, MANIFEST)
    try:
        parts.make_dirs(out)
        if os.path.exists(manifest):
            with open(manifest, encoding="utf-8") as fh:
                before = json.load(fh)
            if before.get("settings") != label:
                raise UsageError(f"{out} holds a batch made with other settings ({_describe(before.get('settings'))}; "
                                 f"now {_describe(label)})", "use another --out, or the same options")
            return
        with open(manifest + ".tmp", "w", encoding="utf-8") as fh:
            json.dump({"format": columns.VERSION, "settings": label}, fh, sort_keys=True)
        os.replace(manifest + ".tmp", manifest)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot use {out} for the batch: {exc}", "check the folder and its permissions") from None


def _describe(label: Any) -> str:
    return ", ".join(f"{k} {v[:19] if isinstance(v, str) else v}" for k, v in sorted((label or {}).items())) or "defaults"


def make_settings(keylog: Any, policy: Any) -> Settings:
    if policy is not None and policy.ca_roots:
        from cryptography.hazmat.primitives.serialization import Encoding

        return Settings(keylog, replace(policy, ca_roots=None), tuple(c.public_bytes(Encoding.DER) for c in policy.ca_roots))
    return Settings(keylog, policy)


def _worker_check(out: str) -> tuple[str, str, bool]:
    """Runs on every worker: the versions it would write with, and whether it sees the batch folder."""
    from analyzer import __version__

    return __version__, columns.VERSION, os.path.isfile(os.path.join(out, MANIFEST))


@contextmanager
def connect(scheduler: str | None, workers: int | None, say: Any) -> Iterator[Any]:
    """A Dask client: a local pool without dashboard (default), a LocalCluster with one ("local"),
    or an existing scheduler."""
    import dask
    from distributed import Client, LocalCluster

    cluster = None
    if scheduler in (None, "local"):
        dask.config.set({"distributed.worker.profile.enabled": False})  # its stack sampling costs ~15% here
        cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                               host="127.0.0.1", silence_logs=logging.ERROR,
                               dashboard_address="127.0.0.1:0" if scheduler else None)
        client = Client(cluster)
        if scheduler:
            say(f"dashboard: {cluster.dashboard_link}")
    else:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as exc:
            raise BackendUnavailable(f"cannot reach the Dask scheduler at {scheduler} ({exc})",
                                     "is it running, and is the address tcp://HOST:PORT?") from None
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def check_workers(client: Any, out: str) -> int:
    """Fail early, in one line, when the workers cannot do the job. Returns their thread count."""
    try:
        client.wait_for_workers(1, timeout=WORKERS_TIMEOUT)
        seen = client.run(_worker_check, out)
    except TimeoutError:
        raise BackendUnavailable(f"no Dask worker joined in {WORKERS_TIMEOUT}s", "start workers: dask worker "
                                 "tcp://SCHEDULER:8786") from None
    except Exception as exc:  # noqa: BLE001 - whatever a worker without the package raises
        raise BackendUnavailable(f"the Dask workers cannot run tls-analyzer ({type(exc).__name__}: "
                                 f"{str(exc).splitlines()[0] if str(exc) else ''})",
                                 "install tls-analyzer[batch] on every worker") from None
    from analyzer import __version__

    for worker, (version, layout, sees_out) in sorted(seen.items()):
        if (version, layout) != (__version__, columns.VERSION):
            raise BackendUnavailable(f"worker {worker} runs tls-analyzer {version} ({layout}), this is "
                                     f"{__version__} ({columns.VERSION})", "install the same version everywhere")
        if not sees_out:
            raise BackendUnavailable(f"worker {worker} does not see {out}",
                                     "the output folder must be on a file system every worker shares, at the same path")
    return sum(client.nthreads().values())


def _pending(paths: list[str], out: str, tally: Tally) -> list[str]:
    """The captures to analyse, largest first; those done before (same path, size, time) counted."""
    done = parts.done_files(out)
    todo: list[tuple[int, str]] = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            todo.append((0, path))  # its task says what is wrong with it
            continue
        if (path, st.st_size, st.st_mtime_ns) in done:
            tally.skipped += 1
        else:
            todo.append((st.st_size, path))
    return [path for _, path in sorted(todo, key=lambda t: (-t[0], t[1]))]


def _crash(exc: BaseException | None) -> str:
    first = (str(exc).splitlines() or [""])[0] if exc is not None else "cancelled"
    return f"analysis failed on every try ({type(exc).__name__ if exc is not None else 'CancelledError'}: {first})"


def run_batch(inputs: list[str], out: str, scheduler: str | None = None, workers: int | None = None,
              keylog: Any = None, policy: Any = None, sources: dict[str, str | None] | None = None) -> int:
    """`tls-analyzer batch`: returns the exit code (2 when any capture ended in errors/)."""
    require()
    if workers is not None and scheduler not in (None, "local"):
        raise UsageError("--workers sizes the local pool only", "an existing cluster has the workers it has")
    found = expand(inputs)
    if "-" in found.captures:
        raise UsageError("batch reads capture files, not stdin", "save the capture to a file first")
    paths = list(dict.fromkeys(os.path.abspath(p) for p in found.captures))
    if not paths:
        raise InputError(f"no captures in {' '.join(inputs)}", "give pcap/pcapng files or folders holding them")
    out = os.path.abspath(out)
    prepare(out, settings_label(sources or {}))
    tally = Tally(total=len(paths))
    progress = Progress(tally, sys.stderr, sys.stderr.isatty())
    if found.skipped:
        progress.say(f"{len(found.skipped)} files in the folders are not captures; passed over")
    todo = _pending(paths, out, tally)
    try:
        if todo:
            with connect(scheduler, workers, progress.say) as client:
                _run(client, todo, out, make_settings(keylog, policy), progress)
    except KeyboardInterrupt:
        progress.finish(out)
        print("interrupted: the captures finished are kept; the same command goes on from there", file=sys.stderr)
        return ExitCode.INTERRUPTED
    progress.finish(out)
    return ExitCode.USAGE if tally.errors else ExitCode.OK


def _run(client: Any, todo: list[str], out: str, settings: Settings, progress: Progress) -> None:
    from distributed import as_completed

    window = WINDOW_PER_THREAD * check_workers(client, out)
    shared = client.scatter(settings, broadcast=True, hash=False)
    queue = iter(todo)
    running: dict[Any, str] = {}
    finished = as_completed()

    def submit(n: int) -> None:
        for path in itertools.islice(queue, n):
            future = client.submit(run_capture, path, out, shared, retries=RETRIES, pure=False)
            running[future] = path
            finished.add(future)

    submit(window)
    progress.draw(force=True)
    for future in finished:
        path = running.pop(future)
        if future.status == "finished":
            outcome: Outcome = future.result()
        else:
            exc = future.exception() if future.status == "error" else None
            outcome = record_error(out, path, None, "crash", AnalyzerError(f"{path}: {_crash(exc)}"))
        future.release()
        _count(progress, outcome)
        submit(1)


def _count(progress: Progress, outcome: Outcome) -> None:
    t = progress.tally
    if outcome.status == "done":
        t.done += 1
        t.connections += outcome.connections
        t.frames += outcome.frames
    elif outcome.status == "skipped":
        t.skipped += 1
    else:
        t.errors += 1
        progress.say("error: " + text(outcome.error))
    progress.draw()
