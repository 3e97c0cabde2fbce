"""QUIC variable-length integers (RFC 9000 16): read with the TLS reader's `varint` (QUIC's
transport parameters extension needs it there too), written here."""

from __future__ import annotations

from analyzer.tls.reader import varint

__all__ = ["encode_varint", "varint"]


def encode_varint(value: int) -> bytes:
    """The shortest encoding (tests and the fixture tools build packets with it)."""
    if value < 0x40:
        return bytes((value,))
    if value < 0x4000:
        return (value | 0x4000).to_bytes(2, "big")
    if value < 0x40000000:
        return (value | 0x80000000).to_bytes(4, "big")
    return (value | 0xC000000000000000).to_bytes(8, "big")
