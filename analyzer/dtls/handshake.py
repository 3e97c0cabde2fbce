"""DTLS handshake fragments -> whole messages, per direction (RFC 6347 4.2.2-4.2.3, RFC 9147 5.2).

Each handshake record holds one or more fragments, each with a 12-byte header: msg_type(1)
length(3) message_seq(2) fragment_offset(3) fragment_length(3). A message is keyed by
(epoch, message_seq): the sequence restarts at 0 in a renegotiation, which runs in a later epoch.
Fragments arrive in any order, overlap, repeat; a message is complete when its bytes are covered.

What `Reassembler.add` says about a fragment:
- `Piece`: stored, the message is not complete yet (or it just completed: see `Complete`);
- `Complete`: the message is whole (its body), and whether it came in more than one fragment;
- `Repeat`: a copy of (part of) a message already completed: a retransmission;
- `Conflict`: it contradicts what an earlier fragment of the same message said (type, length or
  bytes), or exceeds a bound; it is dropped and the reason names the frame of the first copy.

Bounds, per direction: a message of at most MAX_MESSAGE bytes; pending (incomplete) messages hold
at most MAX_PENDING messages and MAX_PENDING_BYTES of claimed length between them (buffers are
allocated at the claimed length, so the claim is what is capped); completed messages remember their
bodies (to check retransmitted copies byte for byte) up to MAX_DONE_BYTES, their type, length and
digest up to MAX_DONE messages, oldest forgotten first.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

FRAGMENT_HEADER: Final = 12
MAX_MESSAGE: Final = 1 << 18
MAX_PENDING: Final = 32
MAX_PENDING_BYTES: Final = 1 << 18
MAX_DONE: Final = 256
MAX_DONE_BYTES: Final = 1 << 18
CLIENT_HELLO: Final = 1


@dataclass(frozen=True, slots=True)
class FragmentHeader:
    msg_type: int
    length: int
    message_seq: int
    offset: int
    fragment_length: int

    @property
    def whole(self) -> bool:
        return self.offset == 0 and self.fragment_length == self.length


def split_fragments(body: bytes) -> tuple[list[tuple[FragmentHeader, bytes]], str | None]:
    """The fragments of one handshake record, and why framing stopped early (None: it did not)."""
    out: list[tuple[FragmentHeader, bytes]] = []
    p, n = 0, len(body)
    while p < n:
        if n - p < FRAGMENT_HEADER:
            return out, f"{n - p} bytes left, too short for a handshake fragment header"
        b = body
        h = FragmentHeader(b[p], (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3], (b[p + 4] << 8) | b[p + 5],
                           (b[p + 6] << 16) | (b[p + 7] << 8) | b[p + 8], (b[p + 9] << 16) | (b[p + 10] << 8) | b[p + 11])
        start = p + FRAGMENT_HEADER
        if start + h.fragment_length > n:
            return out, (f"fragment_length {h.fragment_length} overruns the record "
                         f"({n - start} bytes left)")
        if h.offset + h.fragment_length > h.length:
            return out, (f"fragment {h.offset}+{h.fragment_length} lies beyond the message length "
                         f"{h.length}")
        out.append((h, bytes(body[start:start + h.fragment_length])))
        p = start + h.fragment_length
    return out, None


@dataclass(frozen=True, slots=True)
class Piece:
    pass


@dataclass(frozen=True, slots=True)
class Complete:
    body: bytes
    fragmented: bool  # it took more than one fragment
    replaced: bool  # a different message with this (epoch, message_seq) had completed before


@dataclass(frozen=True, slots=True)
class Repeat:
    first_frame: int  # frame of the copy that completed first


@dataclass(frozen=True, slots=True)
class Conflict:
    reason: str


Outcome = Piece | Complete | Repeat | Conflict


class _Pending:
    __slots__ = ("msg_type", "length", "data", "covered", "frame", "pieces")

    def __init__(self, msg_type: int, length: int, frame: int) -> None:
        self.msg_type, self.length, self.frame = msg_type, length, frame
        self.data = bytearray(length)
        self.covered: list[list[int]] = []  # sorted, disjoint [start, end) intervals
        self.pieces = 0

    def conflict(self, offset: int, data: bytes) -> bool:
        """Do the bytes already held where this fragment overlaps differ from it?"""
        end = offset + len(data)
        for s, e in self.covered:
            lo, hi = max(s, offset), min(e, end)
            if lo < hi and self.data[lo:hi] != data[lo - offset:hi - offset]:
                return True
        return False

    def add(self, offset: int, data: bytes) -> bool:
        """Store the bytes; True once the whole message is covered."""
        end = offset + len(data)
        self.data[offset:end] = data
        self.pieces += 1
        merged: list[list[int]] = []
        new = [offset, end]
        for iv in self.covered:
            if iv[1] < new[0] or iv[0] > new[1]:
                merged.append(iv)
            else:
                new = [min(iv[0], new[0]), max(iv[1], new[1])]
        merged.append(new)
        merged.sort()
        self.covered = merged
        return len(merged) == 1 and merged[0][0] == 0 and merged[0][1] == self.length


class _Done:
    __slots__ = ("msg_type", "length", "digest", "body", "frame")

    def __init__(self, msg_type: int, body: bytes, frame: int) -> None:
        self.msg_type, self.length, self.frame = msg_type, len(body), frame
        self.digest = hashlib.sha256(body).digest()
        self.body: bytes | None = body

    def matches(self, h: FragmentHeader, data: bytes) -> bool:
        if h.msg_type != self.msg_type or h.length != self.length:
            return False
        if self.body is not None:
            return self.body[h.offset:h.offset + h.fragment_length] == data
        if h.whole:
            return hashlib.sha256(data).digest() == self.digest
        return True  # body forgotten (bounded memory): type and length are all we can check


class Reassembler:
    """One direction's handshake messages; sans-IO, bounded (see the module docstring)."""

    def __init__(self) -> None:
        self.pending: dict[tuple[int, int], _Pending] = {}
        self.pending_bytes = 0
        self.done: OrderedDict[tuple[int, int], _Done] = OrderedDict()
        self.done_bytes = 0

    def add(self, epoch: int, h: FragmentHeader, data: bytes, frame: int) -> Outcome:
        key = (epoch, h.message_seq)
        done = self.done.get(key)
        if done is not None:
            if done.matches(h, data):
                return Repeat(done.frame)
            if h.msg_type == done.msg_type and h.msg_type != CLIENT_HELLO:
                return Conflict(f"{_what(h)} differs from the copy completed in frame {done.frame}")
            # a new message reusing the number: a client that started over, a stateless server
            # answering again after a HelloVerifyRequest
            self._forget(key)
            replaced = True
        else:
            replaced = False
        if h.length > MAX_MESSAGE:
            return Conflict(f"{_what(h)}: length {h.length} exceeds the {MAX_MESSAGE}-byte cap; skipped")
        if h.whole and key not in self.pending:
            self._remember(key, h.msg_type, data, frame)
            return Complete(data, False, replaced)
        pending = self.pending.get(key)
        if pending is None:
            if len(self.pending) >= MAX_PENDING or self.pending_bytes + h.length > MAX_PENDING_BYTES:
                return Conflict(f"{_what(h)}: more than {MAX_PENDING} messages or {MAX_PENDING_BYTES} bytes "
                                "wait for fragments; fragment dropped")
            pending = self.pending[key] = _Pending(h.msg_type, h.length, frame)
            self.pending_bytes += h.length
        elif h.msg_type != pending.msg_type or h.length != pending.length:
            return Conflict(f"{_what(h)} contradicts the fragment in frame {pending.frame} "
                            f"(type {pending.msg_type}, length {pending.length})")
        elif pending.conflict(h.offset, data):
            return Conflict(f"{_what(h)}: overlapping bytes differ from the fragment in frame {pending.frame}")
        if not pending.add(h.offset, data):
            return Piece()
        del self.pending[key]
        self.pending_bytes -= pending.length
        body = bytes(pending.data)
        self._remember(key, h.msg_type, body, frame)
        return Complete(body, pending.pieces > 1, replaced)

    def _remember(self, key: tuple[int, int], msg_type: int, body: bytes, frame: int) -> None:
        self.done[key] = _Done(msg_type, body, frame)
        self.done_bytes += len(body)
        for old in self.done.values():  # oldest first: forget bodies, then whole entries
            if self.done_bytes <= MAX_DONE_BYTES:
                break
            if old.body is not None:
                self.done_bytes -= len(old.body)
                old.body = None
        while len(self.done) > MAX_DONE:
            self._forget(next(iter(self.done)))

    def _forget(self, key: tuple[int, int]) -> None:
        old = self.done.pop(key)
        if old.body is not None:
            self.done_bytes -= len(old.body)


def _what(h: FragmentHeader) -> str:
    return (f"fragment {h.offset}+{h.fragment_length} of message_seq {h.message_seq} "
            f"(type {h.msg_type}, length {h.length})")
