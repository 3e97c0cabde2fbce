"""IPv4/IPv6 fragment reassembly for the packet decoder (net/decode.py), bounded: what a sender
can make us hold is capped by `Limits` (fragments per datagram, datagrams, bytes)."""

from __future__ import annotations

from collections import Counter, OrderedDict
from heapq import heappop, heappush
from typing import Final

from analyzer.limits import Limits

FRAGMENT_OVERHEAD: Final = 240  # bytes of Python objects per fragment held (tuples, ints, heap entry), charged too


class _Datagram:
    """The fragments of one IP datagram seen so far."""

    __slots__ = ("parts", "heads", "filled", "total", "held", "conflicts")

    def __init__(self) -> None:
        self.parts: list[tuple[int, int, bytes]] = []  # (offset, arrival, bytes)
        self.heads: list[tuple[int, int]] = []  # heap of (offset, end) not yet joined to [0, filled)
        self.filled = 0  # bytes [0, filled) are all here
        self.total: int | None = None  # known from the last fragment (MF clear)
        self.held = 0
        self.conflicts = 0  # fragments that disagreed with bytes already there, or a second last fragment


class FragmentCache:
    """Reassembles IPv4/IPv6 fragments in O(log n) a fragment, with bounded memory.

    Overlaps resolve as Wireshark does: the fragment with the lower offset wins, then the one that
    arrived first; a fragment that disagrees with what it overlaps is counted (`conflicts`). Per
    datagram at most `Limits.max_fragments` fragments and 64 KiB of payload (twice that held,
    for overlaps); over all datagrams `max_fragment_sets` and `max_fragment_bytes`, the oldest
    dropped first. Every dropped set is counted by cause in `dropped`, its frames in `frames_lost`.
    """

    MAX_DATAGRAM: Final = 65535 + 1024  # an IPv4/IPv6 payload cannot be longer (slack for odd stacks)

    def __init__(self, limits: Limits | None = None) -> None:
        limits = limits or Limits()
        self.max_sets = limits.max_fragment_sets
        self.max_fragments = limits.max_fragments
        self.max_bytes = limits.max_fragment_bytes
        self.pending: OrderedDict[tuple, _Datagram] = OrderedDict()
        self.held = 0  # bytes held over all datagrams, each fragment's bookkeeping counted too
        self.dropped: Counter[str] = Counter()  # datagrams given up, by Limits field or reason
        self.frames_lost = 0  # fragments (frames) of datagrams given up
        self.conflicts = 0  # datagrams reassembled although some fragments disagreed

    def add(self, key: tuple, offset: int, more: bool, data: bytes) -> bytes | None:
        """Store one fragment; return the whole payload once every piece is there."""
        entry = self.pending.get(key)
        if entry is None:
            if len(self.pending) >= self.max_sets:
                self._drop(next(iter(self.pending)), "max_fragment_sets")
            entry = self.pending[key] = _Datagram()
        end = offset + len(data)
        if end > self.MAX_DATAGRAM:
            self._drop(key, "longer than an IP datagram can be")
            self.frames_lost += 1
            return None
        if len(entry.parts) >= self.max_fragments or entry.held + len(data) > 2 * self.MAX_DATAGRAM:
            self._drop(key, "max_fragments")
            self.frames_lost += 1
            return None
        entry.parts.append((offset, len(entry.parts), data))
        entry.held += len(data)
        self.held += len(data) + FRAGMENT_OVERHEAD
        if not more:
            if entry.total is None:
                entry.total = end
            elif entry.total != end:
                entry.conflicts += 1  # a second last fragment: the first one's length stands
        heads = entry.heads
        heappush(heads, (offset, end))
        while heads and heads[0][0] <= entry.filled:
            entry.filled = max(entry.filled, heappop(heads)[1])
        while self.held > self.max_bytes and self.pending:
            oldest = next(iter(self.pending))
            self._drop(oldest, "max_fragment_bytes")
            if oldest == key:
                return None
        total = entry.total
        if total is None or entry.filled < total:
            return None
        del self.pending[key]
        self.held -= entry.held + FRAGMENT_OVERHEAD * len(entry.parts)
        out = bytearray()
        for off, _arrival, piece in sorted(entry.parts):  # lower offset first, then first to arrive
            pos = len(out)
            if off + len(piece) <= pos or off >= total:
                if off < total and out[off:off + len(piece)] != piece[:total - off]:
                    entry.conflicts += 1
                continue
            if off < pos and out[off:pos] != piece[:pos - off]:
                entry.conflicts += 1
            out += piece[pos - off:]
        if entry.conflicts:
            self.conflicts += 1
        return bytes(out[:total])

    def _drop(self, key: tuple, why: str) -> None:
        entry = self.pending.pop(key)
        self.held -= entry.held + FRAGMENT_OVERHEAD * len(entry.parts)
        self.dropped[why] += 1
        self.frames_lost += len(entry.parts)

    def finish(self) -> None:
        """The capture ended: what is still waiting never completed."""
        for key in list(self.pending):
            self._drop(key, "incomplete")

    def summary(self) -> list[str]:
        """Capture warnings: datagrams given up because of a limit, overlaps that disagreed."""
        notes = []
        for why, count in sorted(self.dropped.items()):
            if why.startswith("max_"):
                notes.append(f"{count} IP datagrams dropped unassembled: {why} reached")
            elif why != "incomplete":
                notes.append(f"{count} IP datagrams dropped unassembled: {why}")
        if self.conflicts:
            notes.append(f"{self.conflicts} IP datagrams had overlapping fragments that disagree: the fragment "
                         "with the lower offset, then the first to arrive, was kept (as Wireshark does)")
        return notes
