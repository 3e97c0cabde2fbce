"""The sans-IO TLS core fed three ways with real byte streams from the fixture captures: whole,
one byte at a time, and in random chunks; it must say the same thing every time. Plus trailing
bytes left untouched, and random input that may only ever produce our own events."""

from __future__ import annotations

import random

import pytest
from conftest import CAPTURES
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.errors import DecodeError
from analyzer.net.decode import PacketDecoder, Segment
from analyzer.sources.pcap import read_frames
from analyzer.tls.connection import TlsConnection
from analyzer.tls.decoders import decode_message
from analyzer.tls.events import Malformed, Message, Resync, TlsStart
from analyzer.tls.messages import Context


def streams(name: str) -> tuple[bytes, bytes]:
    """(client bytes, server bytes) of the first connection of a loopback fixture (no loss there)."""
    dec, out, client = PacketDecoder(), ([], []), None
    for f in read_frames(str(CAPTURES / name)):
        seg = dec.decode(f.linktype, f.data)
        if isinstance(seg, Segment) and seg.payload:
            client = client or seg.sport
            out[0 if seg.sport == client else 1].append(seg.payload)
    return b"".join(out[0]), b"".join(out[1])


def feed(client: bytes, server: bytes, chunking) -> list[tuple]:  # noqa: ANN001
    """Client flight first, then the server's, cut by `chunking(len) -> sizes`."""
    conn, events = TlsConnection(), []
    # interleave as the protocol does: the whole client hello, then everything of the server, then the rest
    for side, data in ((0, client), (1, server)):
        pos = 0
        for size in chunking(len(data)):
            events += conn.data(side, data[pos:pos + size], 1, 0.0)
            pos += size
    return [(e.side, e.name, e.type, e.length, e.encrypted) for e in events if isinstance(e, Message)]


def whole(n: int) -> list[int]:
    return [n]


def bytewise(n: int) -> list[int]:
    return [1] * n


def randomly(n: int, seed: int = 7) -> list[int]:
    rng, sizes = random.Random(seed), []
    while n > 0:
        sizes.append(min(n, rng.randint(1, 700)))
        n -= sizes[-1]
    return sizes


@pytest.mark.parametrize("name", ["tls12-mtls.pcap", "tls12-ch-multirecord.pcap", "tls13-hrr.pcap",
                                  "tls12-dhe.pcap", "tls13-0rtt.pcap"])
def test_whole_bytewise_and_random_chunks_agree(name: str) -> None:
    client, server = streams(name)
    expected = feed(client, server, whole)
    assert len(expected) >= 4
    assert feed(client, server, bytewise) == expected
    assert feed(client, server, randomly) == expected


def test_trailing_bytes_of_a_partial_record_wait_untouched() -> None:
    client, _ = streams("tls12-ecdhe.pcap")
    conn = TlsConnection()
    first = conn.data(0, client[:-3], 1, 0.0)  # the last record is 3 bytes short
    names = [e.name for e in first if isinstance(e, Message)]
    assert names[0] == "ClientHello"
    rest = conn.data(0, client[-3:], 2, 0.0)  # completing it yields exactly that record, framed right
    assert [e.frame for e in rest if isinstance(e, Message)] == [2]
    assert not any(isinstance(e, Malformed) for e in first + rest)


def test_message_spanning_records_completes_at_the_last_record() -> None:
    client, _ = streams("tls12-ch-multirecord.pcap")  # a ClientHello cut into four records by openssl
    conn, events = TlsConnection(), []
    pos = 0
    for frame, size in enumerate([517, 517, 517], 1):  # each call one record (5 + 512)
        events += conn.data(0, client[pos:pos + size], frame, 0.0)
        pos += size
    assert not [e for e in events if isinstance(e, Message)]  # not complete yet
    events = conn.data(0, client[pos:], 9, 0.0)
    hello = [e for e in events if isinstance(e, Message)][0]
    assert (hello.name, hello.frame, hello.length) == ("ClientHello", 9, 512 * 3 + 6 - 4)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000), st.lists(st.integers(1, 300), max_size=20))
def test_random_bytes_only_ever_give_our_events(data: bytes, cuts: list[int]) -> None:
    conn, pos = TlsConnection(), 0
    for cut in cuts + [len(data)]:
        for e in conn.data(0, data[pos:pos + cut], 1, 0.0) + conn.data(1, data[pos:pos + cut][::-1], 1, 0.0):
            assert isinstance(e, (Message, Malformed, Resync, TlsStart))
        pos += cut
    conn.end(0, 2, 0.0)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 30), st.binary(max_size=600),
       st.sampled_from([Context(), Context(0x0303, "ECDHE"), Context(0x0304), Context(0x0303, "DHE"),
                        Context(0x0300, "RSA"), Context(0x0303, "PSK")]))
def test_decoders_raise_only_decode_error(htype: int, body: bytes, ctx: Context) -> None:
    try:
        decode_message(htype, body, ctx)
    except DecodeError:
        pass


def test_every_prefix_of_a_real_hello_is_handled() -> None:
    client, _ = streams("tls13.pcap")
    body = client[9:5 + ((client[3] << 8) | client[4])]  # the ClientHello body inside its record
    for cut in range(len(body)):
        try:
            hello = decode_message(1, body[:cut], Context())
        except DecodeError:
            continue
        # a cut hello never passes as whole, unless cut right after its compression methods:
        # a hello without extensions is legal (TLS 1.0-era clients send those)
        assert hello.malformed or hello.extensions is None or cut == len(body)
