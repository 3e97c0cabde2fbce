"""Agreement of the DTLS core with Wireshark's dissector over the corpus, row by row.

Every corpus capture whose tshark oracle has DTLS rows is run through the core the way the pipeline
will (tests/dtls_harness.py: frames -> UDP datagrams -> one DtlsConnection per 5-tuple, found by
content). Each tshark handshake row (frame, handshake type, and the fields
../shared/tools/fidelity.py compares: suites, extension types, SNI, ALPN, versions, key shares)
must match, in the same frame and order, one of our events of that type:
- the Message (tshark's row for the fragment that completed a message carries the whole message);
- a Fragment (tshark lists every other fragment as a row of its own, without fields);
- a Retransmission (tshark lists each copy; its fields are compared with the message it repeats).
tshark's JA3/JA3S of each DTLS hello must equal analysis.fingerprints' on our decoded hello.
Run plain and against the decrypted oracle (key logs per MANIFEST.tsv, or embedded secrets).
Every known difference is listed with its reason; anything else fails. The figure is printed
(`pytest -s tests/test_dtls_oracle.py`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import dtls_harness
import pytest
from test_wireshark_agreement import _oracle_view, _our_view
from udp_oracle import manifest_keylogs, oracle_rows

from analyzer.analysis.fingerprints import ja3, ja3s
from analyzer.dtls import looks_like_dtls
from analyzer.dtls.events import Fragment, Retransmission
from analyzer.net.decode import Datagram, PacketDecoder
from analyzer.report.messages import body_json
from analyzer.sources.pcap import read_frames
from analyzer.tls.events import Message
from analyzer.tls.messages import ClientHello, ServerHello

# (capture relative to the corpus, frame) -> why we differ from tshark, and who is right
KNOWN: dict[tuple[str, int], str] = {}


def _ours(flows: list) -> dict[int, list[tuple[int, object, bool]]]:
    """frame -> [(handshake type, body to compare or None for a fragment, retransmission?)] in wire order."""
    by_frame: dict[int, list[tuple[int, object, bool]]] = defaultdict(list)
    for flow in flows:
        first: dict[tuple[int, int, int], object] = {}
        for e in flow.events:
            if isinstance(e, Message) and e.type is not None and not e.encrypted:
                first[(e.side, e.frame, e.type)] = e.body
                by_frame[e.frame].append((e.type, e.body, False))
            elif isinstance(e, Fragment):
                by_frame[e.frame].append((e.type, None, False))
            elif isinstance(e, Retransmission):
                by_frame[e.frame].append((e.type, first.get((e.side, e.first_frame, e.type)), True))
    return by_frame


def _fingerprint_problem(row: dict, body: object) -> str | None:
    if row.get("ja3") and isinstance(body, ClientHello):
        ours = ja3(body)
        if ours is None or ours[1] != row["ja3"]:
            return f"ja3 tshark {row['ja3']} ours {ours}"
    if row.get("ja3s") and isinstance(body, ServerHello):
        ours = ja3s(body)
        if ours is None or ours[1] != row["ja3s"]:
            return f"ja3s tshark {row['ja3s']} ours {ours}"
    return None


def _agreement(corpus: Path, suffix: str, keyed: bool) -> tuple[int, int, int, list[str], set]:
    total = agree = excused = 0
    problems: list[str] = []
    seen_known: set = set()
    keylogs = manifest_keylogs(corpus)
    for oracle in sorted(corpus.rglob(f"*{suffix}")):
        capture = Path(str(oracle)[: -len(suffix)])
        rel = str(capture.relative_to(corpus))
        rows = oracle_rows(oracle, "dtls")
        if not rows:
            continue
        keylog = dtls_harness.keylog_for(capture, keylogs.get(rel)) if keyed else None
        ours = _ours(dtls_harness.run(capture, keylog))
        for h in rows:
            total += 1
            want = _oracle_view(h)
            candidates = ours.get(h["frame"], [])
            match = next((i for i, c in enumerate(candidates) if c[0] == h["handshake_type"]), None)
            problem = None
            if match is None:
                problem = "missing"
            else:
                htype, body, _ = candidates.pop(match)
                if want and body is None:
                    problem = f"a fragment where tshark has the message {want}"
                elif want:
                    got = _our_view(body_json(body), want.keys())
                    if got != want:
                        problem = f"tshark {want} ours {got}"
                if problem is None and body is not None:
                    problem = _fingerprint_problem(h, body)
            if problem is None:
                agree += 1
            elif (rel, h["frame"]) in KNOWN:
                seen_known.add((rel, h["frame"]))
                excused += 1
            else:
                problems.append(f"{rel} frame {h['frame']} type {h['handshake_type']}: {problem}")
    return total, agree, excused, problems, seen_known


@pytest.mark.parametrize("suffix, keyed", [(".tshark.json", False), (".tshark-decrypted.json", True)],
                         ids=["plain", "decrypted"])
def test_corpus_dtls_agrees_with_tshark(corpus: Path, suffix: str, keyed: bool) -> None:
    total, agree, excused, problems, seen_known = _agreement(corpus, suffix, keyed)
    pct = 100.0 * agree / total if total else 0.0
    print(f"\nDTLS {'decrypted' if keyed else 'plain'}: {agree}/{total} tshark rows agree ({pct:.1f}%), "
          f"{excused} known differences")
    assert not problems, f"{len(problems)} disagreements:\n" + "\n".join(problems[:40])
    assert seen_known <= set(KNOWN)
    if not keyed:
        assert seen_known == set(KNOWN), f"known exceptions that no longer occur: {set(KNOWN) - seen_known}"
    assert total and pct >= 99.0


def _udp_payloads(capture: Path):  # noqa: ANN202
    decoder = PacketDecoder()
    for frame in read_frames(str(capture)):
        pkt = decoder.decode(frame.linktype, frame.data)
        if isinstance(pkt, Datagram):
            yield frame.number, pkt


def test_detector_finds_exactly_the_dtls_flows(corpus: Path) -> None:
    """Over every corpus capture with UDP: no datagram of a capture without DTLS (DNS, QUIC, STUN,
    RTP, SIP, NTP, ...) looks like DTLS, and in captures with DTLS the flows found are tshark's."""
    checked = 0
    for oracle in sorted(corpus.rglob("*.tshark.json")):
        capture = Path(str(oracle)[: -len(".tshark.json")])
        doc = json.loads(oracle.read_text())
        dtls_ports = {frozenset((h["srcport"], h["dstport"]))
                      for h in doc["handshakes"] + doc["alerts"] + doc["change_cipher_spec"] if h.get("proto") == "dtls"}
        for number, pkt in _udp_payloads(capture):
            checked += 1
            if looks_like_dtls(pkt.payload):
                assert frozenset((pkt.sport, pkt.dport)) in dtls_ports, \
                    f"{capture.name} frame {number}: {pkt.sport}->{pkt.dport} taken for DTLS"
    print(f"\n{checked} UDP datagrams checked")
    assert checked > 2500
