"""QUIC variable-length integers (RFC 9000 16) and a bounds-checked reader built on them."""

from __future__ import annotations

from analyzer.errors import DecodeError


def varint(buf: bytes, pos: int, end: int, what: str) -> tuple[int, int]:
    """(value, position after it); raises DecodeError when it does not fit before `end`."""
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


def encode_varint(value: int) -> bytes:
    """The shortest encoding (tests and the fixture tools build packets with it)."""
    if value < 0x40:
        return bytes((value,))
    if value < 0x4000:
        return (value | 0x4000).to_bytes(2, "big")
    if value < 0x40000000:
        return (value | 0x80000000).to_bytes(4, "big")
    return (value | 0xC000000000000000).to_bytes(8, "big")
