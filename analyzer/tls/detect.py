"""Finding TLS in a byte stream by content, never by port.

A cheap plausibility check of record headers: content type 20..26, major version 3, a length
within the RFC 8446 cap. At a stream's start one good header is enough; after a plaintext
preamble (STARTTLS, PostgreSQL SSLRequest, HTTP CONNECT, ...) a hello record header is looked
for; after a gap or mid-stream start, two chained headers are required.
"""

from __future__ import annotations

import re
from typing import Final

MAX_RECORD: Final = (1 << 14) + 2048
LOOKAHEAD: Final = 16  # bytes kept back between scans so a header split across chunks is still found

_HELLO: Final = re.compile(rb"\x16\x03[\x00-\x04][\x00-\x48].[\x01\x02]", re.S)
_HEADER: Final = re.compile(rb"[\x14-\x1a]\x03[\x00-\x04]")


def plausible_header(buf: bytes | bytearray, p: int) -> bool:
    return (len(buf) - p >= 5 and 20 <= buf[p] <= 26 and buf[p + 1] == 3 and buf[p + 2] <= 4
            and ((buf[p + 3] << 8) | buf[p + 4]) <= MAX_RECORD)


def sslv2_hello(buf: bytes | bytearray) -> bool:
    """An SSLv2-format ClientHello: 2-byte header with the high bit, CLIENT-HELLO, a 2.0/3.x version."""
    return (len(buf) >= 5 and buf[0] & 0x80 != 0 and buf[2] == 1
            and (buf[3], buf[4]) in ((0, 2), (3, 0), (3, 1), (3, 2), (3, 3)))


def _chained(buf: bytes | bytearray, p: int) -> bool | None:
    """Is there another plausible header right after the record at p? None: not enough bytes yet."""
    nxt = p + 5 + ((buf[p + 3] << 8) | buf[p + 4])
    if nxt + 5 > len(buf):
        return None
    return plausible_header(buf, nxt)


def find_start(buf: bytes | bytearray, scanned: int = 0, resync: bool = False) -> tuple[int | None, int]:
    """(offset where TLS records start or None, offset to resume scanning from next time)."""
    if not resync and scanned == 0 and plausible_header(buf, 0):
        return 0, 0
    if not resync:
        m = _HELLO.search(buf, scanned)
        if m is not None:
            return m.start(), 0
    for m in _HEADER.finditer(buf, scanned):
        p = m.start()
        if not plausible_header(buf, p):
            continue
        chained = _chained(buf, p)
        if chained:
            return p, 0
        if chained is None:
            return None, p  # wait: the record after this one is not complete yet
    return None, max(scanned, len(buf) - LOOKAHEAD)
