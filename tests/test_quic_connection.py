"""The QUIC connection on built packets: multi-packet ClientHellos in any order, coalesced
packets, and bad input (damaged Initials, lying lengths, cut packets, CRYPTO beyond the limit,
random bytes shaped like a long header): each a Malformed naming the frame, never an exception."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyzer.quic import versions as V
from analyzer.quic.connection import MAX_UNCONFIRMED, QuicConnection
from analyzer.quic.events import CryptoGap, Malformed, Packet, QuicStart
from analyzer.quic.frames import parse_frames
from analyzer.quic.packet import looks_like_quic
from analyzer.tls.events import Message

from quic_builders import DCID, client_hello_message, crypto, initial

HELLO = client_hello_message(extra=2500)  # spans three Initial packets, like a post-quantum hello
PARTS = [HELLO[:1000], HELLO[1000:2000], HELLO[2000:]]


def hello_packets(pns: tuple[int, ...] = (0, 1, 2)) -> list[bytes]:
    offsets = [0, 1000, 2000]
    return [initial(crypto(o, part), pn=pn, pad_to=1200) for o, part, pn in zip(offsets, PARTS, pns)]


def events(conn: QuicConnection, datagrams: list[bytes], first_frame: int = 1) -> list:
    out = []
    for i, d in enumerate(datagrams):
        out += conn.datagram(0, d, first_frame + i, float(i))
    return out + conn.end()


def messages(evs: list) -> list[Message]:
    return [e for e in evs if isinstance(e, Message)]


def test_a_client_hello_over_three_initials_is_one_message_at_the_completing_frame() -> None:
    evs = events(QuicConnection(), hello_packets())
    (ch,) = messages(evs)
    assert (ch.name, ch.frame, ch.length) == ("ClientHello", 3, len(HELLO) - 4)
    assert ch.body.ext(21).fields["padding_length"] == 2500
    assert [e.packet_number for e in evs if isinstance(e, Packet)] == [0, 1, 2]
    assert not [e for e in evs if isinstance(e, Malformed)]


def test_out_of_order_and_duplicated_initials_give_the_same_message() -> None:
    a, b, c = hello_packets()
    evs = events(QuicConnection(), [c, a, a, b])  # the last part first, a duplicate
    (ch,) = messages(evs)
    assert ch.frame == 4 and ch.body.random == bytes(range(32))
    assert not [e for e in evs if isinstance(e, Malformed)]


def test_coalesced_initials_in_one_datagram() -> None:
    a, b, c = hello_packets()
    evs = events(QuicConnection(), [a + b + c])
    assert [(e.frame, e.packet_number) for e in evs if isinstance(e, Packet)] == [(1, 0), (1, 1), (1, 2)]
    assert [m.frame for m in messages(evs)] == [1]


def test_a_lost_packet_is_a_gap_never_filled() -> None:
    a, _, c = hello_packets()
    evs = events(QuicConnection(), [a, c])
    assert messages(evs) == []
    gaps = [e for e in evs if isinstance(e, CryptoGap)]
    assert [(g.level, g.offset, g.length, g.frame) for g in gaps] == [("Initial", 1000, 1000, 2)]


def test_a_damaged_initial_is_reported_and_the_rest_goes_on() -> None:
    a, b, c = hello_packets()
    damaged = bytearray(b)
    damaged[600] ^= 0x40
    conn = QuicConnection()
    evs = events(conn, [a, bytes(damaged), c, b])
    bad = [e for e in evs if isinstance(e, Malformed)]
    assert [(e.frame, "does not decrypt" in e.reason) for e in bad] == [(2, True)]
    assert [m.frame for m in messages(evs)] == [4]


def test_lying_length_and_cut_packets_are_malformed() -> None:
    a, b, _ = hello_packets()
    conn = QuicConnection()
    conn.datagram(0, a, 1, 0.0)
    lying = bytearray(b)
    at = 1 + 4 + 1 + len(DCID) + 1 + 4 + 1  # the 2-byte Length field of the builder's header
    lying[at:at + 2] = (0x4000 | 0x3FFF).to_bytes(2, "big")
    (bad,) = conn.datagram(0, bytes(lying), 2, 0.1)
    assert isinstance(bad, Malformed) and "length field claims 16383 bytes" in bad.reason and bad.frame == 2
    (cut,) = conn.datagram(0, b[:15], 3, 0.2)
    assert isinstance(cut, Malformed) and cut.frame == 3


def test_crypto_beyond_any_sane_offset_is_a_warning_naming_the_limit() -> None:
    conn = QuicConnection()
    conn.datagram(0, hello_packets()[0], 1, 0.0)
    evs = conn.datagram(0, initial(crypto(5 << 20, b"x" * 100), pn=7, pad_to=1200), 2, 0.1)
    (bad,) = [e for e in evs if isinstance(e, Malformed)]
    assert bad.frame == 2 and "beyond the 1048576-byte limit" in bad.reason


def test_random_bytes_shaped_like_a_long_header_never_become_a_connection() -> None:
    fake = bytes((0xC3,)) + (1).to_bytes(4, "big") + b"\x08" + DCID + b"\x00" + bytes(range(200)) * 6
    assert looks_like_quic(fake)
    conn = QuicConnection()
    assert all(conn.datagram(i % 2, fake, i, 0.0) == [] for i in range(MAX_UNCONFIRMED + 3))
    assert conn.gave_up and not conn.confirmed and conn.end() == []


def test_server_initial_before_the_clients_is_read_once_confirmed() -> None:
    """A capture that starts with the server's packet (the client's was reordered): held, then read."""
    sh = b"\x02\x00\x00\x2a\x03\x03" + bytes(32) + b"\x00\x13\x01\x00\x00\x02\x00\x00"
    sh = sh[:1] + (len(sh) - 4).to_bytes(3, "big") + sh[4:]
    server = initial(crypto(0, sh), client=False, dcid=b"\xc0\xff\xee\x00", scid=b"\x11\x22", keys_dcid=DCID)
    conn = QuicConnection()
    assert conn.datagram(1, server, 1, 0.0) == []
    evs = conn.datagram(0, initial(crypto(0, client_hello_message()), pad_to=1200), 2, 0.1)
    assert isinstance(evs[0], QuicStart) and evs[0].client_side == 0
    assert [(m.name, m.frame, m.side) for m in messages(evs)] == [("ClientHello", 2, 0), ("ServerHello", 1, 1)]


def test_v2_and_draft_initials() -> None:
    for version in (V.V2, 0xFF00001D, 0xFF000018):
        evs = events(QuicConnection(), [initial(crypto(0, client_hello_message()), version=version, pad_to=1200)])
        assert isinstance(evs[0], QuicStart) and evs[0].version == version
        assert [m.name for m in messages(evs)] == ["ClientHello"]


# -- hostile inputs: never an exception ---------------------------------------------------------------

GOOD = hello_packets()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=1500))
def test_frame_parser_never_raises(data: bytes) -> None:
    frames, error = parse_frames(data)
    assert error is None or isinstance(error.reason, str)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=1400), max_size=6), st.booleans())
def test_connection_never_raises_on_random_datagrams(datagrams: list[bytes], shaped: bool) -> None:
    conn = QuicConnection()
    for i, d in enumerate(datagrams):
        if shaped:  # a long header with a known version, so the deeper paths run
            d = bytes((0xC0 | (d[0] & 0x3F if d else 0),)) + (1).to_bytes(4, "big") + d
        conn.datagram(i % 2, d, i + 1, float(i))
    conn.end()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2), st.integers(0, 1199), st.integers(1, 255), st.integers(0, 1200))
def test_connection_never_raises_on_damaged_real_packets(which: int, at: int, xor: int, cut: int) -> None:
    conn = QuicConnection()
    conn.datagram(0, GOOD[0], 1, 0.0)
    damaged = bytearray(GOOD[which])
    damaged[at] ^= xor
    for evs in (conn.datagram(0, bytes(damaged), 2, 0.1), conn.datagram(1, bytes(damaged[:cut]), 3, 0.2)):
        assert all(not isinstance(e, Malformed) or e.frame in (2, 3) for e in evs)
    conn.end()


def test_one_rtt_with_a_key_log_follows_a_key_update() -> None:
    """1-RTT packets open with CLIENT_TRAFFIC_SECRET_0; after the key phase bit flips, with the
    next generation ("quic ku"); a packet under neither key is reported once, not per packet."""
    from analyzer.quic.events import EncryptedRun
    from analyzer.quic.keys import PacketKeys
    from analyzer.quic.packet import protect
    from analyzer.tls.keylog import KeyLog

    secret = bytes(range(100, 132))
    keylog = KeyLog()
    keylog.add_text(f"CLIENT_TRAFFIC_SECRET_0 {bytes(range(32)).hex()} {secret.hex()}\n")
    sh = b"\x03\x03" + bytes(32) + b"\x00\x13\x01\x00\x00\x06\x00\x2b\x00\x02\x03\x04"
    sh = b"\x02" + len(sh).to_bytes(3, "big") + sh
    server_cid = b"\x11\x22"
    conn = QuicConnection(keylog)
    conn.datagram(0, initial(crypto(0, client_hello_message()), pad_to=1200), 1, 0.0)
    conn.datagram(1, initial(crypto(0, sh), client=False, dcid=b"\xc0\xff\xee\x00", scid=server_cid,
                             keys_dcid=DCID), 2, 0.1)
    keys = PacketKeys(0x1301, secret, "quic ")

    def short(k: PacketKeys, phase: int, pn: int) -> bytes:
        header = bytes((0x41 | phase << 2,)) + server_cid + pn.to_bytes(2, "big")
        return protect(k, header, 1 + len(server_cid), 2, pn, b"\x01" + bytes(20))  # PING + PADDING

    wrong = PacketKeys(0x1301, bytes(32), "quic ")
    datagrams = [short(keys, 0, 0), short(keys, 0, 1), short(keys.next_phase(), 1, 2),
                 short(keys.next_phase(), 1, 3), short(wrong, 1, 4), short(wrong, 1, 5)]
    evs = []
    for i, d in enumerate(datagrams):
        evs += conn.datagram(0, d, 3 + i, 1.0 + i)
    evs += conn.end()
    (run,) = [e for e in evs if isinstance(e, EncryptedRun) and e.packet_type == "1-RTT"]
    assert (run.packets, run.decrypted, run.first_frame, run.last_frame) == (6, 4, 3, 8)
    assert conn.sides[0].phase == 1
    bad = [e for e in evs if isinstance(e, Malformed)]
    assert len(bad) == 1 and "cannot decrypt 1-RTT packets" in bad[0].reason and bad[0].frame == 7
