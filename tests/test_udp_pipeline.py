"""QUIC and DTLS through the whole pipeline: UDP flows found by content, confirmed QUIC only, the
same messages the sans-IO cores give (tests/udp_oracle.py runs them alone), the transport's facts
in the report, the corpus's tshark rows, hostile and cut datagrams, and TCP and UDP interleaved.

The corpus figures (run with -s to see them):
    TLS_ANALYZER_PURE=1 python3 -m pytest -q -s tests/test_udp_pipeline.py -k corpus
"""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest

from analyzer.api import analyze, load_keylog
from analyzer.dtls import DtlsConnection, looks_like_dtls
from analyzer.limits import Limits
from analyzer.model import Entry, FragmentRow, RetransmissionRow
from analyzer.pipeline import Pipeline
from analyzer.quic.connection import QuicConnection
from analyzer.quic.packet import looks_like_quic
from analyzer.sources.pcap import CaptureInfo, Frame, read_frames
from analyzer.tls.events import Message

from conftest import CAPTURES
from udp_oracle import Agreement, captures_with, compare, manifest_keylogs, oracle_rows, run_core

QUIC = sorted(p.name for p in CAPTURES.glob("quic-*.pcap"))
DTLS = sorted(p.name for p in CAPTURES.glob("dtls*.pcap"))
ETHERNET = 1


def _keys(name: str) -> Path | None:
    path = CAPTURES / "keys" / (Path(name).stem + ".keys")
    return path if path.exists() else None


def _visible(conns: list) -> list[tuple[int, int, str, bool]]:
    """(frame, handshake type, name, decrypted) of every readable handshake row, in order."""
    return [(e.msg.frame, e.msg.type, e.msg.name, e.msg.decrypted) for c in conns for e in c.entries
            if isinstance(e, Entry) and e.msg.type is not None and not e.msg.encrypted]


def _core_messages(name: str, keyed: bool) -> list[tuple[int, int, str, bool]]:
    quic = name.startswith("quic")
    flows = run_core(CAPTURES / name, QuicConnection if quic else DtlsConnection,
                     looks_like_quic if quic else looks_like_dtls, _keys(name), use_keys=keyed)
    return [(e.frame, e.type, e.name, e.decrypted) for f in flows for e in f.events
            if isinstance(e, Message) and e.type is not None and not e.encrypted]


KEYED = [n for n in QUIC + DTLS if _keys(n) is not None]  # (no secrets exist for a refused handshake)


@pytest.mark.parametrize(("name", "keyed"), [(n, False) for n in QUIC + DTLS] + [(n, True) for n in KEYED])
def test_fixture_reads_as_its_core_alone(name: str, keyed: bool) -> None:
    """The pipeline shows every handshake message the core gives, in the same frames, once."""
    keys = _keys(name) if keyed else None
    result = analyze(CAPTURES / name, keylog=keys)
    conns = [r.connection for r in result.connections]
    assert conns and {c.transport for c in conns} == {"quic" if name.startswith("quic") else "dtls"}
    ours = _visible(conns)
    whole = [(e.msg.frame, e.msg.type, e.msg.name, e.msg.decrypted) for c in conns for e in c.entries
             if isinstance(e, Entry) and e.msg.type is not None and not e.msg.encrypted
             and not isinstance(e.msg.body, (FragmentRow, RetransmissionRow))]
    assert whole == _core_messages(name, keyed)
    if keyed:
        assert any(m[3] for m in ours), "the key log decrypts part of the handshake"


def test_quic_facts_of_a_retry() -> None:
    conn = analyze(CAPTURES / "quic-retry.pcap").connections[0].connection
    q = conn.udp
    assert q["version_name"] == "QUICv1" and q["retry"] and not q["version_negotiation"]
    assert [e.msg.name for e in conn.entries if isinstance(e, Entry)][:3] == ["ClientHello", "Retry", "ClientHello"]
    assert q["packets"]["client"]["Initial"] >= 2 and q["packets"]["server"]["Handshake"] >= 1
    assert q["transport_parameters"]["client"]["max_idle_timeout"] == 60000
    assert q["original_destination_connection_id"] in q["connection_ids"]["server"]


def test_quic_close_with_a_tls_alert_is_the_connections_alert() -> None:
    report = analyze(CAPTURES / "quic-alpn-refused.pcap").connections[0]
    conn = report.connection
    assert [(a.side, a.level, a.description) for a in conn.alerts] == [("server", 2, 120)]
    assert not conn.complete
    close = report.to_json()["quic"]["close"]
    assert close["error_name"] == "CRYPTO_ERROR(no_application_protocol)" and close["reason"] == "No common ALPN protocols"


def test_quic_keylog_decrypts_the_certificate_for_the_certificate_rules() -> None:
    plain = analyze(CAPTURES / "quic-v1.pcap").connections[0]
    keyed = analyze(CAPTURES / "quic-v1.pcap", keylog=_keys("quic-v1.pcap")).connections[0]
    assert plain.connection.certificates == [] and keyed.connection.certificates
    assert keyed.certificates[0]["subject_cn"] == "example.test"
    assert "CERT-LONG-LIFETIME" in {f.id for f in keyed.findings} - {f.id for f in plain.findings}


def test_ja4_prefix_and_dtls_judged_by_its_tls_version() -> None:
    quic = analyze(CAPTURES / "quic-v1.pcap").connections[0]
    dtls10 = analyze(CAPTURES / "dtls10-cbc.pcap").connections[0]
    assert quic.fingerprints["ja4"].startswith("q13") and dtls10.fingerprints["ja4"].startswith("dd1")
    assert dtls10.connection.version == 0xFEFF  # the fact stays DTLS 1.0 ...
    assert "PROTO-TLS10-11" in {f.id for f in dtls10.findings}  # ... judged as TLS 1.1 (RFC 6347 1.1)
    doc = dtls10.to_json()
    assert doc["version_name"] == "DTLSv1.0" and doc["dtls"]["hello_verify_request"] == 2


def test_dtls_fragments_and_cookie_rows() -> None:
    report = analyze(CAPTURES / "dtls12-small-mtu.pcap").connections[0]
    d = report.to_json()
    fragments = [m for m in d["messages"] if "fragment" in m]
    assert len(fragments) == d["dtls"]["fragments"] >= 8 and {m["name"] for m in fragments} >= {"Certificate"}
    assert d["dtls"]["cookie_length"] > 0 and d["history"].startswith("CvC")
    assert len(report.connection.client_hellos) == 2  # fragments and copies are not messages of their own


def test_dtls_retransmission_shows_the_message_again(corpus: Path) -> None:
    result = analyze(corpus / "ntop_nDPI" / "dtls.pcap")
    rows = [e for r in result.connections for e in r.connection.entries
            if isinstance(e, Entry) and isinstance(e.msg.body, RetransmissionRow)]
    assert rows, "the capture has retransmitted flights"
    assert all(r.msg.body.first_frame < r.msg.frame for r in rows)
    doc = result.connections[0].to_json()
    assert doc["dtls"]["retransmissions"] >= len([m for m in doc["messages"] if "retransmission" in m]) > 0


# --- the corpus, as ../shared/tools/fidelity.py --transport udp reads it --------------------------


def _pipeline_messages(capture: Path, keylog: Path | None) -> dict[tuple[int, int], list]:
    """Our readable handshake rows by (frame, type); a retransmission stands for the message it repeats."""
    ours: dict[tuple[int, int], list] = {}
    for r in analyze(capture, keylog=keylog).connections:
        for e in r.connection.entries:
            if isinstance(e, Entry) and e.msg.type is not None and not e.msg.encrypted:
                m = e.msg
                if isinstance(m.body, RetransmissionRow):
                    m = Message(side=m.side, frame=m.frame, ts=m.ts, content_type=m.content_type,
                                record_version=m.record_version, type=m.type, name=m.name, encrypted=False,
                                length=m.length, body=m.body.message)
                ours.setdefault((m.frame, m.type), []).append(m)
    return ours


@pytest.mark.parametrize("decrypted", [False, True], ids=["plain", "decrypted"])
def test_corpus_udp_agrees_with_tshark(corpus: Path, decrypted: bool) -> None:
    keylogs = manifest_keylogs(corpus)
    result = Agreement()
    seen = set()
    for proto in ("quic", "dtls"):
        for capture, oracle in captures_with(corpus, proto, decrypted):
            rel = str(capture.relative_to(corpus))
            if rel in seen:
                continue
            seen.add(rel)
            rows = [h for h in oracle_rows(oracle, "quic") + oracle_rows(oracle, "dtls") if h.get("transport") != "tcp"]
            rows.sort(key=lambda h: h["frame"])
            compare(rows, _pipeline_messages(capture, keylogs.get(rel) if decrypted else None), rel, {}, result)
    print("\n" + result.figure("QUIC and DTLS through the pipeline, " + ("decrypted" if decrypted else "plain")))
    assert not result.problems, "\n".join(result.problems[:30])
    assert result.total >= (27 if decrypted else 328)


# --- hostile and cut datagrams ------------------------------------------------------------------


def _udp(src: int, dst: int, sport: int, dport: int, payload: bytes) -> bytes:
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, bytes([10, 0, 0, src]),
                     bytes([10, 0, 0, dst]))
    return b"\x02\0\0\0\0\1\x02\0\0\0\0\2\x08\x00" + ip + udp


def _run(frames: list[Frame], limits: Limits | None = None) -> tuple[list, Pipeline]:
    pipeline = Pipeline(limits)
    return list(pipeline.run(frames)), pipeline


def test_random_long_headers_never_become_a_connection() -> None:
    """Random bytes behind a valid-looking QUIC v1 long header: the prefilter lets them in, no
    Initial decrypts, so the flow is dropped without a report; time and memory stay small."""
    rng = random.Random(15)
    frames = []
    for n in range(1, 2001):
        payload = bytes([0xC0 | rng.randrange(4)]) + b"\0\0\0\1" + b"\x08" + rng.randbytes(8) + b"\x08" + \
            rng.randbytes(8) + rng.randbytes(rng.randrange(20, 1200))
        assert looks_like_quic(payload)
        frames.append(Frame(n, 1000.0 + n / 100, ETHERNET, _udp(n % 7, 200, 40000 + n % 13, 443, payload)))
    reports, pipeline = _run(frames)
    assert reports == [] and pipeline.stats.handed_out == 0 and not pipeline.udp.live


def test_dns_starts_no_flow() -> None:
    frames = [Frame(n, 1.0 + n, ETHERNET, _udp(1, 53, 5000 + n, 53, b"\x12\x34\x01\x00\0\1\0\0\0\0\0\0\3www\0\0\1\0\1"))
              for n in range(1, 500)]
    reports, pipeline = _run(frames)
    assert reports == [] and pipeline.flows.next_id == 0 and pipeline.stats.udp_datagrams == 499


@pytest.mark.parametrize("name", ["quic-v1.pcap", "dtls12-small-mtu.pcap", "quic-large-client-hello.pcap"])
def test_cut_and_damaged_datagrams_are_warnings(name: str) -> None:
    """Every datagram cut short at a random point, or one byte of it flipped: no exception, and the
    connection (when one is still found) says what went wrong."""
    rng = random.Random(name)
    frames = list(read_frames(str(CAPTURES / name), CaptureInfo(str(CAPTURES / name))))
    for _ in range(20):
        damaged = []
        for f in frames:
            data = bytearray(f.data)
            if rng.random() < 0.3:
                data = data[:rng.randrange(42, len(data))]
            elif rng.random() < 0.3:
                data[rng.randrange(42, len(data))] ^= 1 << rng.randrange(8)
            damaged.append(Frame(f.number, f.ts, f.linktype, bytes(data)))
        reports, _ = _run(damaged)
        for r in reports:
            assert r.connection.transport in ("quic", "dtls")
            r.to_json()


def test_a_damaged_initial_is_a_warning_on_the_connection() -> None:
    frames = list(read_frames(str(CAPTURES / "quic-v1.pcap"), CaptureInfo(str(CAPTURES / "quic-v1.pcap"))))
    second = frames[1]
    data = bytearray(second.data)
    data[60] ^= 0xFF  # inside the server's Initial: its AEAD tag no longer checks
    frames[1] = Frame(second.number, second.ts, second.linktype, bytes(data))
    (report,), _ = _run(frames)
    assert any("does not decrypt" in w or "cannot" in w or "AEAD" in w for w in report.connection.warnings)


def test_the_udp_flow_cap_is_a_warning_that_names_it() -> None:
    """Fifty QUIC connections (quic-v1 replayed from other client ports) with room for ten flows."""
    base = list(read_frames(str(CAPTURES / "quic-v1.pcap"), CaptureInfo(str(CAPTURES / "quic-v1.pcap"))))
    frames, n = [], 0
    for k in range(50):
        for f in base:
            data = bytearray(f.data)
            for port_at in (34, 36):  # Ethernet 14 + IPv4 20: the UDP ports; the client's gets its own value
                if struct.unpack_from("!H", data, port_at)[0] != 14001:
                    struct.pack_into("!H", data, port_at, 20000 + k)
            n += 1
            frames.append(Frame(n, 1000.0 + n / 1000, f.linktype, bytes(data)))
    reports, pipeline = _run(frames, Limits(max_udp_flows=10))
    ends = [r.connection.end_reason for r in reports]
    assert len(reports) == 50 and "evicted" in ends
    assert any("max_udp_flows" in w for w in pipeline.stats.warnings)


def test_tcp_and_udp_interleaved() -> None:
    """A TLS-over-TCP capture, a QUIC one and a DTLS one played at once: each connection reads as it
    does alone, ids follow the first frames, and output in id order (the watermark) holds."""
    names = ["tls13.pcap", "quic-v1.pcap", "dtls12-gnutls.pcap"]
    alone = {name: [(e[1], e[2]) for e in _visible([r.connection for r in analyze(CAPTURES / name).connections])]
             for name in names}
    merged = []
    for i, name in enumerate(names):
        for f in read_frames(str(CAPTURES / name), CaptureInfo(str(CAPTURES / name))):
            offset = f.ts - next(iter(read_frames(str(CAPTURES / name), CaptureInfo(str(CAPTURES / name))))).ts
            merged.append((2000.0 + offset + i * 1e-4, name, f))
    merged.sort(key=lambda x: x[0])
    frames = [Frame(n, ts, f.linktype, f.data) for n, (ts, _, f) in enumerate(merged, 1)]
    pipeline = Pipeline()
    reports = sorted(pipeline.run(frames), key=lambda r: r.connection.id)
    assert [r.connection.transport for r in reports] == ["tcp", "quic", "dtls"]
    firsts = [r.connection.first_frame for r in reports]
    assert firsts == sorted(firsts) and [r.connection.id for r in reports] == [0, 1, 2]
    for r, name in zip(reports, names):
        assert [(e[1], e[2]) for e in _visible([r.connection])] == alone[name]


def test_live_mode_hands_a_quic_connection_out_when_it_settles() -> None:
    frames = list(read_frames(str(CAPTURES / "quic-v1.pcap"), CaptureInfo(str(CAPTURES / "quic-v1.pcap"))))
    pipeline = Pipeline(early=True)
    seen_at = []
    for report in pipeline.run(iter_counting(frames, seen_at)):
        assert report.connection.transport == "quic"
        break
    assert seen_at and seen_at[-1] < len(frames), "handed out before the capture ended"


def iter_counting(frames: list[Frame], seen: list[int]):  # noqa: ANN201
    for f in frames:
        seen.append(f.number)
        yield f


def test_keylog_file_for_every_keyed_fixture_loads() -> None:
    for name in QUIC + DTLS:
        keys = _keys(name)
        if keys is not None:
            assert len(load_keylog(keys)) > 0


def test_renderers_show_the_transport_and_the_udp_rows() -> None:
    from analyzer.render import ladder, mermaid, table

    retry = analyze(CAPTURES / "quic-retry.pcap").connections
    refused = analyze(CAPTURES / "dtls12-fatal-alert.pcap").connections
    text = ladder.render(retry, ladder.Style(ascii=True, width=160))
    assert "QUICv1" in text.splitlines()[0] and "Retry" in text and "integrity ok" in text
    assert "CONNECTION_CLOSE" in mermaid.render(analyze(CAPTURES / "quic-alpn-refused.pcap").connections)
    assert "DTLS" in ladder.render(refused, ladder.Style(ascii=True)).splitlines()[0]
    assert table.cells(retry[0])[2].endswith(" quic") and table.cells(refused[0])[2].endswith(" dtls")
    tcp = analyze(CAPTURES / "tls13.pcap").connections
    assert not table.cells(tcp[0])[2].endswith("tcp")
