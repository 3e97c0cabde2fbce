"""QUIC frames (RFC 9000 19) and CRYPTO reassembly: every frame type skipped right, the decoded
ones decoded, reassembly like TCP's (out of order, duplicate, conflicting overlap, gap, limits)."""

from __future__ import annotations

import pytest

from analyzer.quic import crypto_stream as CS
from analyzer.quic.crypto_stream import CryptoStream
from analyzer.quic.frames import Ack, ConnectionClose, Crypto, NewConnectionId, NewToken, Other, parse_frames
from analyzer.quic.wire import encode_varint as vi, varint
from analyzer.registry import quic as R

from quic_builders import crypto


def test_varints_round_trip_at_every_width() -> None:
    for value in (0, 63, 64, 16383, 16384, (1 << 30) - 1, 1 << 30, (1 << 62) - 1):
        enc = vi(value)
        assert varint(enc, 0, len(enc), "v") == (value, len(enc))
    assert varint(bytes.fromhex("c2197c5eff14e88c"), 0, 8, "v")[0] == 151288809941952652  # RFC 9000 A.1


def test_every_frame_type_is_skipped_and_the_known_ones_decoded() -> None:
    payload = b"".join([
        b"\x00\x00\x00",  # PADDING x3
        b"\x01",  # PING
        b"\x03" + vi(10) + vi(5) + vi(1) + vi(2) + vi(1) + vi(3) + vi(7) + vi(8) + vi(9),  # ACK_ECN, 1 more range
        b"\x04" + vi(4) + vi(9) + vi(100),  # RESET_STREAM
        b"\x05" + vi(4) + vi(9),  # STOP_SENDING
        crypto(5, b"hello"),
        b"\x07" + vi(3) + b"tok",  # NEW_TOKEN
        b"\x0e" + vi(4) + vi(0) + vi(4) + b"data",  # STREAM with offset and length
        b"\x10" + vi(1000), b"\x11" + vi(4) + vi(1000), b"\x12" + vi(3), b"\x13" + vi(3), b"\x14" + vi(9),
        b"\x15" + vi(4) + vi(9), b"\x16" + vi(1), b"\x17" + vi(1),
        b"\x18" + vi(1) + vi(0) + b"\x04" + b"\xaa\xbb\xcc\xdd" + bytes(16),  # NEW_CONNECTION_ID
        b"\x19" + vi(0), b"\x1a" + bytes(8), b"\x1b" + bytes(8),
        b"\x1c" + vi(0x178) + vi(6) + vi(4) + b"nope",  # CONNECTION_CLOSE (crypto error)
        b"\x1d" + vi(0x101) + vi(0),  # CONNECTION_CLOSE (application)
        b"\x1e",  # HANDSHAKE_DONE
        b"\x31" + vi(2) + b"dg",  # DATAGRAM with length
        b"\x40\xaf" + vi(1) + vi(2) + vi(3) + vi(4),  # ACK_FREQUENCY (a 2-byte frame type)
        b"\x08" + vi(0) + b"rest of the packet",  # STREAM without length: to the end
    ])
    frames, error = parse_frames(payload)
    assert error is None
    assert [getattr(f, "name", type(f).__name__) for f in frames] == [
        "padding", "ping", "Ack", "reset_stream", "stop_sending", "Crypto", "NewToken", "stream", "max_data",
        "max_stream_data", "max_streams_bidi", "max_streams_uni", "data_blocked", "stream_data_blocked",
        "streams_blocked_bidi", "streams_blocked_uni", "NewConnectionId", "retire_connection_id", "path_challenge",
        "path_response", "ConnectionClose", "ConnectionClose", "handshake_done", "datagram_with_length",
        "ack_frequency", "stream"]
    assert frames[0] == Other(0, 3)
    assert frames[2] == Ack(largest=10, delay=5, first_range=2, ranges=1, ecn=(7, 8, 9))
    assert frames[5] == Crypto(5, b"hello")
    assert frames[6] == NewToken(3)
    assert frames[16] == NewConnectionId(1, 0, b"\xaa\xbb\xcc\xdd")
    close = frames[20]
    assert isinstance(close, ConnectionClose)
    assert (close.error_name, close.alert, close.frame_type, close.reason) == \
        ("CRYPTO_ERROR(no_application_protocol)", 120, 6, b"nope")
    app = frames[21]
    assert isinstance(app, ConnectionClose) and app.application and app.error_name == "application(0x101)"
    assert app.alert is None


@pytest.mark.parametrize("payload, reason", [
    (b"\x06" + vi(0) + vi(50) + b"short", "CRYPTO frame claims 50 bytes, 5 left"),
    (b"\x1c" + vi(1) + vi(0) + vi(9) + b"abc", "CONNECTION_CLOSE reason claims 9 bytes, 3 left"),
    (b"\x02" + vi(1) + vi(0) + vi(5000) + vi(0), "ACK frame claims 5000 ranges"),
    (b"\x3f", "unknown frame type 0x3f"),
    (b"\x18" + vi(1) + vi(0) + b"\x15" + bytes(40), "NEW_CONNECTION_ID: bad connection id length"),
    (b"\x01\x06\x40", "crypto offset: 2-byte integer, 1 bytes left"),
])
def test_a_malformed_frame_stops_reading_and_keeps_what_came_before(payload: bytes, reason: str) -> None:
    frames, error = parse_frames(b"\x01" + payload)
    assert error is not None and reason in error.reason
    assert frames[0] == Other(1)


def test_names_from_the_registry() -> None:
    assert R.transport_parameter_name(4) == "initial_max_data"
    assert R.transport_parameter_name(27 + 31 * 5) == "GREASE(0xb6)"
    assert R.transport_parameter_name(27 + 31 * 5 + 1) == "unknown(0xb7)"
    assert R.transport_parameter_name(0x2AB2) == "grease_quic_bit"
    assert R.transport_parameter_name(0x1234) == "unknown(0x1234)"
    assert R.transport_error_name(0x0A) == "PROTOCOL_VIOLATION"
    assert R.transport_error_name(0x12A) == "CRYPTO_ERROR(bad_certificate)"
    assert R.transport_error_name(0x4000) == "unknown(0x4000)"
    assert R.frame_type_name(0x1E) == "handshake_done" and R.frame_type_name(0x1C) == "connection_close"


# -- CRYPTO reassembly ------------------------------------------------------------------------------

DATA = bytes(range(256)) * 4


def test_in_order_and_out_of_order_give_the_same_stream() -> None:
    s = CryptoStream()
    assert s.add(0, DATA[:100]) == DATA[:100]
    assert s.add(300, DATA[300:400]) == b""  # held
    assert s.add(200, DATA[200:300]) == b""
    assert s.gaps() == [(100, 100)]
    assert s.add(100, DATA[100:200]) == DATA[100:400]
    assert (s.gaps(), s.pending, s.problems) == ([], {}, [])


def test_duplicates_and_overlaps_with_the_same_bytes_are_quiet() -> None:
    s = CryptoStream()
    s.add(50, DATA[50:150])
    assert s.add(0, DATA[:120]) == DATA[:150]  # overlaps the held piece: it is kept, the rest joins
    assert s.add(0, DATA[:150]) == b"" and s.problems == []  # a whole retransmission
    assert s.add(140, DATA[140:160]) == DATA[150:160]


def test_conflicting_overlap_keeps_the_first_copy_and_says_where() -> None:
    s = CryptoStream()
    s.add(10, b"A" * 10)  # held
    out = s.add(0, b"B" * 15 + b"C" * 10)
    assert out == b"B" * 10 + b"A" * 10 + b"C" * 5  # bytes 10..19: the first copy
    assert s.problems == ["CRYPTO bytes at offset 10 arrived twice with different content; first copy kept"]
    s.add(0, b"X" * 5)  # against delivered history
    assert s.problems == ["CRYPTO bytes at offset 0 retransmitted with different content; first copy kept"]


def test_a_gap_is_never_filled() -> None:
    s = CryptoStream()
    s.add(0, DATA[:10])
    s.add(20, DATA[20:30])
    s.add(40, DATA[40:50])
    assert s.gaps() == [(10, 10), (30, 10)]
    assert s.delivered == 10


def test_limits_bound_memory_and_are_named() -> None:
    s = CryptoStream()
    assert s.add(CS.MAX_OFFSET - 2, b"xyz") == b""
    assert "beyond the 1048576-byte limit" in s.problems[0]
    for i in range(CS.MAX_PIECES + 5):
        s.add(10 + 2 * i, b"x")
    assert len(s.pending) == CS.MAX_PIECES and "512 pieces" in s.problems[0]
    big = CryptoStream()
    big.add(1, bytes(CS.MAX_PENDING))
    big.add(CS.MAX_PENDING + 10, b"more")
    assert big.pending_bytes == CS.MAX_PENDING and "262144 bytes" in big.problems[0]
    big.add(0, b"\x00")
    assert big.delivered == CS.MAX_PENDING + 1 and len(big.history) == CS.MAX_HISTORY


# -- quic_transport_parameters (0x39, and 0xffa5 of the drafts) -------------------------------------

def _params(ext_type: int, body: bytes) -> dict:
    from analyzer.tls.extensions import CH, decode_extensions
    from analyzer.tls.reader import Cursor

    block = ext_type.to_bytes(2, "big") + len(body).to_bytes(2, "big") + body
    (ext,) = decode_extensions(Cursor(block), CH)
    assert ext.malformed is None
    return ext.fields


def test_transport_parameters_with_names_values_and_grease() -> None:
    body = (vi(0x01) + vi(4) + vi(30000)
            + vi(0x0F) + vi(4) + b"\xde\xad\xbe\xef"
            + vi(27 + 31 * 3) + vi(3) + b"abc"
            + vi(0x11) + vi(8) + (1).to_bytes(4, "big") + (0x6B3343CF).to_bytes(4, "big")
            + vi(0x0C) + vi(0))
    fields = _params(0x39, body)
    assert [(p["id"], p["name"]) for p in fields["parameters"]] == [
        (1, "max_idle_timeout"), (15, "initial_source_connection_id"), (120, "GREASE(0x78)"),
        (0x11, "version_information"), (0x0C, "disable_active_migration")]
    p = fields["parameters"]
    assert p[0]["value"] == 30000 and p[1]["hex"] == "deadbeef" and p[2]["length"] == 3
    assert (p[3]["chosen_version"], p[3]["available_versions"]) == (1, [0x6B3343CF])


def test_draft_transport_parameters_in_the_old_encoding() -> None:
    """Drafts before 27: a 2-byte list length, then 2-byte ids and lengths (0xffa5)."""
    params = b"\x00\x04\x00\x04\x80\x01\x00\x00" + b"\x00\x03\x00\x02\x45\xac"
    fields = _params(0xFFA5, len(params).to_bytes(2, "big") + params)
    assert fields["encoding"] == "draft"
    assert [(p["name"], p["value"]) for p in fields["parameters"]] == \
        [("initial_max_data", 0x10000), ("max_udp_payload_size", 0x5AC)]


def test_a_lying_parameter_length_is_malformed_not_fatal() -> None:
    from analyzer.tls.extensions import CH, decode_extensions
    from analyzer.tls.reader import Cursor

    body = vi(0x01) + vi(40) + b"\x01"
    (ext,) = decode_extensions(Cursor(b"\x00\x39" + len(body).to_bytes(2, "big") + body), CH)
    assert ext.malformed is not None and "length 40" in ext.malformed


def test_generated_quic_registry_is_fresh() -> None:
    import subprocess
    import sys
    from pathlib import Path

    pytest.importorskip("aioquic")
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "tools/gen_quic_registry.py", "--check"], cwd=root,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
