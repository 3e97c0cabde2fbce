"""Small factories for DTLS bytes in tests: records, handshake fragments, hellos."""

from __future__ import annotations

import struct


def record(ct: int, body: bytes, epoch: int = 0, seq: int = 0, version: int = 0xFEFD) -> bytes:
    """A DTLSPlaintext (13-byte header) record."""
    return struct.pack("!BHH", ct, version, epoch) + seq.to_bytes(6, "big") + struct.pack("!H", len(body)) + body


def fragment(htype: int, body: bytes, seq: int = 0, offset: int = 0, length: int | None = None,
             total: int | None = None) -> bytes:
    """One handshake fragment: body[offset:offset+length] of a message `total` bytes long."""
    total = len(body) if total is None else total
    length = len(body) - offset if length is None else length
    piece = body[offset:offset + length]
    return (bytes([htype]) + total.to_bytes(3, "big") + seq.to_bytes(2, "big") + offset.to_bytes(3, "big")
            + len(piece).to_bytes(3, "big") + piece)


def extension(etype: int, data: bytes) -> bytes:
    return struct.pack("!HH", etype, len(data)) + data


def client_hello(cookie: bytes = b"", random: bytes = b"\x11" * 32, extensions: bytes = b"",
                 version: int = 0xFEFD) -> bytes:
    """A DTLS ClientHello body (with its cookie field)."""
    return (struct.pack("!H", version) + random + b"\x00" + bytes([len(cookie)]) + cookie
            + b"\x00\x04\xc0\x2b\xc0\x2f" + b"\x01\x00" + struct.pack("!H", len(extensions)) + extensions)


def server_hello(suite: int = 0xC02F, extensions: bytes = b"", version: int = 0xFEFD) -> bytes:
    return (struct.pack("!H", version) + b"\x22" * 32 + b"\x00" + struct.pack("!HB", suite, 0)
            + struct.pack("!H", len(extensions)) + extensions)
