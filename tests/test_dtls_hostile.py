"""Hostile datagrams: whatever bytes arrive, the DTLS core returns events (never raises), keeps its
buffers within their bounds, and the detector never raises either."""

from __future__ import annotations

from functools import cache
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyzer.api import load_keylog
from analyzer.dtls import DtlsConnection, looks_like_dtls
from analyzer.dtls import handshake as hs
from analyzer.dtls.records import frame_records
from analyzer.net.decode import Datagram, PacketDecoder
from analyzer.sources.pcap import read_frames

import dtls_build as B
from conftest import CAPTURES

HEADS = [b"\x16\xfe\xfd", b"\x16\xfe\xff", b"\x17\xfe\xfd", b"\x19\xfe\xfd", b"\x15\x01\x00", b"\x2e", b"\x3f",
         b"\x20", b"\x14\xfe\xfc"]


@st.composite
def datagrams(draw: st.DrawFn) -> bytes:
    """Random bytes, often behind a plausible DTLS start, often with a fragment header inside."""
    head = draw(st.sampled_from([b"", *HEADS]))
    body = draw(st.binary(max_size=300))
    if draw(st.booleans()):
        ht, length, off, flen = (draw(st.integers(0, 255)), draw(st.integers(0, (1 << 24) - 1)),
                                 draw(st.integers(0, (1 << 24) - 1)), draw(st.integers(0, 400)))
        frag = bytes([ht]) + length.to_bytes(3, "big") + b"\x00\x01" + off.to_bytes(3, "big") + \
            flen.to_bytes(3, "big") + body
        return B.record(22, frag, epoch=draw(st.integers(0, 3)))
    return head + body


def _check_bounds(conn: DtlsConnection) -> None:
    for d in conn.dirs:
        r = d.reassembler
        assert len(r.pending) <= hs.MAX_PENDING and r.pending_bytes <= hs.MAX_PENDING_BYTES
        assert len(r.done) <= hs.MAX_DONE and r.done_bytes <= hs.MAX_DONE_BYTES


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), datagrams()), max_size=12))
def test_random_datagrams_never_raise(feed: list[tuple[int, bytes]]) -> None:
    conn = DtlsConnection()
    conn.datagram(0, B.record(22, B.fragment(1, B.client_hello())), 0, 0.0)  # unified headers allowed
    for i, (side, data) in enumerate(feed, 1):
        assert isinstance(conn.datagram(side, data, i, float(i)), list)
        looks_like_dtls(data)
        frame_records(data, 4, True)
    conn.end()
    _check_bounds(conn)


@cache
def _fixture_datagrams(name: str) -> tuple[tuple[int, bytes], ...]:
    decoder = PacketDecoder()
    out = []
    first = None
    for frame in read_frames(str(CAPTURES / f"{name}.pcap")):
        pkt = decoder.decode(frame.linktype, frame.data)
        if isinstance(pkt, Datagram):
            first = first or (pkt.src, pkt.sport)
            out.append((0 if (pkt.src, pkt.sport) == first else 1, pkt.payload))
    return tuple(out)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["dtls12-aes128-gcm", "dtls12-cbc-mte", "dtls10-cbc", "dtls12-chacha20"]),
       st.data())
def test_damaged_keyed_capture_never_raises(name: str, data: st.DataObject) -> None:
    """A flipped or cut byte anywhere in a keyed fixture: warnings on the connection, never an exception."""
    keylog = load_keylog(str(CAPTURES / "keys" / f"{name}.keys"))
    dgrams = list(_fixture_datagrams(name))
    i = data.draw(st.integers(0, len(dgrams) - 1))
    side, payload = dgrams[i]
    pos = data.draw(st.integers(0, len(payload) - 1))
    if data.draw(st.booleans()):
        payload = payload[:pos] + bytes([payload[pos] ^ data.draw(st.integers(1, 255))]) + payload[pos + 1:]
    else:
        payload = payload[:pos]
    dgrams[i] = (side, payload)
    conn = DtlsConnection(keylog)
    for n, (s, p) in enumerate(dgrams, 1):
        conn.datagram(s, p, n, 0.0)
    conn.end()
    _check_bounds(conn)


def test_a_claimed_length_never_allocates_beyond_the_cap() -> None:
    conn = DtlsConnection()
    for seq in range(100):  # each fragment claims a 16 MiB message
        frag = bytes([11]) + (0xFFFFFF).to_bytes(3, "big") + seq.to_bytes(2, "big") + b"\x00\x00\x00\x00\x00\x04abcd"
        conn.datagram(0, B.record(22, frag), seq, 0.0)
    _check_bounds(conn)
    assert conn.dirs[0].reassembler.pending_bytes == 0

