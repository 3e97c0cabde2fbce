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

from conftest import CAPTURES, facts

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
