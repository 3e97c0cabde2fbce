"""Small factories for QUIC test inputs: frames, and protected packets (analyzer.quic.packet.protect)."""

from __future__ import annotations

from analyzer.quic import versions as V
from analyzer.quic.keys import initial_keys
from analyzer.quic.packet import protect
from analyzer.quic.wire import encode_varint as vi

DCID = bytes.fromhex("8394c8f03e515708")
SCID = bytes.fromhex("c0ffee00")


def crypto(offset: int, data: bytes) -> bytes:
    return b"\x06" + vi(offset) + vi(len(data)) + data


def client_hello_message(extra: int = 0) -> bytes:
    """A minimal TLS 1.3 ClientHello handshake message (header + body), grown by `extra` bytes of padding."""
    exts = b"\x00\x2b\x00\x03\x02\x03\x04"  # supported_versions: TLS 1.3
    if extra:
        exts += b"\x00\x15" + len(bytes(extra)).to_bytes(2, "big") + bytes(extra)
    body = b"\x03\x03" + bytes(range(32)) + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00" + \
        len(exts).to_bytes(2, "big") + exts
    return b"\x01" + len(body).to_bytes(3, "big") + body


def initial(payload: bytes, pn: int = 0, client: bool = True, dcid: bytes = DCID, scid: bytes = SCID,
            keys_dcid: bytes | None = None, version: int = V.V1, pad_to: int = 0) -> bytes:
    """A protected Initial packet with a 2-byte packet number, padded with PADDING to `pad_to`."""
    info = V.VERSIONS[version]
    ck, sk = initial_keys(info, keys_dcid or dcid)
    keys = ck if client else sk
    if len(payload) < 20:
        payload += bytes(20 - len(payload))
    head = bytes((0xC1 | info.type_bits(V.INITIAL) << 4,)) + version.to_bytes(4, "big") + \
        bytes((len(dcid),)) + dcid + bytes((len(scid),)) + scid + b"\x00"
    if pad_to:
        payload += bytes(max(0, pad_to - (len(head) + 2 + 2 + len(payload) + 16)))
    length = 2 + len(payload) + 16
    header = head + (0x4000 | length).to_bytes(2, "big") + pn.to_bytes(2, "big")
    return protect(keys, header, len(header) - 2, 2, pn, payload)
