"""TCP reassembly for one direction of one connection: segments in, ordered bytes and gaps out.

Offsets are stream offsets (bytes since the first sequence number we saw), unbounded ints, so
sequence wrap-around is invisible above this module. Overlaps: the first copy wins, as in most
stacks; a copy that disagrees with what was kept is reported. Missing bytes are never invented:
they become a `Gap`, and delivery continues after it.
"""

from __future__ import annotations

from typing import Final

from collections import deque
from dataclasses import dataclass

SEQ_MOD: Final = 1 << 32
HALF: Final = 1 << 31
RECENT_SEGMENTS: Final = 8  # delivered segments remembered to recognise conflicting retransmissions


@dataclass(slots=True, init=False)
class StreamData:
    """In-order bytes of one direction. (A written __init__: see analyzer/native.py.)"""

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
    """Something odd but not fatal: a conflicting overlap, an exceeded buffer cap."""

    direction: int
    frame: int
    text: str


Event = StreamData | Gap | StreamEnd | TcpAnomaly


class HalfStream:
    """Reassembles one direction. `next_seq`/`next_off` are the next byte we expect to deliver."""

    __slots__ = ("direction", "next_seq", "next_off", "pending", "pending_bytes", "max_pending",
                 "recent", "fin_off", "ended", "delivered", "gap_bytes", "discard")

    def __init__(self, direction: int, max_pending: int) -> None:
        self.direction = direction
        self.next_seq: int | None = None
        self.next_off = 0
        self.pending: dict[int, tuple[bytes, int, float]] = {}  # offset -> (bytes, frame, ts)
        self.pending_bytes = 0
        self.max_pending = max_pending
        self.recent: deque[tuple[int, bytes]] = deque(maxlen=RECENT_SEGMENTS)
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
            if self.pending:
                self._drain(frame, ts, out)
        else:
            self._hold(off, payload, frame, ts, out)

    def _deliver(self, off: int, data: bytes, frame: int, ts: float, out: list) -> None:
        n = len(data)
        self.next_off = off + n
        self.next_seq = (self.next_seq + n) & 0xFFFFFFFF  # type: ignore[operator]
        self.delivered += n
        if not self.discard:
            self.recent.append((off, data))
            out.append(StreamData(self.direction, off, data, frame, ts))

    def _hold(self, off: int, data: bytes, frame: int, ts: float, out: list) -> None:
        held = self.pending.get(off)
        if held is not None:
            kept = held[0]
            common = min(len(kept), len(data))
            if kept[:common] != data[:common]:
                out.append(TcpAnomaly(self.direction, frame,
                                      f"conflicting overlap at offset {off}: first copy kept"))
            if len(data) <= len(kept):
                return
            data = kept + data[len(kept):]
            self.pending_bytes -= len(kept)
        self.pending[off] = (data, frame, ts)
        self.pending_bytes += len(data)
        if self.pending_bytes > self.max_pending:
            out.append(TcpAnomaly(self.direction, frame,
                                  f"out-of-order buffer over {self.max_pending} bytes: "
                                  "the missing bytes are declared a gap"))
            self.skip_to(min(self.pending), frame, out)
            self._drain(frame, ts, out)

    def _drain(self, frame: int, ts: float, out: list) -> None:
        """Deliver held segments that now touch the delivered stream.

        Each keeps the frame that carried it: a message's frame is the one with its last byte.
        """
        pending = self.pending
        while pending:
            off = min(pending)
            if off > self.next_off:
                return
            data, held_frame, held_ts = pending.pop(off)
            self.pending_bytes -= len(data)
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
        if off > self.next_off and (not self.pending or min(self.pending) >= self.next_off):
            first = min(self.pending) if self.pending else off
            self.skip_to(min(off, first), frame, out)
            if self.pending:
                self._drain(frame, ts, out)

    def finish(self, reason: str, frame: int, ts: float, out: list) -> None:
        """End of this direction: flush held data across any holes, then `StreamEnd`."""
        if self.ended:
            return
        while self.pending:
            self.skip_to(min(self.pending), frame, out)
            self._drain(frame, ts, out)
        if self.fin_off is not None and self.fin_off > self.next_off and reason == "fin":
            self.skip_to(self.fin_off, frame, out)
        self.ended = True
        self.recent.clear()
        out.append(StreamEnd(self.direction, reason, frame))

    def _check_old(self, off: int, data: bytes, frame: int, out: list) -> None:
        for r_off, r_data in self.recent:
            lo, hi = max(off, r_off), min(off + len(data), r_off + len(r_data))
            if lo < hi and data[lo - off:hi - off] != r_data[lo - r_off:hi - r_off]:
                out.append(TcpAnomaly(self.direction, frame,
                                      f"conflicting retransmission at offset {lo}: first copy kept"))
                return
