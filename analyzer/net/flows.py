"""TCP connections: canonical flow keys, client/server roles, port reuse, eviction.

A `FlowTable` maps both directional 4-tuples of a connection to it, so each packet costs one
dict lookup. Connections are handed back when they end (both FINs, RST), go idle, or the table
is over its cap; their buffers are freed then and a tombstone swallows late packets.
"""

from __future__ import annotations

import ipaddress
from array import array
from collections import deque
from dataclasses import dataclass
from typing import Any, Final

from analyzer.net.decode import ACK, FIN, RST, SYN, Segment
from analyzer.net.tcp import Event, HalfStream, StreamEnd

CLIENT: Final = 0  # directions: 0 = from the client, 1 = from the server
SERVER: Final = 1


@dataclass(frozen=True, slots=True)
class Endpoint:
    ip: str
    port: int


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps that keep memory bounded whatever the capture holds; all configurable."""

    max_pending_bytes: int = 4 << 20  # out-of-order bytes held per direction
    max_connections: int = 200_000  # connections held at once; the idlest are evicted beyond it
    idle_timeout: float = 600.0  # capture-time seconds without a packet before eviction
    close_grace: float = 2.0  # after both FINs or a RST, late packets this close still count
    tombstone_timeout: float = 30.0  # until then, later packets are swallowed, not a new connection


def ip_text(raw: bytes) -> str:
    if len(raw) == 4:  # the common case, without building an ipaddress object
        return f"{raw[0]}.{raw[1]}.{raw[2]}.{raw[3]}"
    return str(ipaddress.ip_address(raw))  # IPv6: RFC 5952 text


class TcpConnection:
    """One TCP connection: two half-streams and the facts the report needs."""

    __slots__ = ("id", "client", "server", "role_source", "halves", "isn", "first_frame",
                 "last_frame", "first_ts", "last_ts", "packets", "finished", "app", "anomalies",
                 "syn_seen", "end_reason", "keys")

    def __init__(self, cid: int, client: Endpoint, server: Endpoint, role_source: str,
                 limits: Limits, frame: int, ts: float) -> None:
        self.id = cid
        self.client = client
        self.server = server
        self.role_source = role_source  # "syn", "syn-ack" or "port" (lower port is the server)
        # () once the connection is reported: a tombstone keeps no stream state
        self.halves: tuple[HalfStream, ...] = (HalfStream(CLIENT, limits.max_pending_bytes),
                                                 HalfStream(SERVER, limits.max_pending_bytes))
        self.isn: list[int | None] = [None, None]
        self.first_frame = self.last_frame = frame
        self.first_ts = self.last_ts = ts
        self.packets = 0
        self.finished = False
        self.syn_seen = False
        self.end_reason = ""
        self.app: Any = None  # the consumer of this connection's events (the TLS layer)
        self.anomalies: list[str] = []
        self.keys: tuple[tuple, ...] = ()  # the flow-table keys of both directions

    def segment(self, d: int, seg: Segment, frame: int, ts: float, out: list[Event]) -> None:
        """Feed one segment travelling in direction `d`; events are appended to `out`."""
        self.last_frame = frame
        self.last_ts = ts
        self.packets += 1
        half = self.halves[d]
        flags = seg.flags
        seq = seg.seq
        if flags & SYN:
            self.syn_seen = True
            if self.isn[d] is None:
                self.isn[d] = seq
            half.start(seq + 1)
            seq += 1  # data on SYN (TFO) starts after the SYN's sequence number
        if seg.payload:
            half.segment(seq, seg.payload, frame, ts, out)
        if flags & ACK:
            other = self.halves[1 - d]
            if other.next_seq is not None and not other.ended:
                other.acked(seg.ack, frame, ts, out)
        if flags & RST:
            for h in self.halves:
                h.finish("rst", frame, ts, out)
        elif flags & FIN:
            if half.next_seq is None:
                half.start(seq)
            half.fin_off = half.offset_of(seq + len(seg.payload))
        if half.fin_off is not None and not half.ended and not half.pending \
                and half.next_off >= half.fin_off:
            half.finish("fin", frame, ts, out)

    def finish(self, reason: str, out: list[Event]) -> None:
        """End both directions (capture end, eviction): held bytes are flushed across gaps."""
        for h in self.halves:
            h.finish(reason, self.last_frame, self.last_ts, out)
        self.end_reason = self.end_reason or reason

    @property
    def closed(self) -> bool:
        return self.halves[0].ended and self.halves[1].ended


class FlowTable:
    """Finds or creates the connection of each segment; evicts with bounded memory."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self.flows: dict[tuple, tuple[TcpConnection, int]] = {}
        self.next_id = 0
        self.evicted = 0
        self.warnings: list[str] = []
        self.first_frames = array("Q")  # the frame that created each connection, in id order
        self.expired: list[TcpConnection] = []  # over, forgotten, not yet reported
        # sweeps look only at these: connections not yet reported (by id, so in id order) and
        # reported ones in the order they were retired, until their tombstones expire
        self.live: dict[int, TcpConnection] = {}
        self.tombstones: deque[TcpConnection] = deque()
        self.lowest_open = 0  # no connection with a lower id can be reported any more (see sweep)

    def lookup(self, seg: Segment, frame: int, ts: float) -> tuple[TcpConnection, int] | None:
        """The connection and direction of a segment; None for stray packets worth no connection.

        Whether a packet still belongs to a connection depends only on the two (never on when a
        sweep ran): after a close, packets within `close_grace` still count, later ones are
        swallowed until `tombstone_timeout`; a connection silent for `idle_timeout` is over.
        """
        key = (seg.src, seg.dst, seg.sport, seg.dport)
        hit = self.flows.get(key)
        if hit is not None:
            conn, d = hit
            quiet = ts - conn.last_ts
            over = conn.finished or conn.closed
            if over and quiet > self.limits.tombstone_timeout or not over and quiet > self.limits.idle_timeout:
                self._expire(conn)  # long over: the ports are free for a new connection
            elif not (seg.flags & SYN) or seg.flags & ACK or conn.isn[d] in (None, seg.seq):
                if conn.finished or (conn.closed and quiet > self.limits.close_grace):
                    return None  # a late packet of a connection that is over
                return hit
            else:
                if not (over or conn.halves[d].fin_off is not None or conn.end_reason):
                    # a new SYN with another ISN on a live connection: port reuse all the same
                    self.warnings.append(f"frame {frame}: new SYN reuses the ports of a connection "
                                         f"opened at frame {conn.first_frame} before it closed")
                self._expire(conn)
        if not (seg.payload or seg.flags & (SYN | FIN)):
            return None  # a bare ACK or RST for a connection we never saw
        return self._create(key, seg, frame, ts)

    def _expire(self, conn: TcpConnection) -> None:
        """Forget a connection's ports; if it was not reported yet, the next sweep reports it."""
        self._forget(conn)
        if not conn.finished:
            self.live.pop(conn.id, None)
            self.expired.append(conn)

    def retire(self, conn: TcpConnection) -> None:
        """The connection was reported: from now on a tombstone (see `lookup`)."""
        conn.finished = True
        self.live.pop(conn.id, None)
        self.tombstones.append(conn)

    def _create(self, key: tuple, seg: Segment, frame: int, ts: float) -> tuple[TcpConnection, int]:
        src, dst = Endpoint(ip_text(seg.src), seg.sport), Endpoint(ip_text(seg.dst), seg.dport)
        if seg.flags & SYN and not seg.flags & ACK:
            client, server, source = src, dst, "syn"
        elif seg.flags & SYN:
            client, server, source = dst, src, "syn-ack"
        elif seg.sport < seg.dport:
            client, server, source = dst, src, "port"
        else:
            client, server, source = src, dst, "port"
        conn = TcpConnection(self.next_id, client, server, source, self.limits, frame, ts)
        self.next_id += 1
        self.first_frames.append(frame)
        d = CLIENT if client == src else SERVER
        rkey = (seg.dst, seg.src, seg.dport, seg.sport)
        self.flows[key] = (conn, d)
        self.flows[rkey] = (conn, 1 - d)
        conn.keys = (key, rkey)
        self.live[conn.id] = conn
        return conn, d

    def _forget(self, conn: TcpConnection) -> None:
        for key in conn.keys:
            hit = self.flows.get(key)
            if hit is not None and hit[0] is conn:
                del self.flows[key]

    def sweep(self, now: float) -> list[TcpConnection]:
        """Connections to report now: closed ones past their grace, idle ones, the idlest beyond
        the cap. Reported connections stay as tombstones (buffers freed) to swallow late packets."""
        limits = self.limits
        done, self.expired = self.expired, []
        tombstones = self.tombstones  # retired about in last_ts order: the oldest first
        while tombstones and now - tombstones[0].last_ts > limits.tombstone_timeout:
            self._forget(tombstones.popleft())
        live: list[TcpConnection] = []
        for conn in list(self.live.values()):
            quiet = now - conn.last_ts
            if conn.closed:
                if quiet > limits.close_grace:
                    done.append(conn)
            elif quiet > limits.idle_timeout:
                done.append(conn)
                self._forget(conn)
            else:
                live.append(conn)
        excess = len(live) - limits.max_connections
        if excess > 0:
            live.sort(key=lambda c: c.last_ts)
            for conn in live[:excess + limits.max_connections // 10]:
                done.append(conn)
                self._forget(conn)
                self.evicted += 1
        done.sort(key=lambda c: c.id)
        reported = {c.id for c in done}
        self.lowest_open = next((cid for cid in self.live if cid not in reported), self.next_id)
        return done

    def drain(self) -> list[TcpConnection]:
        """Every connection not yet reported (end of capture)."""
        out: dict[int, TcpConnection] = {c.id: c for c in self.expired}
        out.update(self.live)
        self.expired = []
        self.flows.clear()
        self.live.clear()
        self.tombstones.clear()
        self.lowest_open = self.next_id
        return [out[k] for k in sorted(out)]

    def __len__(self) -> int:
        return len(self.flows) // 2


__all__ = ["CLIENT", "SERVER", "Endpoint", "FlowTable", "Limits", "StreamEnd", "TcpConnection"]
