"""TCP reassembly properties: whatever the segmentation, order, duplication and loss, the delivered
stream is exactly the original bytes minus what was lost, and every lost range is one explicit Gap."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.net.tcp import Gap, HalfStream, StreamData, TcpAnomaly

MOD = 1 << 32


@st.composite
def scenario(draw):  # noqa: ANN001, ANN201
    data = draw(st.binary(min_size=1, max_size=3000))
    isn = draw(st.integers(0, MOD - 1))  # near 2^32 too: sequence numbers wrap
    cuts = sorted(set(draw(st.lists(st.integers(1, len(data) - 1), max_size=30)))) if len(data) > 1 else []
    bounds = [0, *cuts, len(data)]
    segs = [(bounds[i], data[bounds[i]:bounds[i + 1]]) for i in range(len(bounds) - 1)]
    lost = draw(st.sets(st.integers(0, len(segs) - 1), max_size=max(0, len(segs) - 1)))
    if 0 in lost:
        lost.discard(0)  # the first byte anchors the stream (its ISN)
    sent = [s for i, s in enumerate(segs) if i not in lost]
    first = sent[0]
    rest = sent[1:]
    rest += draw(st.lists(st.sampled_from(sent), max_size=10)) if sent else []  # retransmissions
    overlaps = []
    for off, piece in draw(st.lists(st.sampled_from(sent), max_size=5)):  # re-sent spanning two segments
        end = min(len(data), off + len(piece) + draw(st.integers(0, 50)))
        if all(not (i in lost and bounds[i] < end and bounds[i + 1] > off) for i in range(len(segs))):
            overlaps.append((off, data[off:end]))
    order = draw(st.permutations(rest + overlaps))
    return data, isn, [first, *order], [segs[i] for i in sorted(lost)]


@settings(max_examples=300, deadline=None)
@given(scenario())
def test_reassembly_delivers_exactly_the_bytes_and_the_gaps(case) -> None:  # noqa: ANN001
    data, isn, arrivals, lost = case
    half = HalfStream(0, max_pending=1 << 20)
    out: list = []
    for frame, (off, piece) in enumerate(arrivals, 1):
        half.segment((isn + off) % MOD, piece, frame, 0.0, out)
    half.finish("fin", len(arrivals) + 1, 0.0, out)
    pos, rebuilt, gaps = 0, bytearray(), []
    for ev in out:
        if isinstance(ev, StreamData):
            assert ev.offset == pos
            rebuilt += ev.data
            pos += len(ev.data)
        elif isinstance(ev, Gap):
            assert ev.offset == pos and ev.length > 0
            gaps.append((ev.offset, ev.length))
            pos += ev.length
        else:
            assert not isinstance(ev, TcpAnomaly), ev.text  # every copy carried the same bytes
    # lost segments that touch each other form one gap; a loss at the very end is never seen
    expected, kept = [], bytearray()
    lost_ranges = sorted((off, off + len(p)) for off, p in lost)
    cursor = 0
    for start, end in lost_ranges:
        if expected and expected[-1][0] + expected[-1][1] == start:
            expected[-1] = (expected[-1][0], expected[-1][1] + end - start)
        else:
            expected.append((start, end - start))
    last_seen = max(off + len(p) for off, p in arrivals)
    expected = [(s, n) for s, n in expected if s < last_seen]
    for s, n in expected:
        kept += data[cursor:s]
        cursor = s + n
    kept += data[cursor:last_seen]
    assert gaps == expected
    assert bytes(rebuilt) == bytes(kept)


def test_conflicting_retransmission_keeps_the_first_copy() -> None:
    half, out = HalfStream(0, 1 << 20), []
    half.segment(1000, b"hello world", 1, 0.0, out)
    half.segment(1000, b"HELLO", 2, 0.0, out)
    assert [e.data for e in out if isinstance(e, StreamData)] == [b"hello world"]
    assert any(isinstance(e, TcpAnomaly) and "conflicting" in e.text for e in out)


def test_out_of_order_cap_turns_the_hole_into_a_gap_and_keeps_memory_bounded() -> None:
    half, out = HalfStream(0, max_pending=4096), []
    half.segment(0, b"a" * 10, 1, 0.0, out)
    for i in range(20):  # a 100-byte hole, then 20 KB waiting behind it
        half.segment(110 + i * 1000, b"b" * 1000, 2 + i, 0.0, out)
        assert half.pending_bytes <= 4096 + 1000
    assert [(e.offset, e.length) for e in out if isinstance(e, Gap)] == [(10, 100)]


def test_held_segments_keep_their_own_frame_numbers() -> None:
    half, out = HalfStream(0, 1 << 20), []
    half.segment(0, b"x" * 10, 1, 0.0, out)
    half.segment(20, b"z" * 10, 2, 0.0, out)  # arrives before the bytes it follows
    half.segment(10, b"y" * 10, 3, 0.0, out)
    assert [(e.data[:1], e.frame) for e in out if isinstance(e, StreamData)] == [(b"x", 1), (b"y", 3), (b"z", 2)]


def test_peer_ack_beyond_what_we_saw_declares_a_gap_promptly() -> None:
    half, out = HalfStream(0, 1 << 20), []
    half.segment(5000, b"x" * 100, 1, 0.0, out)
    half.acked(5000 + 300, 2, 0.0, out)  # the receiver got 200 bytes the capture never had
    assert [(e.offset, e.length) for e in out if isinstance(e, Gap)] == [(100, 200)]
