"""DTLS record framing and detection: the 13-byte header, several records per datagram, RFC 9146
tls12_cid, the DTLS 1.3 unified header (the 001CSLEE bits), and the content detector."""

from __future__ import annotations

from pathlib import Path

from analyzer.dtls import DtlsConnection, looks_like_dtls
from analyzer.dtls.keys import _nearest
from analyzer.dtls.records import frame_records
from analyzer.dtls.versions import DTLS13
from analyzer.tls.events import Malformed, Message

import dtls_build as B
from dtls_harness import run

ILLUSTRATED = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus" / "syncsynchalt_illustrated-dtls"

# illustrated-dtls frame 3: the server's EncryptedExtensions, unified header 0x2e (no CID, 16-bit
# sequence number, length present, epoch 2), encrypted sequence number 79fa, length 0x2f
UNIFIED_EE = bytes.fromhex("2e79fa002f" "ee9dcff3f8679a4859fe68377fb34ada85df879c673e501d7a4e8f1950e0fc"
                           "f67fe442e7d7d2b8a3d5fa59574ffd00")


def test_plaintext_records_several_per_datagram() -> None:
    dgram = B.record(22, B.fragment(16, b"\x20" + b"k" * 32), seq=5) + B.record(20, b"\x01", seq=6) \
        + B.record(22, b"x" * 40, epoch=1, seq=0)
    recs, fault = frame_records(dgram, 0, False)
    assert fault is None
    assert [(r.content_type, r.epoch, r.seq, r.seq_bits, len(r.body)) for r in recs] == \
        [(22, 0, 5, 48, 45), (20, 0, 6, 48, 1), (22, 1, 0, 48, 40)]
    assert [r.offset for r in recs] == [0, 58, 72]


def test_unified_header_from_illustrated_dtls() -> None:
    recs, fault = frame_records(UNIFIED_EE, 0, True)
    assert fault is None
    (r,) = recs
    assert (r.unified, r.epoch, r.seq, r.seq_bits, r.cid, r.header, r.version) == \
        (True, 2, 0x79FA, 16, b"", bytes.fromhex("2e79fa002f"), DTLS13)
    assert len(r.body) == 0x2F


def test_unified_header_bits() -> None:
    """RFC 9147 4: C (CID of the negotiated length), S (8-bit sequence), L absent (fills the datagram)."""
    cid = b"\xaa\xbb\xcc"
    dgram = bytes([0b00110011]) + cid + b"\x07" + b"z" * 20  # C=1, S=0, L=0, epoch bits 3
    (r,), fault = frame_records(dgram, len(cid), True)
    assert fault is None and (r.cid, r.seq, r.seq_bits, r.epoch, len(r.body)) == (cid, 7, 8, 3, 20)
    two = bytes([0b00101101]) + b"\x01\x02" + b"\x00\x03abc" + bytes([0b00100001]) + b"\x09" + b"rest"
    recs, fault = frame_records(two, 0, True)  # L set on the first, absent on the last
    assert fault is None and [(r.seq, r.body) for r in recs] == [(0x0102, b"abc"), (9, b"rest")]


def test_unified_header_only_after_a_hello_and_cid_only_when_negotiated() -> None:
    recs, fault = frame_records(UNIFIED_EE, 0, False)
    assert recs == [] and fault is not None and "implausible record header" in fault[1]
    _, fault = frame_records(bytes([0b00111010]) + b"\x00" * 20, 0, True)
    assert fault is not None and "no connection ID was negotiated" in fault[1]


def test_tls12_cid_record() -> None:
    cid = b"\x01\x02\x03\x04"
    dgram = bytes([25]) + b"\xfe\xfd\x00\x01" + (7).to_bytes(6, "big") + cid + b"\x00\x05" + b"hello"
    (r,), fault = frame_records(dgram, len(cid), False)
    assert fault is None and (r.content_type, r.epoch, r.seq, r.cid, r.body) == (25, 1, 7, cid, b"hello")
    assert r.header == dgram[:-5]


def test_framing_stops_at_a_bad_header_and_keeps_what_came_before() -> None:
    good = B.record(21, b"\x02\x28")
    recs, fault = frame_records(good + B.record(22, b"x" * 10)[:-3], 0, False)
    assert len(recs) == 1 and fault == (len(good), "record length 10 overruns the datagram (7 bytes left)")
    recs, fault = frame_records(good + b"\x16\x03\x03\x00\x05hello....", 0, False)
    assert len(recs) == 1 and fault is not None and fault[1].startswith("implausible record header 160303")


def test_connection_learns_cid_lengths_from_the_hellos() -> None:
    """RFC 9146: each side's records carry the CID its peer asked for in the connection_id extension."""
    conn = DtlsConnection()
    client_cid, server_cid = b"C" * 5, b"S" * 3
    ch = B.client_hello(extensions=B.extension(54, bytes([len(client_cid)]) + client_cid))
    sh = B.server_hello(extensions=B.extension(54, bytes([len(server_cid)]) + server_cid))
    conn.datagram(0, B.record(22, B.fragment(1, ch)), 1, 0.0)
    conn.datagram(1, B.record(22, B.fragment(2, sh, seq=0)), 2, 0.0)
    from_client = bytes([25]) + b"\xfe\xfd\x00\x01" + (0).to_bytes(6, "big") + server_cid + b"\x00\x04abcd"
    from_server = bytes([25]) + b"\xfe\xfd\x00\x01" + (0).to_bytes(6, "big") + client_cid + b"\x00\x04abcd"
    for side, dgram, cid in ((0, from_client, server_cid), (1, from_server, client_cid)):
        (msg,) = [e for e in conn.datagram(side, dgram, 3, 0.0) if isinstance(e, Message)]
        assert msg.encrypted and msg.content_type == 25 and msg.body.cid == cid and msg.length == 4


def test_other_protocols_on_the_5_tuple_are_skipped_quietly() -> None:
    """RFC 7983: STUN (0-3), RTP/RTCP (128-191) share a WebRTC 5-tuple with DTLS."""
    conn = DtlsConnection()
    assert conn.datagram(0, b"\x00\x01\x00\x00\x21\x12\xa4\x42" + b"\x00" * 12, 1, 0.0) == []
    assert conn.datagram(0, b"\x80\x60" + b"\x00" * 30, 2, 0.0) == []
    assert conn.other_datagrams == 2 and conn.datagrams == 0


def test_detector() -> None:
    ch = B.record(22, B.fragment(1, B.client_hello()), version=0xFEFF)
    assert looks_like_dtls(ch)
    assert looks_like_dtls(b"\x01\x00\x00\x00" + ch)  # inside CAPWAP (RFC 5415)
    assert looks_like_dtls(B.record(23, b"x" * 30, epoch=1, version=0x0100))  # OpenSSL's pre-standard 1.0
    assert not looks_like_dtls(ch + b"\x00")  # a datagram holds whole records and nothing else
    assert not looks_like_dtls(ch[:-1])
    assert not looks_like_dtls(B.record(22, B.fragment(1, b"x" * 10, total=5)))  # fragment beyond its message
    assert not looks_like_dtls(B.record(22, b"x" * 40, version=0x0303))  # a TLS version
    assert not looks_like_dtls(UNIFIED_EE)  # unified headers only inside a connection after its hello
    assert not looks_like_dtls(bytes.fromhex("16fefd0000"))


def test_sequence_number_reconstruction() -> None:
    """RFC 9147 4.2.2: the full number nearest one past the last one deprotected."""
    assert _nearest(0, 0, 16) == 0
    assert _nearest(0x1FFFE, 0x0001, 16) == 0x20001
    assert _nearest(0x20003, 0xFFFE, 16) == 0x1FFFE
    assert _nearest(300, 0x2D, 8) == 301
    assert _nearest(5, 250, 8) == 250


def test_illustrated_dtls_capture_frames_without_malformed(corpus: Path) -> None:
    flows = run(ILLUSTRATED / "captures" / "capture.pcap")
    events = flows[0].events
    assert not [e for e in events if isinstance(e, Malformed)]
    msgs = [e for e in events if isinstance(e, Message)]
    assert [m.name for m in msgs[:2]] == ["ClientHello", "ServerHello"]
    assert all(m.encrypted and m.body.unified for m in msgs[2:]) and len(msgs) == 11
    assert [m.body.epoch for m in msgs[2:]] == [2, 2, 2, 2, 2, 3, 3, 3, 3]
