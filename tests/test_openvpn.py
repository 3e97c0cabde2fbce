"""TLS inside OpenVPN's TCP control channel: a real client TLS stream (from a fixture capture),
re-framed into OpenVPN control packets that arrive resent and out of order, still decodes."""

from __future__ import annotations

import struct

from analyzer.net.decode import PacketDecoder, Segment
from analyzer.sources.pcap import read_frames
from analyzer.tls.connection import TlsConnection
from analyzer.tls.openvpn import looks_like_openvpn

from conftest import CAPTURES


def _client_stream(name: str) -> bytes:
    dec, out, client = PacketDecoder(), bytearray(), None
    for f in read_frames(str(CAPTURES / name)):
        seg = dec.decode(f.linktype, f.data)
        if isinstance(seg, Segment) and seg.payload:
            client = client or seg.sport  # loopback fixtures: the client speaks first
            if seg.sport == client:
                out += seg.payload
    return bytes(out)


def _packet(opcode: int, pid: int, payload: bytes = b"", acks: tuple[int, ...] = ()) -> bytes:
    body = bytes([opcode << 3]) + b"S" * 8 + bytes([len(acks)]) + b"".join(struct.pack("!I", a) for a in acks)
    if acks:
        body += b"R" * 8
    body += struct.pack("!I", pid) + payload
    return struct.pack("!H", len(body)) + body


def test_reordered_and_resent_control_packets_decode() -> None:
    tls = _client_stream("tls12-ecdhe.pcap")
    chunks = [tls[i:i + 100] for i in range(0, len(tls), 100)]
    packets = [_packet(7, 0)] + [_packet(4, i + 1, c, acks=(i,)) for i, c in enumerate(chunks)]
    packets[2], packets[3] = packets[3], packets[2]  # out of order
    packets.insert(5, packets[4])  # resent
    packets.insert(6, struct.pack("!H", 10) + bytes([5 << 3]) + b"S" * 8 + b"\0")  # a bare ACK
    stream = b"".join(packets)
    assert looks_like_openvpn(stream)
    conn = TlsConnection()
    events = []
    for i in range(0, len(stream), 37):  # TCP segments cut anywhere
        events += conn.data(0, stream[i:i + 37], i // 37 + 1, 0.0)
    names = [e.name for e in events if hasattr(e, "name")]
    assert names[:4] == ["ClientHello", "ClientKeyExchange", "ChangeCipherSpec", "EncryptedHandshakeMessage"]


def test_plain_tls_is_not_taken_for_openvpn() -> None:
    assert not looks_like_openvpn(_client_stream("tls13.pcap"))
