"""TCP reassembly for one direction of one connection: segments in, ordered bytes and gaps out.

Offsets are stream offsets (bytes since the first sequence number we saw), unbounded ints, so
sequence wrap-around is invisible above this module. Overlaps: the first copy wins, as in most
stacks; a copy that disagrees with what was kept is reported. Missing bytes are never invented:
they become a `Gap`, and delivery continues after it.

Segments that arrive ahead of a hole wait in a dict by offset with a heap of their offsets, so
the lowest is found in O(log n) whatever order a sender chooses. What waits is capped per
direction (bytes and segments) and over all connections (`PendingBudget`); past a cap the hole
is declared a gap, and the one `TcpAnomaly` says which cap (`Limits` names).
"""

from __future__ import annotations

from dataclasses import dataclass
from heapq import heappop, heappush
from typing import Final

SEQ_MOD: Final = 1 << 32
HALF: Final = 1 << 31
RECENT_SEGMENTS: Final = 8  # delivered segments remembered to recognise conflicting retransmissions
RECENT_QUIET: Final = 10.0  # a direction quiet this long forgets them (FlowTable.sweep): idle costs little


@dataclass(slots=True, init=False)
class StreamData:
    """In-order bytes of one direction."""

    direction: int  # 0: client to server, 1: server to client (as far as the TCP layer knows)
    offset: int
    data: bytes
    frame: int
    ts: float

    def __init__(self, direction: int, offset: int, data: bytes, frame: int, ts: float) -> None:
        self.direction, self.offset, self.data, self.frame, self.ts = direction, offset, data, frame, ts


@dataclass(frozen=True, slots=True)
class Gap:
    """Bytes [offset, offset+length) of a direction never appeared in the capture."""

    direction: int
    offset: int
    length: int
    frame: int


@dataclass(frozen=True, slots=True)
class StreamEnd:
    direction: int
    reason: str  # "fin", "rst", "capture end", "evicted"
    frame: int


@dataclass(frozen=True, slots=True)
class TcpAnomaly:
    """Something odd but not fatal: a conflicting overlap, an exceeded cap (`limit` names it:
    a connection reports each limit once)."""

    direction: int
    frame: int
    text: str
    limit: str = ""


Event = StreamData | Gap | StreamEnd | TcpAnomaly


class PendingBudget:
    """Out-of-order bytes held by every direction of every connection, against one cap."""

    __slots__ = ("held", "limit")

    def __init__(self, limit: int) -> None:
        self.held = 0
        self.limit = limit


_NO_BUDGET: Final = PendingBudget(1 << 62)
_OVER_BYTES: Final = 1
_OVER_SEGMENTS: Final = 2
_OVER_TOTAL: Final = 4


class HalfStream:
    """Reassembles one direction. `next_seq`/`next_off` are the next byte we expect to deliver.

    Idle directions stay small (a connection that only sent a SYN holds no buffers): `pending`,
    `order` and `recent` are made when first needed."""

    __slots__ = ("direction", "next_seq", "next_off", "pending", "order", "pending_bytes", "max_pending",
                 "max_segments", "budget", "warned", "recent", "fin_off", "ended", "delivered", "gap_bytes",
                 "discard")

    def __init__(self, direction: int, max_pending: int, max_segments: int = 1 << 62,
                 budget: PendingBudget = _NO_BUDGET) -> None:
        self.direction = direction
        self.next_seq: int | None = None
        self.next_off = 0
        self.pending: dict[int, tuple[bytes, int, float]] | None = None  # offset -> (bytes, frame, ts)
        self.order: list[int] | None = None  # heap of the offsets in `pending`: its lowest in O(log n)
        self.pending_bytes = 0
        self.max_pending = max_pending
        self.max_segments = max_segments
        self.budget = budget
        self.warned = 0  # _OVER_* bits: caps this direction already reported
        self.recent: list[tuple[int, bytes]] | None = None  # the last RECENT_SEGMENTS delivered
        self.fin_off: int | None = None
        self.ended = False
        self.delivered = 0
        self.gap_bytes = 0
        self.discard = False  # the consumer does not want this direction's bytes any more

    def start(self, isn_next: int) -> None:
        """Anchor the stream: `isn_next` is the sequence number of the first data byte."""
        if self.next_seq is None:
            self.next_seq = isn_next & 0xFFFFFFFF

    def offset_of(self, seq: int) -> int:
        """Stream offset of a sequence number, unwrapped around the next expected byte."""
        d = (seq - self.next_seq) & 0xFFFFFFFF  # type: ignore[operator]
        if d >= HALF:
            d -= SEQ_MOD
        return self.next_off + d

    def segment(self, seq: int, payload: bytes, frame: int, ts: float, out: list) -> None:
        """Take one segment's payload; append resulting events to `out`."""
        if self.next_seq is None:
            self.start(seq)  # mid-stream start: the first byte we see is offset 0
        if self.ended:
            return
        off = self.offset_of(seq)
        end = off + len(payload)
        if end <= self.next_off:
            if not (len(payload) <= 1 and end == self.next_off):  # keep-alive probes carry junk
                self._check_old(off, payload, frame, out)  # retransmission of delivered bytes
            return
        if off < self.next_off:
            self._check_old(off, payload[:self.next_off - off], frame, out)
            payload = payload[self.next_off - off:]
            off = self.next_off
        if off == self.next_off:
            self._deliver(off, payload, frame, ts, out)
            if self.order:
                self._drain(frame, ts, out)
        else:
            self._hold(off, payload, frame, ts, out)

    def _deliver(self, off: int, data: bytes, frame: int, ts: float, out: list) -> None:
        n = len(data)
        self.next_off = off + n
        self.next_seq = (self.next_seq + n) & 0xFFFFFFFF  # type: ignore[operator]
        self.delivered += n
        if not self.discard:
            recent = self.recent
            if recent is None:
                self.recent = [(off, data)]
            else:
                if len(recent) >= RECENT_SEGMENTS:
                    del recent[0]
                recent.append((off, data))
            out.append(StreamData(self.direction, off, data, frame, ts))

    def _hold(self, off: int, data: bytes, frame: int, ts: float, out: list) -> None:
        pending, order = self.pending, self.order
        if pending is None or order is None:
            pending, order = self.pending, self.order = {}, []
        held = pending.get(off)
        if held is not None:
            kept = held[0]
            common = min(len(kept), len(data))
            if kept[:common] != data[:common]:
                out.append(TcpAnomaly(self.direction, frame,
                                      f"conflicting overlap at offset {off}: first copy kept"))
            if len(data) <= len(kept):
                return
            data = kept + data[len(kept):]
            self._held(-len(kept))
        else:
            heappush(order, off)
        pending[off] = (data, frame, ts)
        self._held(len(data))
        over = self._over_cap()
        while over and order:  # the lowest hole becomes a gap, until under every cap
            if not self.warned & over:
                self.warned |= over
                out.append(self._over(over, frame))
            self.skip_to(order[0], frame, out)
            self._drain(frame, ts, out)
            over = self._over_cap()

    def _over_cap(self) -> int:
        if self.pending_bytes > self.max_pending:
            return _OVER_BYTES
        if self.order is not None and len(self.order) > self.max_segments:
            return _OVER_SEGMENTS
        if self.budget.held > self.budget.limit:
            return _OVER_TOTAL
        return 0

    def _over(self, over: int, frame: int) -> TcpAnomaly:
        if over == _OVER_BYTES:
            what, limit = f"more than {self.max_pending} out-of-order bytes", "max_pending_bytes"
        elif over == _OVER_SEGMENTS:
            what, limit = f"more than {self.max_segments} out-of-order segments", "max_pending_segments"
        else:
            what, limit = f"more than {self.budget.limit} out-of-order bytes over all connections", "max_pending_total"
        return TcpAnomaly(self.direction, frame, f"{what} held ({limit}): "
                          "bytes missing before them are declared a gap", limit)

    def _held(self, n: int) -> None:
        self.pending_bytes += n
        self.budget.held += n

    def _drain(self, frame: int, ts: float, out: list) -> None:
        """Deliver held segments that now touch the delivered stream.

        Each keeps the frame that carried it: a message's frame is the one with its last byte.
        """
        pending, order = self.pending, self.order
        if pending is None or order is None:
            return
        while order and order[0] <= self.next_off:
            off = heappop(order)
            data, held_frame, held_ts = pending.pop(off)
            self._held(-len(data))
            if off + len(data) <= self.next_off:
                continue
            self._deliver(self.next_off, data[self.next_off - off:], held_frame, held_ts, out)

    def skip_to(self, off: int, frame: int, out: list) -> None:
        """Declare [next_off, off) missing and continue after it."""
        if off <= self.next_off:
            return
        length = off - self.next_off
        self.gap_bytes += length
        if not self.discard:
            out.append(Gap(self.direction, self.next_off, length, frame))
        self.next_seq = (self.next_seq + length) & 0xFFFFFFFF  # type: ignore[operator]
        self.next_off = off

    def acked(self, ack: int, frame: int, ts: float, out: list) -> None:
        """The peer acknowledged up to `ack`: bytes before it that we never saw are lost to us."""
        if self.next_seq is None or self.ended:
            return
        off = self.offset_of(ack)
        if self.fin_off is not None and off > self.fin_off:
            off = self.fin_off  # the FIN itself consumes a sequence number
        order = self.order
        if off > self.next_off and (not order or order[0] >= self.next_off):
            first = order[0] if order else off
            self.skip_to(min(off, first), frame, out)
            if order:
                self._drain(frame, ts, out)

    def finish(self, reason: str, frame: int, ts: float, out: list) -> None:
        """End of this direction: flush held data across any holes, then `StreamEnd`."""
        if self.ended:
            return
        order = self.order
        while order:
            self.skip_to(order[0], frame, out)
            self._drain(frame, ts, out)
        if self.fin_off is not None and self.fin_off > self.next_off and reason == "fin":
            self.skip_to(self.fin_off, frame, out)
        self.ended = True
        self.recent = self.pending = self.order = None
        out.append(StreamEnd(self.direction, reason, frame))

    def _check_old(self, off: int, data: bytes, frame: int, out: list) -> None:
        if self.recent is None:
            return
        for r_off, r_data in self.recent:
            lo, hi = max(off, r_off), min(off + len(data), r_off + len(r_data))
            if lo < hi and data[lo - off:hi - off] != r_data[lo - r_off:hi - r_off]:
                out.append(TcpAnomaly(self.direction, frame,
                                      f"conflicting retransmission at offset {lo}: first copy kept"))
                return
