"""QUIC packet headers (RFC 8999 invariants, RFC 9000 17) and packet protection removal (RFC 9001 5.4,
5.3; packet number recovery RFC 9000 A.3). Pure functions over one datagram's bytes; a header
that does not fit raises `DecodeError`, a packet that does not open raises `OpenError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from analyzer.errors import DecodeError
from analyzer.quic import versions as V
from analyzer.quic.keys import SAMPLE, TAG, OpenError, PacketKeys
from analyzer.quic.wire import varint

MAX_CID: Final = 20  # RFC 9000 17.2: a v1 connection id is at most 20 bytes
LONG: Final = 0x80
FIXED: Final = 0x40


def looks_like_quic(payload: bytes) -> bool:
    """Cheap prefilter: a long header with the fixed bit and a version we can read, or a
    Version Negotiation packet (version 0, a whole number of versions after the ids).
    True only means "worth trying": `QuicConnection` confirms by decrypting an Initial."""
    n = len(payload)
    if n < 7 or not payload[0] & LONG:
        return False
    version = payload[1] << 24 | payload[2] << 16 | payload[3] << 8 | payload[4]
    dcil = payload[5]
    if dcil > MAX_CID or n < 7 + dcil:
        return False
    scil = payload[6 + dcil]
    rest = n - 7 - dcil - scil
    if scil > MAX_CID or rest < 0:
        return False
    if version == 0:
        return rest >= 4 and rest % 4 == 0
    return bool(payload[0] & FIXED) and version in V.VERSIONS and rest > 0


@dataclass(slots=True, init=False)
class LongHeader:
    """A long-header packet at `start`..`end` of its datagram.

    `ptype` is a versions.* packet type; `pn_offset` is where the (protected) packet number starts
    (Initial, 0-RTT, Handshake); Retry and Version Negotiation run to the end of the datagram.
    """

    start: int
    end: int
    first: int
    version: int
    ptype: int
    dcid: bytes
    scid: bytes
    token_length: int
    pn_offset: int
    versions: list[int]  # Version Negotiation: the versions the server offers

    def __init__(self, start: int, end: int, first: int, version: int, ptype: int, dcid: bytes, scid: bytes,
                 token_length: int = 0, pn_offset: int = 0, versions: list[int] | None = None) -> None:
        self.start, self.end, self.first, self.version, self.ptype = start, end, first, version, ptype
        self.dcid, self.scid, self.token_length, self.pn_offset = dcid, scid, token_length, pn_offset
        self.versions = [] if versions is None else versions


def parse_long(buf: bytes, start: int, version_info: V.Version | None) -> LongHeader:
    """The long header at buf[start:]; `version_info` is the version's row (None: only Version
    Negotiation can be read). Lengths are checked against the datagram: a Length field claiming
    more than is there raises DecodeError."""
    n = len(buf)
    if n - start < 7:
        raise DecodeError(f"long header: {n - start} bytes", start)
    first = buf[start]
    version = int.from_bytes(buf[start + 1:start + 5], "big")
    p = start + 5
    dcil = buf[p]
    if dcil > MAX_CID or p + 1 + dcil >= n:
        raise DecodeError(f"destination connection id length {dcil} does not fit", p)
    dcid = bytes(buf[p + 1:p + 1 + dcil])
    p += 1 + dcil
    scil = buf[p]
    if scil > MAX_CID or p + 1 + scil > n:
        raise DecodeError(f"source connection id length {scil} does not fit", p)
    scid = bytes(buf[p + 1:p + 1 + scil])
    p += 1 + scil
    if version == 0:
        if (n - p) % 4 or n == p:
            raise DecodeError(f"version negotiation: {n - p} bytes of versions, not a multiple of 4", p)
        offered = [int.from_bytes(buf[i:i + 4], "big") for i in range(p, n, 4)]
        return LongHeader(start, n, first, 0, V.VERSION_NEGOTIATION, dcid, scid, versions=offered)
    if version_info is None:
        raise DecodeError(f"unknown QUIC version 0x{version:08x}", start + 1)
    ptype = version_info.packet_type(first)
    if ptype == V.RETRY:
        if n - p < TAG:
            raise DecodeError(f"retry: {n - p} bytes, shorter than its integrity tag", p)
        return LongHeader(start, n, first, version, ptype, dcid, scid, token_length=n - p - TAG)
    token_length = 0
    if ptype == V.INITIAL:
        token_length, p = varint(buf, p, n, "token length")
        if p + token_length > n:
            raise DecodeError(f"token length {token_length}, {n - p} bytes left", p)
        p += token_length
    length, p = varint(buf, p, n, "length")
    if p + length > n:
        raise DecodeError(f"length field claims {length} bytes, {n - p} left in the datagram", p)
    if length < 1 + TAG:
        raise DecodeError(f"length {length} cannot hold a packet number and an AEAD tag", p)
    return LongHeader(start, p + length, first, version, ptype, dcid, scid, token_length, p)


def decode_packet_number(largest: int, truncated: int, bits: int) -> int:
    """RFC 9000 A.3: the full packet number closest to largest + 1 (largest -1: none received yet)."""
    expected = largest + 1
    win = 1 << bits
    hwin = win >> 1
    mask = win - 1
    candidate = (expected & ~mask) | truncated
    if candidate <= expected - hwin and candidate < (1 << 62) - win:
        return candidate + win
    if candidate > expected + hwin and candidate >= win:
        return candidate - win
    return candidate


@dataclass(slots=True, init=False)
class Unmasked:
    """A packet with header protection removed: its first byte, packet number and the header as
    authenticated data. """

    first: int
    pn_length: int
    truncated_pn: int
    header: bytes

    def __init__(self, first: int, pn_length: int, truncated_pn: int, header: bytes) -> None:
        self.first, self.pn_length, self.truncated_pn, self.header = first, pn_length, truncated_pn, header


def unmask(buf: bytes, start: int, pn_offset: int, end: int, keys: PacketKeys) -> Unmasked:
    """RFC 9001 5.4: remove header protection (the sample starts 4 bytes after the packet number)."""
    sample_at = pn_offset + 4
    if sample_at + SAMPLE > end:
        raise DecodeError(f"packet of {end - start} bytes too short for a header protection sample", start)
    mask = keys.mask(bytes(buf[sample_at:sample_at + SAMPLE]))
    first = buf[start]
    first ^= mask[0] & (0x0F if first & LONG else 0x1F)
    pn_length = (first & 3) + 1
    truncated = 0
    for i in range(pn_length):
        truncated = (truncated << 8) | (buf[pn_offset + i] ^ mask[1 + i])
    header = bytes((first,)) + bytes(buf[start + 1:pn_offset]) + truncated.to_bytes(pn_length, "big")
    return Unmasked(first, pn_length, truncated, header)


def open_packet(buf: bytes, u: Unmasked, pn: int, pn_offset: int, end: int, keys: PacketKeys) -> bytes:
    """The plaintext payload; raises OpenError when the tag does not verify."""
    body = bytes(buf[pn_offset + u.pn_length:end])
    if len(body) < TAG:
        raise OpenError("payload shorter than the AEAD tag")
    return keys.open(pn, u.header, body)


def protect(keys: PacketKeys, header: bytes, pn_offset: int, pn_length: int, pn: int, payload: bytes) -> bytes:
    """The inverse of unmask + open_packet (RFC 9001 5.3, 5.4): AEAD with the header as associated
    data, then header protection. The core only reads; tests and bench/make_quic_capture.py build with it."""
    nonce = (int.from_bytes(keys.iv, "big") ^ pn).to_bytes(12, "big")
    packet = bytearray(header + bytes(keys.aead.encrypt(nonce, payload, header)))
    mask = keys.mask(bytes(packet[pn_offset + 4:pn_offset + 4 + SAMPLE]))
    packet[0] ^= mask[0] & (0x0F if packet[0] & LONG else 0x1F)
    for i in range(pn_length):
        packet[pn_offset + i] ^= mask[1 + i]
    return bytes(packet)
