"""Is this UDP payload DTLS? Told by content, on any port, cheaply and strictly.

A datagram is DTLS when it is a chain of whole DTLSPlaintext records that ends exactly at the end of
the datagram: each header with a content type 20-24 or 26, a DTLS record version (0xfeff, 0xfefd,
0xfefc, or OpenSSL's pre-standard 0x0100) and a length within the datagram, and each epoch-0
handshake record starting with a fragment header that fits its record and its message. Random
bytes pass that with odds far below one in a million; DNS, STUN, RTP and QUIC never do (their first
byte or the version bytes differ). DTLS 1.3 unified headers (first byte 0b001xxxxx) are not
accepted here: they carry nothing checkable, so the connection takes them only after a DTLS
ClientHello on the same flow (`DtlsConnection`).

DTLS inside CAPWAP (RFC 5415 4.1: wireless access points and their controllers) starts each
datagram with a 4-byte CAPWAP DTLS header, preamble 0x01 then 24 reserved zero bits: `unwrap`
takes it off, for detection and for the connection alike.
"""

from __future__ import annotations

from typing import Final

from analyzer.dtls.handshake import FRAGMENT_HEADER
from analyzer.dtls.records import HEADER, plausible_header
from analyzer.registry.codes import CT_HANDSHAKE

CAPWAP_DTLS_HEADER: Final = b"\x01\x00\x00\x00"


def unwrap(payload: bytes) -> bytes:
    """The DTLS records of a datagram: without the CAPWAP DTLS header when it has one."""
    return payload[4:] if payload[:4] == CAPWAP_DTLS_HEADER else payload


def looks_like_dtls(payload: bytes) -> bool:
    payload = unwrap(payload)
    p, n = 0, len(payload)
    if n < HEADER:
        return False
    while p < n:
        if not plausible_header(payload, p):
            return False
        length = (payload[p + 11] << 8) | payload[p + 12]
        if payload[p] == CT_HANDSHAKE and payload[p + 3] == 0 and payload[p + 4] == 0 and not _fragment_fits(
                payload, p + HEADER, length):
            return False
        p += HEADER + length
    return True


def _fragment_fits(buf: bytes, q: int, record_length: int) -> bool:
    """The first fragment header of an epoch-0 handshake record: inside its record and its message."""
    if record_length < FRAGMENT_HEADER:
        return False
    length = (buf[q + 1] << 16) | (buf[q + 2] << 8) | buf[q + 3]
    offset = (buf[q + 6] << 16) | (buf[q + 7] << 8) | buf[q + 8]
    fragment = (buf[q + 9] << 16) | (buf[q + 10] << 8) | buf[q + 11]
    return offset + fragment <= length and FRAGMENT_HEADER + fragment <= record_length
