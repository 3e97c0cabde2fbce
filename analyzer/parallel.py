"""JSON output of one large capture on several cores: flows are sharded across worker processes.

Each worker reads the whole capture but keeps only the connections whose port sum falls in its
shard (both directions of a connection have the same sum), and renders them as JSON split around
the `"id"` key. Connection ids are the order of first appearance among *all* TCP connections,
so workers also report the creating frame of every connection they saw (TLS or not); the parent
ranks those frames, writes each id between the two halves, and the keys stay sorted. The result
is byte-for-byte what the single-process path prints.
"""

from __future__ import annotations

import bisect
import dataclasses
import multiprocessing
import os
from dataclasses import dataclass
from typing import Any

from analyzer.pipeline import Pipeline
from analyzer.render import json as rjson
from analyzer.sources.pcap import CaptureInfo, read_frames

MIN_BYTES = 32 << 20  # smaller captures are faster in one process than the cost of forking


@dataclass(slots=True)
class ShardResult:
    frames: int
    info: CaptureInfo
    warnings: list[str]
    first_frames: list[int]  # every connection this worker created
    connections: list[tuple[int, int, bytes, bytes]]  # (first frame, local id, before "id", after "id")


def worth_it(path: str, jobs: int) -> bool:
    return jobs > 1 and path != "-" and os.path.isfile(path) and os.path.getsize(path) >= MIN_BYTES


def default_jobs() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def _split(conn_json: dict[str, Any]) -> tuple[bytes, bytes]:
    """Compact JSON of the keys sorting before and after "id", without braces."""
    conn_json.pop("id")
    before = {k: v for k, v in conn_json.items() if k < "id"}
    after = {k: v for k, v in conn_json.items() if k > "id"}
    return rjson.dumps(before)[1:-1], rjson.dumps(after)[1:-1]


def _work(args: tuple[str, int, int, str, Any]) -> ShardResult:
    path, k, n, depth, selection = args
    info = CaptureInfo(path)
    pipeline = Pipeline(depth=depth, shard=(k, n))
    conns = []
    for c in pipeline.run(read_frames(path, info)):
        if selection is None or selection.matches(c):
            before, after = _split(rjson.connection_json(c))
            conns.append((c.first_frame, c.id, before, after))
    return ShardResult(pipeline.stats.frames, info, list(info.warnings) + pipeline.stats.warnings,
                       list(pipeline.flows.first_frames), conns)


def analyze_json(path: str, jobs: int, depth: str, selection: Any) -> tuple[CaptureInfo, int, list[bytes], list[str]]:
    """(capture info, frames, connection JSON in id order, warnings), computed on `jobs` processes."""
    # workers know only local ids: a selection by id is applied here, once ids are global
    wanted = set(selection.conns) if selection is not None and selection.conns else None
    if wanted is not None:
        selection = dataclasses.replace(selection, conns=None)
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(jobs) as pool:
        results = pool.map(_work, [(path, k, jobs, depth, selection) for k in range(jobs)])
    ranks = sorted(f for r in results for f in r.first_frames)
    conns = []
    for r in results:
        for first, _local, before, after in r.connections:
            gid = bisect.bisect_left(ranks, first)
            if wanted is not None and gid not in wanted:
                continue
            conns.append((gid, b"{" + before + (b"," if before else b"") + b'"id":' + str(gid).encode()
                          + (b"," if after else b"") + after + b"}"))
    conns.sort(key=lambda pair: pair[0])
    first = results[0]
    warnings = list(first.warnings)
    for r in results[1:]:
        warnings += [w for w in r.warnings if w not in warnings]
    return first.info, first.frames, [c for _gid, c in conns], warnings

