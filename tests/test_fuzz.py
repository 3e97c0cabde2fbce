"""Fuzzing (issue 23): mutated real captures and streams through the capture readers, TCP
reassembly, the TLS layer with and without keys, and the whole pipeline to its JSON and table.

The properties: no exception escapes but the one-line InputError for a capture that cannot be read
at all; the JSON always validates against analyzer/schema; key material never appears in any
output; reassembly keeps its books (bytes and gaps contiguous, held bytes counted exactly, caps
kept). Seeds are the fixture captures and their key logs, so mutations reach deep states
(decrypted handshakes, renegotiation, 0-RTT, HelloRetryRequest, SSLv2).

The budget is about a minute and a half in all; TLS_ANALYZER_FUZZ=N multiplies every example count
(TLS_ANALYZER_FUZZ=20 for a long campaign). A crash found here is kept as a small regression below
(test_fuzz_regressions: built in code, or a tiny file in tests/fuzz_regressions/).
"""

from __future__ import annotations

import json
import os
import random
import struct
import tempfile
from functools import cache
from pathlib import Path

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyzer.errors import InputError
from analyzer.limits import Limits
from analyzer.net.decode import Segment
from analyzer.net.flows import TcpConnection
from analyzer.net.tcp import Gap, PendingBudget, StreamData
from analyzer.render import json as rjson
from analyzer.render import table
from analyzer.api import analyze, load_keylog
from analyzer.sources.pcap import CaptureInfo, read_frames
from analyzer.tls.connection import TlsConnection
from analyzer.tls.keylog import KeyLog

from conftest import CAPTURES, ROOT, reports
from hostile_inputs import fixture_streams, gzip_bytes, pcap, pcap_header, pcapng, pcapng_block

SCALE = max(1, int(os.environ.get("TLS_ANALYZER_FUZZ", "1")))
SCHEMA = json.loads((ROOT / "analyzer/schema/tls-analyzer-1.schema.json").read_text())
REGRESSIONS = Path(__file__).resolve().parent / "fuzz_regressions"
# seeds: one per key schedule and shape worth reaching (all with key logs but the SSLv2 one)
SEEDS = ("tls13-hrr", "tls13-0rtt", "tls12-ecdhe", "keyed-tls12-renegotiation", "keyed-tls12-chacha20",
         "keyed-tls10-cbc", "tls13-psk-resumption", "tls12-rsa", "weak-sslv2", "tls12-nano")


def _fuzz(n: int) -> settings:
    return settings(max_examples=n * SCALE, deadline=None, database=None, derandomize=SCALE == 1,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@cache
def _capture(name: str) -> bytes:
    path = CAPTURES / f"{name}.pcap"
    return (path if path.exists() else CAPTURES / f"{name}.pcapng").read_bytes()


@cache
def _keys(name: str) -> KeyLog | None:
    path = CAPTURES / "keys" / f"{name}.keys"
    return load_keylog(path) if path.exists() else None


def _secrets(keylog: KeyLog | None) -> list[str]:
    if keylog is None:
        return []
    values = [v for per in keylog.secrets.values() for v in per.values()] + list(keylog.rsa.values())
    return [v.hex() for v in values]


@st.composite
def _mutated(draw, data: bytes) -> bytes:  # noqa: ANN001
    """Up to four edits of real bytes: a flipped byte, a 32-bit field set to a hostile value (lengths),
    bytes cut out or inserted, or the tail cut off."""
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        if not buf:
            break
        kind = draw(st.sampled_from(["flip", "u32", "cut", "insert", "truncate"]))
        at = draw(st.integers(0, max(0, len(buf) - 1)))
        if kind == "flip":
            buf[at] ^= draw(st.integers(1, 255))
        elif kind == "u32":
            value = draw(st.sampled_from([0, 1, 12, 0x7FFFFFFF, 0xFFFFFFFF, 0x40000, 0x10000])) \
                if draw(st.booleans()) else draw(st.integers(0, 0xFFFFFFFF))
            buf[at:at + 4] = value.to_bytes(4, draw(st.sampled_from(["little", "big"])))
        elif kind == "cut":
            del buf[at:at + draw(st.integers(1, 64))]
        elif kind == "insert":
            buf[at:at] = draw(st.binary(min_size=1, max_size=32))
        else:
            del buf[at:]
    return bytes(buf)


def _written(data: bytes, suffix: str) -> str:
    fd, path = tempfile.mkstemp(suffix=suffix)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return path


# -- the capture readers ---------------------------------------------------------------------------

@cache
def _pcapng(name: str) -> bytes:
    """The seed as pcapng, its key log in a Decryption Secrets Block first (as editcap writes it)."""
    frames = _frames(name)
    keys = CAPTURES / "keys" / f"{name}.keys"
    dsb = pcapng_block(10, struct.pack("<II", 0x544C534B, keys.stat().st_size) + keys.read_bytes()) \
        if keys.exists() else b""
    body = pcapng([(f.ts, f.data) for f in frames], frames[0].linktype)
    head = len(pcapng([], frames[0].linktype))
    return body[:head] + dsb + body[head:]


@_fuzz(3000)
@given(st.data())
def test_fuzz_readers(data) -> None:  # noqa: ANN001
    name = data.draw(st.sampled_from(SEEDS))
    container = data.draw(st.sampled_from(["pcap", "pcapng", "pcap.gz", "pcapng.gz"]))
    original = _pcapng(name) if container.startswith("pcapng") else _capture(name)
    gz = container.endswith(".gz")
    raw = gzip_bytes(original) if gz else original
    mutated = data.draw(_mutated(raw))
    path = _written(mutated, "." + container)
    try:
        info = CaptureInfo(path)
        frames = list(read_frames(path, info, on_secrets=lambda b: KeyLog().add_secrets_block(b.secrets_type, b.data)))
    except InputError:
        return  # the one-line error of a file that cannot be read at all
    finally:
        os.unlink(path)
    assert all(len(f.data) <= Limits().max_frame_bytes for f in frames)
    assert [f.number for f in frames] == sorted({f.number for f in frames})
    assert len(info.warnings) <= Limits().max_capture_warnings + 2


# -- TCP reassembly --------------------------------------------------------------------------------

@st.composite
def _segments(draw):  # noqa: ANN001, ANN202
    """Segments of both directions around a small stream: any offsets (wrap included), overlaps with
    other bytes, SYN/FIN/RST anywhere, acknowledgements of anything."""
    isn = [draw(st.integers(0, (1 << 32) - 1)) for _ in range(2)]
    out = []
    for _ in range(draw(st.integers(1, 60))):
        d = draw(st.integers(0, 1))
        off = draw(st.integers(-5, 400))
        payload = draw(st.binary(max_size=40))
        flags = draw(st.sampled_from([0x10, 0x10, 0x18, 0x02, 0x12, 0x11, 0x14, 0x04, 0x01]))
        ack = (isn[1 - d] + draw(st.integers(-5, 500))) & 0xFFFFFFFF
        out.append((d, (isn[d] + off) & 0xFFFFFFFF, ack, flags, payload))
    return out


@_fuzz(1200)
@given(_segments(), st.integers(16, 600), st.integers(1, 20))
def test_fuzz_reassembly_keeps_its_books(segments, max_bytes: int, max_segments: int) -> None:  # noqa: ANN001
    limits = Limits(max_pending_bytes=max_bytes, max_pending_segments=max_segments,
                    max_pending_total=max_bytes * 3 // 2)  # below what both directions may hold: it binds
    budget = PendingBudget(limits.max_pending_total)
    conn = TcpConnection(0, (b"\x7f\0\0\1", b"\x7f\0\0\2", 1000, 443), "syn", limits, 1, 0.0, budget)
    events: list = []
    for frame, (d, seq, ack, flags, payload) in enumerate(segments, 1):
        src, dst = (b"\x7f\0\0\1", b"\x7f\0\0\2") if d == 0 else (b"\x7f\0\0\2", b"\x7f\0\0\1")
        conn.segment(d, Segment(src, dst, 1000, 443, seq, ack, flags, payload), frame, 0.0, events)
        for half in conn.halves:
            pending = half.pending or {}
            assert half.pending_bytes == sum(len(v[0]) for v in pending.values()) <= max_bytes
            assert sorted(half.order or []) == sorted(pending) and len(pending) <= max_segments
            assert all(off > half.next_off for off in pending)
        assert budget.held == sum(h.pending_bytes for h in conn.halves)
        assert budget.held <= budget.limit or not conn.halves[d].order  # over it, the sender's holes go
    conn.finish("capture end", events)
    assert budget.held == 0
    for d in (0, 1):
        pos = None
        for ev in events:
            if isinstance(ev, (StreamData, Gap)) and ev.direction == d:
                assert pos is None or ev.offset == pos  # delivered bytes and gaps tile the stream
                pos = ev.offset + (len(ev.data) if isinstance(ev, StreamData) else ev.length)


# -- the TLS layer, with and without keys ---------------------------------------------------------

@cache
def _streams(name: str) -> list[tuple[bytes, bytes]]:
    return fixture_streams(f"{name}.pcap") if (CAPTURES / f"{name}.pcap").exists() else []


@_fuzz(6000)
@given(st.data())
def test_fuzz_tls_layer(data) -> None:  # noqa: ANN001
    name = data.draw(st.sampled_from([s for s in SEEDS if _streams(s)]))
    streams = _streams(name)
    client, server = streams[data.draw(st.integers(0, len(streams) - 1))]
    side_bytes = [data.draw(_mutated(client)) if data.draw(st.booleans()) else client,
                  data.draw(_mutated(server)) if data.draw(st.booleans()) else server]
    keylog = _keys(name) if data.draw(st.booleans()) else None
    tls = TlsConnection(keylog)
    rng = random.Random(data.draw(st.integers(0, 1 << 30)))
    pos = [0, 0]
    frame = 0
    while pos[0] < len(side_bytes[0]) or pos[1] < len(side_bytes[1]):
        side = rng.randrange(2) if all(pos[s] < len(side_bytes[s]) for s in (0, 1)) else \
            (0 if pos[0] < len(side_bytes[0]) else 1)
        n = rng.choice([1, 5, 100, 1400, 20000])
        frame += 1
        if rng.random() < 0.03:
            tls.gap(side, n, frame, 0.0)
        else:
            tls.data(side, side_bytes[side][pos[side]:pos[side] + n], frame, 0.0)
        pos[side] += n
    tls.end(0, frame, 0.0)
    tls.end(1, frame, 0.0)


# -- the whole pipeline: JSON valid, no key material, with and without keys -------------------------

@cache
def _frames(name: str) -> tuple:
    path = _written(_capture(name), ".pcap")
    try:
        return tuple(read_frames(path))
    finally:
        os.unlink(path)


@_fuzz(500)
@given(st.data())
def test_fuzz_end_to_end(data) -> None:  # noqa: ANN001
    """Frames of a real capture, some mutated, dropped, repeated or reordered, analysed to JSON and a table."""
    name = data.draw(st.sampled_from(SEEDS))
    frames = list(_frames(name))
    for _ in range(data.draw(st.integers(1, 6))):
        i = data.draw(st.integers(0, len(frames) - 1))
        kind = data.draw(st.sampled_from(["mutate", "mutate", "drop", "repeat", "swap"]))
        if kind == "mutate":
            frames[i] = frames[i]._replace(data=data.draw(_mutated(frames[i].data)))
        elif kind == "drop":
            del frames[i]
        elif kind == "repeat":
            frames.insert(i, frames[i])
        elif i + 1 < len(frames):
            frames[i], frames[i + 1] = frames[i + 1], frames[i]
        if not frames:
            return
    path = _written(pcap([(f.ts, f.data) for f in frames], linktype=frames[0].linktype), ".pcap")
    keylog = _keys(name) if data.draw(st.booleans()) else None
    try:
        result = analyze(path, keylog=keylog)
    finally:
        os.unlink(path)
    blob = rjson.dumps(result.to_json()).decode()
    jsonschema.validate(json.loads(blob), SCHEMA)
    text = (table.render([table.cells(r) for r in result.connections]) + table.csv_header()
            + "".join(table.csv_row(r) for r in result.connections) + "\n".join(result.warnings))
    for secret in _secrets(keylog):
        assert secret not in blob and secret not in text.lower()


# -- what fuzzing found, kept ------------------------------------------------------------------------

def _tls13_frames() -> list[tuple[float, bytes]]:
    return [(f.ts, f.data) for f in _frames("tls13")]


# Inputs that once raised, built in code (the campaign of issue 23 found these; this harness has not
# found another so far). A crash that must be kept as bytes goes to tests/fuzz_regressions/ instead.
CRASHES = {
    "pcapng-12-byte-IDB-at-the-end": lambda: pcapng(_tls13_frames()) + struct.pack("<III", 1, 12, 12),
    "pcapng-12-byte-EPB-at-the-end": lambda: pcapng(_tls13_frames()) + struct.pack("<III", 6, 12, 12),
    "pcap-record-claiming-4GiB-snaplen-0xffffffff": lambda: pcap_header(snaplen=0xFFFFFFFF)
    + struct.pack("<IIII", 0, 0, 0xFFFFFFF0, 0xFFFFFFF0) + b"\0" * 64,
    "gzip-invalid-block-type-mid-stream": lambda: (lambda g: g[:len(g) // 2] + b"\xff" + g[len(g) // 2 + 1:])(
        gzip_bytes(pcap(_tls13_frames()) * 4, 1)),
}


@pytest.mark.parametrize("name", [*CRASHES, *(sorted(p.name for p in REGRESSIONS.glob("*.pcap*"))
                                              if REGRESSIONS.exists() else [])])
def test_fuzz_regressions(name: str) -> None:
    data = CRASHES[name]() if name in CRASHES else (REGRESSIONS / name).read_bytes()
    path = _written(data, ".pcap.gz" if data[:2] == b"\x1f\x8b" else ".pcap")
    try:
        result = analyze(path)
    except InputError:
        return
    finally:
        os.unlink(path)
    jsonschema.validate(json.loads(rjson.dumps(result.to_json())), SCHEMA)
    assert result.warnings  # each is damaged somewhere: a warning says where


def test_the_fuzz_seeds_reach_decryption() -> None:
    """The seeds are worth mutating only if their intact form decrypts: check that they do."""
    decrypted = [name for name in SEEDS if _keys(name) is not None and any(
        getattr(getattr(e, "msg", e), "decrypted", False)
        for c in reports(str(CAPTURES / (f"{name}.pcap" if (CAPTURES / f"{name}.pcap").exists()
                                                else f"{name}.pcapng")), keylog=_keys(name))
        for e in c.connection.entries)]
    assert len(decrypted) >= 7, decrypted

