"""Handshake fragments -> messages: out of order, overlapping, contradicting, retransmitted, bounded;
fed whole, one fragment per datagram, and in reverse."""

from __future__ import annotations

import random

import pytest

from analyzer.dtls import DtlsConnection
from analyzer.dtls import handshake as hs
from analyzer.dtls.events import Fragment, Retransmission
from analyzer.tls.events import Malformed, Message
from analyzer.tls.messages import ClientHello

import dtls_build as B

CH = B.client_hello(extensions=B.extension(0, b"\x00\x0e\x00\x00\x0bexample.dtl") + B.extension(23, b""))


def _feed(datagrams: list[bytes], side: int = 0) -> tuple[DtlsConnection, list]:
    conn = DtlsConnection()
    events = []
    for i, d in enumerate(datagrams, 1):
        events += conn.datagram(side, d, i, float(i))
    return conn, events + conn.end()


def _pieces(body: bytes, cuts: list[int], seq: int = 0, htype: int = 1) -> list[bytes]:
    edges = [0, *cuts, len(body)]
    return [B.fragment(htype, body, seq, a, b - a) for a, b in zip(edges, edges[1:])]


def _messages(events: list) -> list[Message]:
    return [e for e in events if isinstance(e, Message)]


@pytest.mark.parametrize("order", ["in order", "reversed", "shuffled", "one record"])
def test_fragments_in_any_order(order: str) -> None:
    pieces = _pieces(CH, [10, 25, 60])
    if order == "reversed":
        pieces.reverse()
    elif order == "shuffled":
        random.Random(7).shuffle(pieces)
    datagrams = [B.record(22, b"".join(pieces))] if order == "one record" else [B.record(22, p) for p in pieces]
    _, events = _feed(datagrams)
    (msg,) = _messages(events)
    assert isinstance(msg.body, ClientHello) and msg.body.ext(0).fields["host_name"] == "example.dtl"
    assert msg.frame == len(datagrams) and msg.length == len(CH)
    frags = [e for e in events if isinstance(e, Fragment)]
    assert len(frags) == len(pieces) - 1 and not [e for e in events if isinstance(e, Malformed)]


def test_overlapping_fragments_that_agree() -> None:
    datagrams = [B.record(22, B.fragment(1, CH, 0, 0, 40)), B.record(22, B.fragment(1, CH, 0, 20, 40)),
                 B.record(22, B.fragment(1, CH, 0, 50, len(CH) - 50))]
    _, events = _feed(datagrams)
    (msg,) = _messages(events)
    assert msg.frame == 3 and msg.body.random == b"\x11" * 32


def test_contradicting_fragment_is_a_warning_naming_the_frame() -> None:
    bad = bytearray(B.fragment(1, CH, 0, 20, 40))
    bad[12 + 5] ^= 0xFF  # message byte 25: inside the bytes frame 1 already gave
    datagrams = [B.record(22, B.fragment(1, CH, 0, 0, 40)), B.record(22, bytes(bad)),
                 B.record(22, B.fragment(1, CH, 0, 40, len(CH) - 40))]
    _, events = _feed(datagrams)
    (warning,) = [e for e in events if isinstance(e, Malformed)]
    assert warning.frame == 2 and "overlapping bytes differ from the fragment in frame 1" in warning.reason
    (msg,) = _messages(events)  # the first copy's bytes win; the message still completes
    assert msg.frame == 3 and msg.body.random == b"\x11" * 32


def test_fragment_with_another_type_or_length() -> None:
    datagrams = [B.record(22, B.fragment(1, CH, 0, 0, 40)), B.record(22, B.fragment(2, CH, 0, 40, 20)),
                 B.record(22, B.fragment(1, CH + b"xx", 0, 40, 20))]
    _, events = _feed(datagrams)
    warnings = [e for e in events if isinstance(e, Malformed)]
    assert [w.frame for w in warnings[:2]] == [2, 3]
    assert all("contradicts the fragment in frame 1" in w.reason for w in warnings[:2])
    assert "incomplete: 40 of" in warnings[2].reason  # reported at end(), never emitted half-built
    assert _messages(events) == []


def test_retransmitted_flight_is_shown_once_and_counted() -> None:
    flight = B.record(22, B.fragment(1, CH))
    fragmented = _pieces(CH, [30], seq=1)
    datagrams = [flight, flight, B.record(22, fragmented[0]), B.record(22, fragmented[1]),
                 B.record(22, fragmented[1]), flight]
    conn, events = _feed(datagrams)
    assert [(m.frame, m.type) for m in _messages(events)] == [(1, 1), (4, 1)]
    copies = [e for e in events if isinstance(e, Retransmission)]
    assert [(c.frame, c.message_seq, c.first_frame, c.offset) for c in copies] == [(2, 0, 1, 0), (5, 1, 4, 30), (6, 0, 1, 0)]
    assert conn.retransmissions == 3


def test_a_new_client_hello_with_the_same_message_seq_is_a_new_message() -> None:
    """A client starting over (new random) reuses message_seq 0: a message, not a contradiction."""
    other = B.client_hello(random=b"\x33" * 32)
    _, events = _feed([B.record(22, B.fragment(1, CH)), B.record(22, B.fragment(1, other))])
    assert [m.body.random for m in _messages(events)] == [b"\x11" * 32, b"\x33" * 32]
    assert not [e for e in events if isinstance(e, Malformed)]


def test_same_message_seq_in_a_new_epoch_is_a_new_message() -> None:
    """A renegotiation restarts message_seq at 0 in a later epoch (here readable as plaintext)."""
    r = hs.Reassembler()
    h = hs.split_fragments(B.fragment(1, CH))[0][0][0]
    assert isinstance(r.add(0, h, CH, 1), hs.Complete)
    assert isinstance(r.add(0, h, CH, 2), hs.Repeat)
    assert isinstance(r.add(1, h, CH, 3), hs.Complete)


def test_bounds() -> None:
    r = hs.Reassembler()
    big = hs.FragmentHeader(11, hs.MAX_MESSAGE + 1, 0, 0, 10)
    out = r.add(0, big, b"x" * 10, 1)
    assert isinstance(out, hs.Conflict) and "exceeds" in out.reason
    for seq in range(hs.MAX_PENDING):
        assert isinstance(r.add(0, hs.FragmentHeader(11, 100, seq, 0, 10), b"x" * 10, 1), hs.Piece)
    out = r.add(0, hs.FragmentHeader(11, 100, 999, 0, 10), b"x" * 10, 2)
    assert isinstance(out, hs.Conflict) and "wait for fragments" in out.reason
    r2 = hs.Reassembler()  # claimed lengths are capped, not just counted
    assert isinstance(r2.add(0, hs.FragmentHeader(11, hs.MAX_PENDING_BYTES, 0, 0, 1), b"x", 1), hs.Piece)
    assert isinstance(r2.add(0, hs.FragmentHeader(11, 10, 1, 0, 1), b"x", 1), hs.Conflict)
    r3 = hs.Reassembler()  # remembered messages: bodies and entries bounded
    for seq in range(hs.MAX_DONE + 50):
        r3.add(0, hs.FragmentHeader(11, 4096, seq, 0, 4096), b"y" * 4096, seq)
    assert len(r3.done) == hs.MAX_DONE and r3.done_bytes <= hs.MAX_DONE_BYTES
    # a forgotten body still recognises a whole retransmitted copy by its digest
    assert isinstance(r3.add(0, hs.FragmentHeader(11, 4096, 60, 0, 4096), b"y" * 4096, 999), hs.Repeat)


def test_fragment_overrunning_its_record_or_message() -> None:
    frag = B.fragment(1, CH, 0, 0, 40)
    _, events = _feed([B.record(22, frag[:-5]), B.record(22, B.fragment(1, CH, 0, 0, 40, total=30))])
    reasons = [e.reason for e in events if isinstance(e, Malformed)]
    assert "overruns the record" in reasons[0] and "beyond the message length 30" in reasons[1]
