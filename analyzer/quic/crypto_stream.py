"""CRYPTO stream reassembly for one encryption level of one side: bytes by offset in, the
contiguous stream out, like TCP reassembly and with the same rules.

- Out of order: held until the bytes before them arrive.
- Duplicated or overlapping: the first copy wins; a later copy with different bytes is a conflict,
  reported with its offset (checked against the pieces held and the last MAX_HISTORY bytes
  delivered).
- Missing: never invented. `gaps()` names the holes still open (the caller reports them).
- Bounded: data beyond MAX_OFFSET, or held past MAX_PENDING bytes or MAX_PIECES pieces, is dropped
  and reported naming the limit; memory stays within MAX_PENDING + MAX_HISTORY per stream.
"""

from __future__ import annotations

from typing import Final

MAX_OFFSET: Final = 1 << 20  # CRYPTO data beyond 1 MiB of a level is not a TLS handshake: dropped
MAX_PENDING: Final = 256 << 10  # out-of-order CRYPTO bytes held per level and side
MAX_PIECES: Final = 512  # out-of-order pieces held per level and side
MAX_HISTORY: Final = 16 << 10  # delivered bytes kept to check retransmissions against


class CryptoStream:
    __slots__ = ("delivered", "history", "pending", "pending_bytes", "problems")

    def __init__(self) -> None:
        self.delivered = 0  # stream offset up to which bytes were handed out
        self.history = bytearray()  # the last delivered bytes, ending at `delivered`
        self.pending: dict[int, bytes] = {}  # offset -> bytes beyond `delivered`; pieces never overlap
        self.pending_bytes = 0
        self.problems: list[str] = []  # conflicts and limits met by the last `add`

    def add(self, offset: int, data: bytes) -> bytes:
        """Take one CRYPTO frame's data; return the bytes that became contiguous (maybe none).
        Conflicts and limits met are left in `problems` (cleared on each call)."""
        self.problems = []
        if offset + len(data) > MAX_OFFSET:
            self.problems.append(f"CRYPTO data at offset {offset} ({len(data)} bytes) is beyond the "
                                 f"{MAX_OFFSET}-byte limit of a level; dropped")
            return b""
        if offset < self.delivered:  # a retransmission, at least in part
            self._check_history(offset, data)
            if offset + len(data) <= self.delivered:
                return b""
            data = data[self.delivered - offset:]
            offset = self.delivered
        for o, piece in self._uncovered(offset, data):
            if o != self.delivered and (self.pending_bytes + len(piece) > MAX_PENDING or
                                        len(self.pending) >= MAX_PIECES):  # contiguous data always goes on
                self.problems.append(f"out-of-order CRYPTO data past the limit of {MAX_PENDING} bytes / "
                                     f"{MAX_PIECES} pieces held; {len(piece)} bytes at offset {o} dropped")
                continue
            self.pending[o] = piece
            self.pending_bytes += len(piece)
        out = bytearray()
        while (nxt := self.pending.pop(self.delivered, None)) is not None:
            self.pending_bytes -= len(nxt)
            out += nxt
            self.delivered += len(nxt)
        if out:
            self.history += out
            if len(self.history) > MAX_HISTORY:
                del self.history[:len(self.history) - MAX_HISTORY]
        return bytes(out)

    def gaps(self) -> list[tuple[int, int]]:
        """(offset, length) of each hole before held data: bytes that never arrived."""
        holes = []
        at = self.delivered
        for o in sorted(self.pending):
            if o > at:
                holes.append((at, o - at))
            at = max(at, o + len(self.pending[o]))
        return holes

    def _check_history(self, offset: int, data: bytes) -> None:
        start = self.delivered - len(self.history)
        lo, hi = max(offset, start), min(offset + len(data), self.delivered)
        if lo < hi and self.history[lo - start:hi - start] != data[lo - offset:hi - offset]:
            self.problems.append(f"CRYPTO bytes at offset {lo} retransmitted with different content; "
                                 "first copy kept")

    def _uncovered(self, offset: int, data: bytes) -> list[tuple[int, bytes]]:
        """The parts of data no held piece covers (held pieces came first and win); overlaps
        with different bytes are reported."""
        pieces = [(offset, data)]
        for o, held in self.pending.items():
            hend = o + len(held)
            kept = []
            for s, d in pieces:
                e = s + len(d)
                lo, hi = max(s, o), min(e, hend)
                if lo >= hi:
                    kept.append((s, d))
                    continue
                if held[lo - o:hi - o] != d[lo - s:hi - s]:
                    self.problems.append(f"CRYPTO bytes at offset {lo} arrived twice with different content; "
                                         "first copy kept")
                if s < lo:
                    kept.append((s, d[:lo - s]))
                if hi < e:
                    kept.append((hi, d[hi - s:]))
            pieces = kept
            if not pieces:
                break
        return [(s, d) for s, d in pieces if d]
