"""The flow table's life cycle: connections handed out when they end, tombstones that swallow late
packets and then expire, and the watermark below which no connection can still come."""

from __future__ import annotations

from analyzer.net.decode import ACK, FIN, SYN, Segment
from analyzer.net.flows import FlowTable, Limits

A, B = b"\x7f\x00\x00\x01", b"\x7f\x00\x00\x02"


def seg(sport: int, flags: int, payload: bytes = b"", seq: int = 1000, reverse: bool = False) -> Segment:
    if reverse:
        return Segment(B, A, 443, sport, seq, 0, flags, payload)
    return Segment(A, B, sport, 443, seq, 0, flags, payload)


def open_connection(table: FlowTable, sport: int, ts: float, frame: int = 1) -> int:
    hit = table.lookup(seg(sport, SYN), frame, ts)
    assert hit is not None
    conn, d = hit
    conn.segment(d, seg(sport, SYN), frame, ts, [])
    return conn.id


def close_connection(table: FlowTable, sport: int, ts: float) -> None:
    for reverse in (False, True):
        s = seg(sport, FIN | ACK, reverse=reverse, seq=1001 if not reverse else 5000)
        hit = table.lookup(s, 9, ts)
        assert hit is not None
        conn, d = hit
        if reverse and conn.halves[d].next_seq is None:
            conn.halves[d].start(5000)
        conn.segment(d, s, 9, ts, [])
    assert table.lookup(seg(sport, ACK), 9, ts) is not None and table.flows[(A, B, sport, 443)][0].closed


def report(table: FlowTable, now: float) -> list[int]:
    done = table.sweep(now)
    for conn in done:
        table.retire(conn)
    return [c.id for c in done]


def test_a_closed_connection_is_handed_out_after_its_grace_then_swallows_late_packets() -> None:
    limits = Limits()
    table = FlowTable(limits)
    cid = open_connection(table, 40000, 0.0)
    close_connection(table, 40000, 1.0)
    assert report(table, 1.0 + limits.close_grace / 2) == []  # late packets may still belong to it
    assert report(table, 1.0 + limits.close_grace + 0.1) == [cid]
    # a tombstone now: a late packet is swallowed, no new connection appears
    assert table.lookup(seg(40000, ACK, b"late"), 20, 5.0) is None and table.next_id == cid + 1
    assert len(table) == 1
    # once the tombstone expires, the ports are free and the memory is given back
    assert report(table, 1.0 + limits.tombstone_timeout + 1) == []
    assert len(table) == 0 and not table.tombstones and not table.live
    assert table.lookup(seg(40000, SYN), 30, 40.0) is not None and table.next_id == cid + 2


def test_the_watermark_waits_for_the_oldest_open_connection() -> None:
    limits = Limits()
    table = FlowTable(limits)
    long_lived = open_connection(table, 40000, 0.0)
    short = [open_connection(table, port, 0.1) for port in (40001, 40002)]
    for port in (40001, 40002):
        close_connection(table, port, 0.2)
    assert report(table, 3.0) == short  # handed out in id order ...
    assert table.lowest_open == long_lived  # ... while the first one may still come
    later = open_connection(table, 40003, 3.0)
    hit = table.lookup(seg(40003, ACK, b"x", 1001), 10, limits.idle_timeout)
    assert hit is not None
    hit[0].segment(hit[1], seg(40003, ACK, b"x", 1001), 10, limits.idle_timeout, [])  # the newest stays alive
    assert report(table, limits.idle_timeout + 1) == [long_lived]  # idle too long: handed out
    assert table.lowest_open == later
    assert table.drain() == [hit[0]] and table.lowest_open == table.next_id and len(table) == 0


def test_sweeps_keep_only_live_connections_and_recent_tombstones() -> None:
    limits = Limits()
    table = FlowTable(limits)
    for i in range(200):
        open_connection(table, 20000 + i, i * 0.5)
        close_connection(table, 20000 + i, i * 0.5)
        report(table, i * 0.5 + limits.close_grace + 0.1)
    # all 200 were handed out; only those retired within the tombstone timeout are still held
    recent = sum(1 for i in range(200) if 199 * 0.5 + limits.close_grace + 0.1 - i * 0.5 <= limits.tombstone_timeout)
    assert not table.live and len(table.tombstones) == len(table) == recent < 200
