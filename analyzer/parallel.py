"""JSON output of one large capture on several cores: flows are sharded across worker processes.

Each worker reads the whole capture but keeps only the connections whose port sum falls in its
shard (both directions of a connection have the same sum), renders them as JSON split around
the `"id"` key, and spools them, in the order of the frame that opened them, to a temporary
file. Connection ids are the order of first appearance among *all* TCP connections, so workers
also report the opening frame of every connection they saw (TLS or not); the parent merges the
spools by that frame, writes each id between the two halves (keys stay sorted) and streams the
result. The output is byte-for-byte what the single-process path prints.

Workers are watched, not trusted: a worker that dies (the kernel's out-of-memory killer sends
SIGKILL, and `multiprocessing.Pool` then waits forever) is seen at once through its process
sentinel, and its shard is analysed again in this process, with a warning naming the shard and
the signal. Again in-process rather than an error: the output stays complete and identical, and
one shard alone needs about 1/N of the memory the N workers needed together; had it crashed on
the input itself, it would now raise here as any single-process run would.
"""

from __future__ import annotations

import bisect
import dataclasses
import heapq
import os
import shutil
import signal
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from analyzer.api import CaptureAnalysis
from analyzer.limits import Limits
from analyzer.render import json as rjson
from analyzer.report.connection import Report
from analyzer.sources.pcap import CaptureInfo

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

MIN_BYTES = 32 << 20  # smaller captures are faster in one process than the cost of forking


@dataclass(slots=True)
class ShardResult:
    frames: int
    info: CaptureInfo
    warnings: list[str]
    first_frames: list[int]  # every connection this worker created
    handed_out: int  # connections (before any selection) it rendered or would have
    warned: dict[int, int]  # first frame -> warnings of the connection, for those that have some
    spool: str  # path of _RECORDs (first frame, JSON up to "id":N, JSON after it), in first-frame order
    keys_used: tuple[set[bytes], set[bytes]] | None  # the key log's client randoms and RSA lines it used


def worth_it(path: str, jobs: int) -> bool:
    return jobs > 1 and path != "-" and os.path.isfile(path) and os.path.getsize(path) >= MIN_BYTES


def default_jobs() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


_ID_SENTINEL = 1 << 62  # no connection has this id: where its digits are, the real id goes
_ID_MARK = b'"id":%d' % _ID_SENTINEL


def _split(conn_json: dict[str, Any]) -> tuple[bytes, bytes]:
    """The connection's compact JSON cut where `"id":N` goes: (up to it, after it)."""
    conn_json["id"] = _ID_SENTINEL
    blob = rjson.dumps(conn_json)
    before, mark, after = blob.partition(_ID_MARK)
    if mark and _ID_MARK not in after:  # (a quote inside a JSON string is escaped: only a key matches)
        return before, after
    conn_json.pop("id")  # a nested "id" with this very value: render the two halves apart
    head = rjson.dumps({k: v for k, v in conn_json.items() if k < "id"})[:-1]
    tail = rjson.dumps({k: v for k, v in conn_json.items() if k > "id"})[1:]
    return head + (b"," if len(head) > 1 else b""), (b"," if len(tail) > 1 else b"") + tail


_POLICY: list[Any] = [None]

_RECORD: Final = struct.Struct("<QII")  # a spool record: first frame, then the lengths of the two halves


def _work(args: tuple[str, int, int, str, Any, Any, str]) -> ShardResult:
    path, k, n, depth, selection, keylog, spool_dir = args
    run = CaptureAnalysis(path, keylog=keylog, policy=_POLICY[0], select=selection, depth=depth,
                          limits=Limits().split(n), shard=(k, n))
    fd, spool = tempfile.mkstemp(prefix=f"shard-{k}-", dir=spool_dir)
    warned: dict[int, int] = {}

    def render(r: Report) -> tuple[int, bytes, bytes]:
        first = r.connection.first_frame
        if r.warnings:
            warned[first] = len(r.warnings)
        return (first, *_split(rjson.encodable(r)))

    with os.fdopen(fd, "wb") as fh:
        for first, before, after in run.rendered(render):
            fh.write(_RECORD.pack(first, len(before), len(after)) + before + after)
    keys = run.pipeline.keylog
    return ShardResult(run.info.frames, run.info, run.warnings, list(run.pipeline.flows.first_frames), run.total,
                       warned, spool, None if keys is None else (keys.used, keys.rsa_used))


def _worker(args: tuple, send: Connection) -> None:
    """A forked worker's body: its shard's result, or the exception that stopped it, to the parent."""
    try:
        send.send(("ok", _work(args)))
    except BaseException as exc:  # noqa: BLE001 - handed to the parent, which raises it
        send.send(("error", exc))
    finally:
        send.close()


def _death(code: int | None) -> str:
    if code is not None and code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        oom = ", as the kernel's out-of-memory killer does" if -code == signal.SIGKILL else ""
        return f"killed by signal {-code} ({name}{oom})"
    return f"exited with status {code} before it finished"


def _run_shards(jobs: list[tuple]) -> tuple[list[ShardResult], list[str]]:
    """Every shard's result, in shard order, and a warning per worker that died and was redone."""
    import multiprocessing  # here: a run on one core (and every small capture) does not pay for it
    from multiprocessing.connection import wait

    ctx = multiprocessing.get_context("fork")
    procs, pipes = [], []
    for args in jobs:
        recv, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_worker, args=(args, send), daemon=True)
        proc.start()
        send.close()  # the child holds the only writing end: its death closes the pipe
        procs.append(proc)
        pipes.append(recv)
    results: list[ShardResult | None] = [None] * len(jobs)
    notes: list[str] = []
    try:
        waiting = set(range(len(jobs)))
        while waiting:
            wait([pipes[k] for k in waiting])  # a result, or the end of a pipe whose writer died
            for k in list(waiting):
                if not pipes[k].poll():
                    continue
                waiting.discard(k)
                try:
                    status, value = pipes[k].recv()
                except EOFError:  # it died before it could say anything
                    procs[k].join()
                    notes.append(f"the worker process for shard {k + 1} of {len(jobs)} "
                                 f"{_death(procs[k].exitcode)}; its share was analysed again in this process")
                    continue
                if status == "error":
                    raise value
                results[k] = value
        for k, result in enumerate(results):
            if result is None:  # (after the others finished: one shard at a time, here)
                results[k] = _work(jobs[k])
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
            proc.join()
        for recv in pipes:
            recv.close()
    return [r for r in results if r is not None], notes


def _records(path: str) -> Iterator[tuple[int, bytes, bytes]]:
    with open(path, "rb") as fh:  # our own worker's file, never outside input
        while head := fh.read(_RECORD.size):
            first, n_before, n_after = _RECORD.unpack(head)
            yield first, fh.read(n_before), fh.read(n_after)


def analyze_json(path: str, jobs: int, depth: str, selection: Any, keylog: Any = None, policy: Any = None,
                 counts: dict[str, int] | None = None) -> tuple[CaptureInfo, int, Iterator[bytes], list[str]]:
    """(capture info, frames, connection JSON in id order (a stream), warnings), on `jobs` processes.
    `counts` gets "handed_out" (connections before the selection) and, as the stream is read,
    "connection_warnings" (warnings of the connections written)."""
    # workers know only local ids: a selection by id is applied here, once ids are global
    wanted = set(selection.conns) if selection is not None and selection.conns else None
    if wanted is not None:
        selection = dataclasses.replace(selection, conns=None)
    spool_dir = tempfile.mkdtemp(prefix="tls-analyzer-")  # removed however the merge ends
    _POLICY[0] = policy  # inherited by the forked workers (CA roots do not pickle)
    try:
        results, notes = _run_shards([(path, k, jobs, depth, selection, keylog, spool_dir) for k in range(jobs)])
    except BaseException:
        shutil.rmtree(spool_dir, ignore_errors=True)
        raise
    ranks = sorted(f for r in results for f in r.first_frames)
    for r in results:  # (a forked worker used its own copy of the key log)
        if keylog is not None and r.keys_used is not None:
            keylog.merge_usage(*r.keys_used)
    warned = {first: n for r in results for first, n in r.warned.items()}
    if counts is not None:
        counts["handed_out"] = counts.get("handed_out", 0) + sum(r.handed_out for r in results)
    warnings = list(results[0].warnings) + notes
    for r in results[1:]:
        warnings += [w for w in r.warnings if w not in warnings]

    def merged() -> Iterator[bytes]:
        try:
            for first, before, after in heapq.merge(*(_records(r.spool) for r in results)):
                gid = bisect.bisect_left(ranks, first)
                if wanted is None or gid in wanted:
                    if counts is not None and first in warned:
                        counts["connection_warnings"] = counts.get("connection_warnings", 0) + warned[first]
                    yield before + b'"id":' + str(gid).encode() + after
        finally:
            shutil.rmtree(spool_dir, ignore_errors=True)

    return results[0].info, results[0].frames, merged(), warnings
