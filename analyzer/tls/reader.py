"""A bounds-checked cursor over bytes: every length prefix is checked against its enclosing block.

Reading past the end raises `DecodeError` with the offset, so a hostile length can never make a
decoder read another message's bytes or allocate what the packet merely claims.
"""

from __future__ import annotations

import struct
from typing import Final

from analyzer.errors import DecodeError

_U16: Final = struct.Struct("!H").unpack_from
_U32: Final = struct.Struct("!I").unpack_from


class Cursor:
    __slots__ = ("buf", "pos", "end")

    def __init__(self, buf: bytes, pos: int = 0, end: int | None = None) -> None:
        self.buf = buf
        self.pos = pos
        self.end = len(buf) if end is None else end

    @property
    def remaining(self) -> int:
        return self.end - self.pos

    def _short(self, n: int, what: str) -> DecodeError:
        return DecodeError(f"{what}: needs {n} bytes, {self.end - self.pos} left", self.pos)

    # Each reader checks bounds inline: these run millions of times on a large capture.
    def u8(self, what: str = "u8") -> int:
        p = self.pos
        if p >= self.end:
            raise self._short(1, what)
        self.pos = p + 1
        return self.buf[p]

    def u16(self, what: str = "u16") -> int:
        p = self.pos
        if p + 2 > self.end:
            raise self._short(2, what)
        self.pos = p + 2
        b = self.buf
        return (b[p] << 8) | b[p + 1]

    def u24(self, what: str = "u24") -> int:
        p = self.pos
        if p + 3 > self.end:
            raise self._short(3, what)
        self.pos = p + 3
        b = self.buf
        return (b[p] << 16) | (b[p + 1] << 8) | b[p + 2]

    def u32(self, what: str = "u32") -> int:
        p = self.pos
        if p + 4 > self.end:
            raise self._short(4, what)
        self.pos = p + 4
        return _U32(self.buf, p)[0]

    def take(self, n: int, what: str = "bytes") -> bytes:
        p = self.pos
        if p + n > self.end:
            raise self._short(n, what)
        self.pos = p + n
        return bytes(self.buf[p:p + n])

    def length(self, width: int, what: str) -> int:
        """A big-endian length prefix of 1, 2 or 3 bytes."""
        p = self.pos
        if p + width > self.end:
            raise self._short(width, what)
        b = self.buf
        self.pos = p + width
        if width == 1:
            return b[p]
        if width == 2:
            return (b[p] << 8) | b[p + 1]
        return (b[p] << 16) | (b[p + 1] << 8) | b[p + 2]

    def opaque(self, width: int, what: str = "opaque") -> bytes:
        """A `<width>`-byte length prefix followed by that many bytes."""
        n = self.length(width, what)
        p = self.pos
        if p + n > self.end:
            raise self._short(n, what)
        self.pos = p + n
        return bytes(self.buf[p:p + n])

    def skip_opaque(self, width: int, what: str = "opaque") -> int:
        """Pass over a length-prefixed field without copying it; returns its length."""
        n = self.length(width, what)
        if self.pos + n > self.end:
            raise self._short(n, what)
        self.pos += n
        return n

    def block(self, width: int, what: str = "block") -> Cursor:
        """A sub-cursor over a length-prefixed block; this cursor moves past it."""
        n = self.length(width, what)
        p = self.pos
        if p + n > self.end:
            raise self._short(n, what)
        self.pos = p + n
        return Cursor(self.buf, p, p + n)

    def _need(self, n: int, what: str) -> int:
        p = self.pos
        if p + n > self.end:
            raise self._short(n, what)
        self.pos = p + n
        return p

    def u16_list(self, width: int, what: str = "list") -> list[int]:
        n = self.length(width, what)
        if n % 2:
            raise DecodeError(f"{what}: odd length {n}", self.pos)
        p = self._need(n, what)
        return list(struct.unpack_from(f"!{n // 2}H", self.buf, p))

    def u8_list(self, width: int, what: str = "list") -> list[int]:
        n = self.length(width, what)
        p = self._need(n, what)
        return list(self.buf[p:p + n])

    def rest(self) -> bytes:
        p, self.pos = self.pos, self.end
        return bytes(self.buf[p:self.end])

    def expect_end(self, what: str) -> None:
        if self.pos != self.end:
            raise DecodeError(f"{what}: {self.end - self.pos} trailing bytes", self.pos)


def text(raw: bytes) -> str:
    """Wire bytes as text: exact when UTF-8, otherwise invalid bytes shown as \\xNN escapes."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("utf-8", "backslashreplace")


def varint(buf: bytes, pos: int, end: int, what: str) -> tuple[int, int]:
    """A QUIC variable-length integer (RFC 9000 16) at buf[pos]: (value, position after it); raises
    DecodeError when it does not fit before `end`."""
    if pos >= end:
        raise DecodeError(f"{what}: needs a variable-length integer, 0 bytes left", pos)
    first = buf[pos]
    n = 1 << (first >> 6)
    if pos + n > end:
        raise DecodeError(f"{what}: {n}-byte integer, {end - pos} bytes left", pos)
    value = first & 0x3F
    for i in range(1, n):
        value = (value << 8) | buf[pos + i]
    return value, pos + n
