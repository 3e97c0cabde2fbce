"""Damaged ciphertext with the right keys: a flipped byte anywhere in a keyed capture's TLS bytes is
a warning on its connection (bad tag, bad MAC or padding, a malformed record), never an exception,
and the rest of the capture is still analysed."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyzer.api import load_keylog
from analyzer.sources.pcap import read_frames
from analyzer.sources.pcapng_writer import PcapngWriter
from analyzer.tls.keylog import KeyLog

from analyzer.api import analyze

from conftest import CAPTURES, facts
from hostile_inputs import fixture_streams, flights, pcap, split_records, timed

# one per key schedule: TLS 1.3 with 0-RTT, CBC with chained IVs, MAC-then-encrypt, renegotiation
KEYED = ("tls13-0rtt", "keyed-tls10-cbc", "keyed-tls12-cbc-mte", "keyed-tls12-renegotiation", "keyed-tls12-chacha20")


@cache
def _capture(name: str) -> tuple[int, tuple, tuple[tuple[int, int], ...]]:
    """(link type, frames, (frame index, TCP payload offset) of every frame that carries payload)."""
    frames = tuple(read_frames(str(CAPTURES / f"{name}.pcap")))
    payloads = []
    for i, f in enumerate(frames):
        data = f.data
        assert f.linktype == 1 and data[12:14] == b"\x08\x00"  # Ethernet, IPv4 (how the fixtures were made)
        ip = 14
        tcp = ip + (data[ip] & 0x0F) * 4
        start = tcp + (data[tcp + 12] >> 4) * 4
        if len(data) > start:
            payloads.append((i, start))
    return frames[0].linktype, frames, tuple(payloads)


@cache
def _keys(name: str) -> KeyLog:
    return load_keylog(str(CAPTURES / "keys" / f"{name}.keys"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(KEYED), pick=st.integers(min_value=0), offset=st.integers(min_value=0),
       flip=st.integers(min_value=1, max_value=255))
def test_a_flipped_byte_is_reported_never_raised(tmp_path: Path, name: str, pick: int, offset: int, flip: int) -> None:
    linktype, frames, payloads = _capture(name)
    index, start = payloads[pick % len(payloads)]
    data = bytearray(frames[index].data)
    at = start + offset % (len(data) - start)
    data[at] ^= flip
    target = tmp_path / f"{name}-{index}-{at}.pcapng"
    with target.open("wb") as fh:
        writer = PcapngWriter(fh, linktype)
        for i, f in enumerate(frames):
            writer.write(f.ts, bytes(data) if i == index else f.data)
    damaged = facts(str(target), keylog=_keys(name))
    assert len(damaged) == len(_intact(name))  # every connection is still reported


@cache
def _intact(name: str) -> tuple:
    return tuple(facts(str(CAPTURES / f"{name}.pcap"), keylog=_keys(name)))


def test_a_damaged_record_is_named_and_the_rest_goes_on(tmp_path: Path) -> None:
    """The last byte of the client's first application-data record (its AEAD tag) flipped."""
    name = "keyed-tls12-chacha20"
    linktype, frames, payloads = _capture(name)
    conn = _intact(name)[0]
    first_data = next(e for e in conn.entries if getattr(e, "name", "") == "ApplicationData" and e.side == "client")
    index, start = next((i, s) for i, s in payloads if i + 1 == first_data.frame)
    target = tmp_path / "damaged.pcapng"
    with target.open("wb") as fh:
        writer = PcapngWriter(fh, linktype)
        for i, f in enumerate(frames):
            writer.write(f.ts, f.data[:-1] + bytes([f.data[-1] ^ 0x01]) if i == index else f.data)
    [after] = facts(str(target), keylog=_keys(name))
    assert any(f"frame {first_data.frame}:" in w and "cannot decrypt" in w for w in after.warnings), after.warnings
    assert after.complete and after.version == conn.version and after.certificates == conn.certificates


# -- issue 23 items 3 and 4: what the decrypter cannot do is a warning, never an exception -----------

def _replayed(tmp_path: Path, name: str, streams: tuple[bytes, bytes], plan: list[tuple[int, int]]) -> Path:
    path = tmp_path / name
    path.write_bytes(pcap(timed(flights(streams, plan))))
    return path


def test_a_tls13_suite_the_decrypter_lacks_is_a_warning_and_the_records_stay_opaque(tmp_path: Path) -> None:
    """A real TLS 1.3 ServerHello (captures/tls13.pcap) naming 0xC0B4 (TLS_SHA256_SHA256, RFC 9150),
    decrypted with the capture's own key log: was a DecryptError out of the whole capture."""
    client, server = fixture_streams("tls13.pcap")[0]
    sh = server.index(b"\x02\x00", 5)  # the ServerHello handshake header inside the first record
    suite_at = sh + 4 + 2 + 32 + 1 + server[sh + 4 + 2 + 32]
    assert server[suite_at:suite_at + 2] == b"\x13\x02"
    patched = server[:suite_at] + b"\xc0\xb4" + server[suite_at + 2:]
    plan = [(0, 1), (1, 6), (0, 4)]  # ClientHello; the server's flight; the client's CCS, Finished, data
    intact = analyze(str(_replayed(tmp_path, "ok.pcap", (client, server), plan)), keylog=_keys("tls13"))
    assert any(getattr(e, "decrypted", False) for e in intact.connections[0].connection.entries)  # it did decrypt before
    [conn] = facts(str(_replayed(tmp_path, "c0b4.pcap", (client, patched), plan)),
                             keylog=_keys("tls13"))
    assert conn.cipher_suite == 0xC0B4 and conn.version == 0x0304
    assert [w for w in conn.warnings if "cannot decrypt" in w] == [
        "frame 5: cannot decrypt: cipher suite 0xC0B4 is not supported for decryption at TLSv1.3; "
        "its records stay opaque (server, stream offset 0)"]
    assert not any(getattr(getattr(e, "msg", e), "decrypted", False) for e in conn.entries)


def test_a_chacha20_record_shorter_than_its_tag_is_a_warning(tmp_path: Path) -> None:
    """TLS 1.2 ChaCha20-Poly1305 with the right keys, the client's first application-data record cut to
    10 bytes: was a struct.error (a negative length in the AAD)."""
    client, server = fixture_streams("keyed-tls12-chacha20.pcap")[0]
    records = split_records(client)
    assert records[4][0] == 23  # CH, CKE, CCS, Finished, then the first application data
    records[4] = bytes((23, 3, 3, 0, 10)) + records[4][5:15]
    plan = [(0, 1), (1, 4), (0, 4), (1, 4)]  # the TLS 1.2 flights, then the rest
    [conn] = facts(str(_replayed(tmp_path, "short.pcap", (b"".join(records), server), plan)),
                             keylog=_keys("keyed-tls12-chacha20"))
    assert any("cannot decrypt: record too short for its tag" in w for w in conn.warnings), conn.warnings
    assert any(getattr(e, "decrypted", False) and e.side == "server" for e in conn.entries)  # the rest goes on
