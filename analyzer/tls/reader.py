"""A bounds-checked cursor over bytes: every length prefix is checked against its enclosing block.

Reading past the end raises `DecodeError` with the offset, so a hostile length can never make a
decoder read another message's bytes or allocate what the packet merely claims.
"""

from __future__ import annotations

import struct

from analyzer.errors import DecodeError

_U16 = struct.Struct("!H").unpack_from
_U32 = struct.Struct("!I").unpack_from


class Cursor:
    __slots__ = ("buf", "pos", "end")

    def __init__(self, buf: bytes, pos: int = 0, end: int | None = None) -> None:
        self.buf = buf
        self.pos = pos
        self.end = len(buf) if end is None else end

    @property
    def remaining(self) -> int:
        return self.end - self.pos

    def _need(self, n: int, what: str) -> int:
        p = self.pos
        if p + n > self.end:
            raise DecodeError(f"{what}: needs {n} bytes, {self.end - p} left", p)
        self.pos = p + n
        return p

    def u8(self, what: str = "u8") -> int:
        return self.buf[self._need(1, what)]

    def u16(self, what: str = "u16") -> int:
        return _U16(self.buf, self._need(2, what))[0]

    def u24(self, what: str = "u24") -> int:
        p = self._need(3, what)
        b = self.buf
        return (b[p] << 16) | (b[p + 1] << 8) | b[p + 2]

    def u32(self, what: str = "u32") -> int:
        return _U32(self.buf, self._need(4, what))[0]

    def take(self, n: int, what: str = "bytes") -> bytes:
        p = self._need(n, what)
        return bytes(self.buf[p:p + n])

    def length(self, width: int, what: str) -> int:
        if width == 1:
            return self.u8(what)
        if width == 2:
            return self.u16(what)
        return self.u24(what)

    def opaque(self, width: int, what: str = "opaque") -> bytes:
        """A `<width>`-byte length prefix followed by that many bytes."""
        return self.take(self.length(width, what), what)

    def block(self, width: int, what: str = "block") -> Cursor:
        """A sub-cursor over a length-prefixed block; this cursor moves past it."""
        n = self.length(width, what)
        p = self._need(n, what)
        return Cursor(self.buf, p, p + n)

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
