"""TCP connections: canonical flow keys, client/server roles, port reuse, eviction.

A `FlowTable` maps both directional 4-tuples of a connection to it, so each packet costs one
dict lookup. Connections are handed back when they end (both FINs, RST), go idle, or the table
is over its cap (`Limits.max_connections`: the idlest are evicted, their `end_reason` says so
and one capture warning names the cap); their buffers are freed then and a tombstone swallows
late packets. A connection that only ever sent a SYN holds a few hundred bytes: addresses stay
raw until reported and buffers are made when first needed (bench/README.md has the figure).
"""

from __future__ import annotations

import ipaddress
from array import array
from collections import deque
from dataclasses import dataclass
from typing import Any, Final

from analyzer.limits import Limits
from analyzer.net.decode import ACK, FIN, RST, SYN, Segment
from analyzer.net.tcp import RECENT_QUIET, Event, HalfStream, PendingBudget, StreamEnd

CLIENT: Final = 0  # directions: 0 = from the client, 1 = from the server
SERVER: Final = 1


@dataclass(frozen=True, slots=True)
class Endpoint:
    ip: str
    port: int


def ip_text(raw: bytes) -> str:
    if len(raw) == 4:  # the common case, without building an ipaddress object
        return f"{raw[0]}.{raw[1]}.{raw[2]}.{raw[3]}"
    return str(ipaddress.ip_address(raw))  # IPv6: RFC 5952 text


class TcpConnection:
    """One TCP connection: two half-streams and the facts the report needs."""

    __slots__ = ("id", "key", "role_source", "halves", "isn", "first_frame", "last_frame", "first_ts",
                 "last_ts", "packets", "finished", "app", "syn_seen", "end_reason", "rkey", "rst_from")

    def __init__(self, cid: int, key: tuple, role_source: str, limits: Limits, frame: int, ts: float,
                 budget: PendingBudget | None = None, discard: bool = False) -> None:
        self.id = cid
        self.key = key  # (client ip, server ip, client port, server port), addresses raw: its flow-table key
        self.rkey = (key[1], key[0], key[3], key[2])  # the server's direction
        self.role_source = role_source  # "syn", "syn-ack" or "port" (lower port is the server)
        budget = budget or PendingBudget(limits.max_pending_total)
        # () once the connection is reported: a tombstone keeps no stream state
        self.halves: tuple[HalfStream, ...] = (
            HalfStream(CLIENT, limits.max_pending_bytes, limits.max_pending_segments, budget),
            HalfStream(SERVER, limits.max_pending_bytes, limits.max_pending_segments, budget))
        if discard:  # nobody reads the bytes (--depth tcp): count them only
            self.halves[0].discard = self.halves[1].discard = True
        self.isn: list[int | None] = [None, None]
        self.first_frame = self.last_frame = frame
        self.first_ts = self.last_ts = ts
        self.packets = 0
        self.finished = False
        self.syn_seen = False
        self.end_reason = ""
        self.rst_from: int | None = None  # the direction whose segment carried the first RST
        self.app: Any = None  # the consumer of this connection's events (the TLS layer)

    @property
    def client(self) -> Endpoint:
        return Endpoint(ip_text(self.key[0]), self.key[2])

    @property
    def server(self) -> Endpoint:
        return Endpoint(ip_text(self.key[1]), self.key[3])

    @property
    def keys(self) -> tuple[tuple, tuple]:
        """The flow-table keys of both directions."""
        return self.key, self.rkey

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
            if self.rst_from is None:
                self.rst_from = d
            for h in self.halves:
                h.finish("rst", frame, ts, out)
        elif flags & FIN:
            if half.next_seq is None:
                half.start(seq)
            half.fin_off = half.offset_of(seq + len(seg.payload))
        if half.fin_off is not None and not half.ended and not half.order \
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

    def __init__(self, limits: Limits | None = None, discard: bool = False) -> None:
        self.limits = limits or Limits()
        self.discard = discard  # connections' bytes are only counted (see HalfStream.discard)
        self.flows: dict[tuple, tuple[TcpConnection, int]] = {}
        self.next_id = 0
        self.evicted = 0
        self.reused = 0  # connections whose ports a new SYN took before they closed
        self.warnings: list[str] = []
        self.budget = PendingBudget(self.limits.max_pending_total)
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
                if not over:
                    conn.end_reason = conn.end_reason or "idle"
                self._expire(conn)  # long over: the ports are free for a new connection
            elif not (seg.flags & SYN) or seg.flags & ACK or conn.isn[d] in (None, seg.seq):
                if conn.finished or (conn.closed and quiet > self.limits.close_grace):
                    return None  # a late packet of a connection that is over
                return hit
            else:
                if not (over or conn.halves[d].fin_off is not None or conn.end_reason):
                    # a new SYN with another ISN on a live connection: port reuse all the same
                    conn.end_reason = "ports reused"
                    self.reused += 1
                    if self.reused <= self.limits.max_capture_warnings:
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
        """The connection was reported: from now on a tombstone (see `lookup`), if its ports still
        lead to it (an evicted or expired one is forgotten already: nothing to swallow). Past
        max_tombstones the oldest goes, whatever its age: each holds about 800 bytes, and a busy
        capture closes thousands a second (so memory stays flat however many connections end)."""
        conn.finished = True
        self.live.pop(conn.id, None)
        hit = self.flows.get(conn.key)
        if hit is None or hit[0] is not conn:
            return
        self.tombstones.append(conn)
        if len(self.tombstones) > self.limits.max_tombstones:
            self._forget(self.tombstones.popleft())

    def _create(self, key: tuple, seg: Segment, frame: int, ts: float) -> tuple[TcpConnection, int]:
        if seg.flags & SYN and not seg.flags & ACK:
            d, source = CLIENT, "syn"
        elif seg.flags & SYN:
            d, source = SERVER, "syn-ack"
        elif seg.sport < seg.dport:
            d, source = SERVER, "port"
        else:
            d, source = CLIENT, "port"
        rkey = (seg.dst, seg.src, seg.dport, seg.sport)
        conn = TcpConnection(self.new_id(frame), key if d == CLIENT else rkey, source, self.limits, frame, ts,
                             self.budget, self.discard)
        self.flows[key] = (conn, d)
        self.flows[rkey] = (conn, 1 - d)
        self.live[conn.id] = conn
        return conn, d

    def new_id(self, frame: int) -> int:
        """The next connection id, in creation order (UDP flows, analyzer/net/udp.py, take theirs here too)."""
        cid = self.next_id
        self.next_id += 1
        self.first_frames.append(frame)
        return cid

    def _forget(self, conn: TcpConnection) -> None:
        for key in (conn.key, conn.rkey):
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
                conn.end_reason = conn.end_reason or "idle"
                done.append(conn)
                self._forget(conn)
            else:
                live.append(conn)
                if quiet > RECENT_QUIET:
                    for half in conn.halves:
                        half.recent = None
        excess = len(live) - limits.max_connections
        if excess > 0:  # down to 3/4 of the cap: the next sorting of every open connection is far off
            live.sort(key=lambda c: c.last_ts)
            for conn in live[:excess + limits.max_connections // 4]:
                conn.end_reason = conn.end_reason or "evicted"
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

    def summary(self) -> list[str]:
        """The capture's warnings about connections, the counted ones last (once, at the end)."""
        notes = list(self.warnings)
        hidden = self.reused - self.limits.max_capture_warnings
        if hidden > 0:
            notes.append(f"{hidden} more connections had their ports reused before they closed (warnings about "
                         f"them stop at {self.limits.max_capture_warnings}: max_capture_warnings)")
        if self.evicted:
            notes.append(f"{self.evicted} connections evicted before they ended: more than "
                         f"{self.limits.max_connections} were open at once (max_connections); the idlest went first "
                         "and each says 'evicted' as its end")
        return notes


__all__ = ["CLIENT", "SERVER", "Endpoint", "FlowTable", "Limits", "StreamEnd", "TcpConnection"]  # Limits: its old home
