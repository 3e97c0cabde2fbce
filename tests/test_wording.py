""""malformed" is kept for bytes that break the protocol: a record cut by the end of the capture or
of the connection says where it was cut, a record that does not decrypt says so (issue 16, item 13).
Plurals and articles read as English."""

from __future__ import annotations

from pathlib import Path

from analyzer.sources.pcap import read_frames
from analyzer.tls.connection import TlsConnection
from analyzer.tls.events import Malformed
from analyzer.tls.keylog import KeyLog
from analyzer.wording import article, cut_short, plural

from conftest import CAPTURES, facts
from test_zeek_agreement import _first_frames


def test_a_capture_cut_inside_a_record_says_how_far_in(tmp_path: Path) -> None:
    """tls13-fragmented-ch.pcap sends its ClientHello record over several segments; cut after the
    first, the capture holds that segment's bytes of the record, no more."""
    cut = _first_frames(CAPTURES / "tls13-fragmented-ch.pcap", tmp_path / "cut-ch.pcap", 4)
    frame = list(read_frames(str(cut)))[3].data
    start = frame.index(b"\x16\x03\x01")  # the record header at the start of the TCP payload
    have, total = len(frame) - start - 5, int.from_bytes(frame[start + 3:start + 5], "big")
    [conn] = facts(str(cut))
    assert conn.warnings == [f"frame 4: capture ends {have} bytes into a {total}-byte record (client, stream offset 0)"]


def test_a_connection_closed_inside_a_handshake_message_says_so() -> None:
    conn = TlsConnection()
    hello_head = b"\x16\x03\x01\x00\x40" + b"\x01\x00\x00\x3c" + b"\x03\x03" + bytes(20)  # 26 of 64 record bytes
    conn.data(0, hello_head, 1, 0.0)
    [event] = conn.end(0, 2, 0.0, "fin")
    assert isinstance(event, Malformed) and event.kind == "cut"
    assert event.reason == "connection closed (FIN) 26 bytes into a 64-byte record"


def test_a_record_that_does_not_decrypt_is_not_called_malformed() -> None:
    real = (CAPTURES / "keys" / "tls13.keys").read_text().splitlines()
    keys = KeyLog()
    keys.add_text("\n".join(f"{w[0]} {w[1]} {'00' * (len(w[2]) // 2)}" for w in (line.split() for line in real)))
    conn = facts(str(CAPTURES / "tls13.pcap"), keylog=keys)[0]
    undecryptable = [w for w in conn.warnings if "cannot decrypt" in w]
    assert undecryptable and not any("malformed" in w for w in undecryptable)


def test_plurals_and_articles() -> None:
    assert [plural(n, "connection") for n in (0, 1, 2)] == ["0 connections", "1 connection", "2 connections"]
    assert plural(1, "match", "matches") == "1 match" and plural(3, "match", "matches") == "3 matches"
    assert [article(n) for n in (8, 11, 18, 80, 800, 1100, 11000, 1400, 5, 110)] == \
        ["an", "an", "an", "an", "an", "a", "an", "a", "a", "a"]
    assert cut_short("rst", 3, 18, "ClientHello") == "connection reset (RST) 3 bytes into an 18-byte ClientHello"
