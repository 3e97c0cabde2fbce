"""Sharding a capture's flows across processes must not change a single byte of the JSON."""

from __future__ import annotations

import pytest

from analyzer import parallel
from analyzer.render import json as rjson
from analyzer.api import analyze, json_document
from analyzer.selection import Selection

from conftest import CAPTURES


def _parallel_document(path: str, jobs: int, selection: Selection | None = None, policy=None) -> bytes:  # noqa: ANN001
    info, frames, stream, warnings = parallel.analyze_json(path, jobs, "tls", selection, policy=policy)
    conns = list(stream)
    result = analyze(path)  # only for the capture header fields
    result.frames = frames
    return rjson.document_bytes(result.capture_json(), conns, warnings)


@pytest.mark.parametrize("name", ["tls13-psk-resumption.pcap", "tls12-session-resumption.pcap",
                                  "tls13-hostile-strings.pcap", "tls13-0rtt.pcap",
                                  "tls12-nano.pcapng", "tls13-ipv6.pcap"])
@pytest.mark.parametrize("jobs", [2, 3])
def test_sharded_output_is_identical(name: str, jobs: int) -> None:
    path = str(CAPTURES / name)
    assert _parallel_document(path, jobs) == json_document(path)


@pytest.mark.parametrize("name", ["tls12-session-resumption.pcap", "tls12-nano.pcapng", "tls13-ipv6.pcap"])
def test_a_sharded_reader_leaves_out_only_other_shards_tcp(name: str) -> None:
    from analyzer.net.decode import PacketDecoder, Segment
    from analyzer.sources.pcap import CaptureInfo, read_frames

    path = str(CAPTURES / name)
    every = list(read_frames(path))
    shares = [list(read_frames(path, CaptureInfo(path), shard=(k, 3))) for k in range(3)]
    decoder = PacketDecoder()
    for k, share in enumerate(shares):
        for frame in set(every) - set(share):  # what shard k's reader left out ...
            seg = decoder.decode(frame.linktype, frame.data)  # ... is TCP of another shard
            assert isinstance(seg, Segment) and (seg.sport + seg.dport) % 3 != k
    kept = [f.number for share in shares for f in share]
    assert sorted(set(kept)) == [f.number for f in every]  # each frame reaches some shard, numbers kept
    if name.endswith("resumption.pcap"):  # plain Ethernet/IPv4: each frame is read by its shard alone
        assert len(kept) == len(every)


def test_workers_judge_by_the_given_policy() -> None:
    from analyzer.analysis.policy_file import load_profile

    path = str(CAPTURES / "tls12-session-resumption.pcap")
    modern = load_profile("mozilla-modern")
    sharded = _parallel_document(path, 2, policy=modern)
    assert sharded == json_document(path, policy=modern) and b"POLICY-VERSION" in sharded


def test_selection_by_id_uses_global_ids() -> None:
    path = str(CAPTURES / "tls13-psk-resumption.pcap")
    sel = Selection(conns=[1])
    assert _parallel_document(path, 2, sel) == json_document(path, select=sel)


def test_small_captures_stay_in_one_process() -> None:
    assert not parallel.worth_it(str(CAPTURES / "tls13.pcap"), 2)
    assert not parallel.worth_it("-", 4)


@pytest.fixture(scope="module")
def many_connections(tmp_path_factory) -> str:
    """~30k packets replicated from real fixtures: enough for sweeps to release output mid-read."""
    import subprocess
    import sys

    from conftest import ROOT

    out = tmp_path_factory.mktemp("big") / "many.pcap"
    subprocess.run([sys.executable, str(ROOT / "bench" / "make_big_capture.py"), str(CAPTURES / "tls13.pcap"),
                    str(CAPTURES / "tls12-ecdhe.pcap"), "-o", str(out), "--packets", "30000", "--quiet"],
                   check=True, timeout=120)
    return str(out)


def test_streamed_output_is_in_id_order_and_complete(many_connections: str) -> None:
    import json

    doc = json.loads(json_document(many_connections))
    ids = [c["id"] for c in doc["connections"]]
    assert len(ids) > 1000 and ids == sorted(ids) and len(set(ids)) == len(ids)


def test_sharded_output_is_identical_on_many_connections(many_connections: str) -> None:
    assert _parallel_document(many_connections, 2) == json_document(many_connections)


@pytest.mark.parametrize("doc", [
    {"alpn": None, "findings": [{"id": "KX-NO-PQ"}], "id": 0, "tls": True},  # the usual case
    {"a": [{"id": 1 << 62}], "id": 0, "z": 1},  # a nested "id" with the marker's own value
    {"id": 0, "z": {"id": 1 << 62}},
    {"a": {"id": 1 << 62}, "id": 0},
])
def test_the_id_is_cut_out_and_put_back(doc: dict) -> None:
    before, after = parallel._split(dict(doc))
    assert before + b'"id":7' + after == rjson.dumps({**doc, "id": 7})


_PARENT = [0]
_REAL_WORK = parallel._work


def _second_worker_dies(args: tuple) -> parallel.ShardResult:
    """A worker's body that SIGKILLs itself in shard 1 (the parent's own retry runs it for real)."""
    import os
    import signal

    if args[1] == 1 and os.getpid() != _PARENT[0]:
        os.kill(os.getpid(), signal.SIGKILL)
    return _REAL_WORK(args)


def _worker_fails(args: tuple) -> parallel.ShardResult:
    from analyzer.errors import InputError

    raise InputError(f"{args[0]}: shard {args[1]} cannot read", "a test")


def test_a_killed_worker_is_reported_and_its_shard_done_again(monkeypatch) -> None:  # noqa: ANN001
    """Issue 23 item 15: SIGKILL to one worker (what the OOM killer does) left the parent waiting forever
    in Pool.map. Now the death is seen at once, named in a warning, and the output is still complete."""
    import os
    import signal

    _PARENT[0] = os.getpid()
    monkeypatch.setattr(parallel, "_work", _second_worker_dies)
    before = signal.signal(signal.SIGALRM, lambda *_: pytest.fail("the parent is still waiting for a dead worker"))
    signal.alarm(60)
    try:
        path = str(CAPTURES / "tls12-session-resumption.pcap")
        info, frames, stream, warnings = parallel.analyze_json(path, 3, "tls", None)
        conns = list(stream)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, before)
    assert "the worker process for shard 2 of 3 killed by signal 9 (SIGKILL, as the kernel's out-of-memory " \
           "killer does); its share was analysed again in this process" in warnings
    result = analyze(path)
    result.frames = frames
    single = json_document(path).decode()
    assert rjson.document_bytes(result.capture_json(), conns, [w for w in warnings if "worker" not in w]).decode() \
        == single


def test_an_exception_in_a_worker_reaches_the_parent(monkeypatch) -> None:  # noqa: ANN001
    from analyzer.errors import InputError

    monkeypatch.setattr(parallel, "_work", _worker_fails)
    with pytest.raises(InputError, match="shard 0 cannot read"):
        parallel.analyze_json(str(CAPTURES / "tls13.pcap"), 2, "tls", None)
