"""Agreement with Wireshark's dissector, message by message (frame, type, suites, extension
types, SNI, ALPN, supported_versions, key_share groups).

- ../shared/corpus: against the tshark oracles shipped beside each capture (skipped when absent).
- captures/: against tshark run live on each fixture (skipped when tshark is absent).
Every known disagreement is listed below with its reason; anything else fails.
"""

from __future__ import annotations

import json
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

from analyzer.report.messages import message_json

from conftest import CAPTURES, facts
from udp_oracle import oracle_view as _oracle_view

# (capture path relative to the corpus, frame) -> why we differ from tshark, and who is right
KNOWN = {
    **{("ntop_nDPI/encrypted_sni.pcap", f): "tshark files the key share inside the draft ESNI "
       "extension (0xffce) under key_share groups; we keep key_share (51) to its own shares" for f in (1, 2, 3)},
    **{("ntop_nDPI/tls_esni_sni_both.pcap", f): "same ESNI key-share quirk of tshark" for f in (4, 24)},
    **{("ntop_nDPI/openvpn_nohmac_tcp.pcapng", f): "TLS inside OpenVPN's control channel: Wireshark "
       "reassembles a whole control flight (until a short fragment) before dissecting TLS, so it reports "
       "every message at the flight's last frame; we report the frame carrying each record's last byte"
       for f in (67, 115, 137)},
}


def _ext(m: dict, *types: int) -> dict | None:
    return next((e for e in m.get("extensions") or [] if e["type"] in types), None)


def _our_view(m: dict, keys) -> dict:  # noqa: ANN001
    getters = {
        "cipher_suites": lambda: m.get("cipher_suites"),
        "cipher_suite": lambda: m.get("cipher_suite"),
        "extension_types": lambda: [e["type"] for e in m.get("extensions") or []],
        "sni": lambda: (_ext(m, 0) or {}).get("host_name"),
        "alpn": lambda: (_ext(m, 16) or {}).get("protocols"),
        "supported_versions": lambda: (_ext(m, 43) or {}).get("versions"),
        "selected_version": lambda: (_ext(m, 43) or {}).get("selected_version"),
        "key_share_groups": lambda: (_ext(m, 51, 40) or {}).get("groups"),
        "hrr_group": lambda: (_ext(m, 51, 40) or {}).get("selected_group"),
    }
    return {k: getters[k]() for k in keys}


def _our_messages(path: Path) -> dict[tuple[int, int], list[dict]]:
    ours: dict[tuple[int, int], list[dict]] = defaultdict(list)
    for conn in facts(str(path)):
        for e in conn.entries:
            msg = getattr(e, "msg", None)
            if msg is not None and msg.type is not None and not msg.encrypted:
                ours[(msg.frame, msg.type)].append(message_json(e))
    return ours


def test_corpus_agrees_with_tshark(corpus: Path) -> None:
    total = agree = excused = 0
    problems: list[str] = []
    seen_known: set = set()
    for oracle_path in sorted(corpus.rglob("*.tshark.json")):
        capture = Path(str(oracle_path)[: -len(".tshark.json")])
        rel = str(capture.relative_to(corpus))
        rows = [h for h in json.loads(oracle_path.read_text())["handshakes"]
                if h.get("transport") == "tcp" and h.get("proto") in ("tls", "sslv2")
                and isinstance(h.get("handshake_type"), int)]
        if not rows:
            continue
        ours = _our_messages(capture)
        for h in rows:
            total += 1
            key = (h["frame"], h["handshake_type"])
            want = _oracle_view(h)
            got = _our_view(ours[key].pop(0), want.keys()) if ours.get(key) else None
            if got == want:
                agree += 1
            elif (rel, h["frame"]) in KNOWN:
                seen_known.add((rel, h["frame"]))
                excused += 1
            else:
                problems.append(f"{rel} frame {h['frame']} type {h['handshake_type']}: tshark {want} ours {got}")
    assert not problems, f"{len(problems)} disagreements:\n" + "\n".join(problems[:30])
    assert seen_known == set(KNOWN), f"known exceptions that no longer occur: {set(KNOWN) - seen_known}"
    assert agree + excused == total and agree >= 2100


# Fixtures: how tshark must be told where the TLS is (it picks dissectors by port)
DECODE_AS = {"tls-starttls-smtp.pcap": "smtp"}
FIELDS = ["frame.number", "tls.handshake.type", "tls.handshake.ciphersuite", "tls.handshake.extension.type",
          "tls.handshake.extensions_server_name", "tls.handshake.extensions_alpn_str",
          "tls.handshake.extensions.supported_version", "tls.handshake.extensions_key_share_group"]


def _tshark_rows(tshark: str, capture: Path, port: int) -> dict[int, list[str]]:
    proto = DECODE_AS.get(capture.name, "tls")
    cmd = [tshark, "-n", "-r", str(capture), "-d", f"tcp.port=={port},{proto}", "-Y", "tls.handshake.type",
           "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,", "-E", "separator=/t"]
    for f in FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True).stdout
    rows = {}
    for line in out.splitlines():
        cells = line.split("\t")
        rows[int(cells[0])] = cells[1:] + [""] * (len(FIELDS) - len(cells))
    return rows


# TLS over TCP; the QUIC and DTLS fixtures are held to live tshark by test_quic_oracle.py and test_dtls_fixtures.py
TCP_FIXTURES = sorted(p.name for p in CAPTURES.glob("*.pcap*")
                      if not p.name.endswith(".gz") and not p.name.startswith(("quic-", "dtls")))


@pytest.mark.parametrize("name", TCP_FIXTURES)
def test_fixture_agrees_with_live_tshark(tshark: str, name: str) -> None:
    capture = CAPTURES / name
    conns = facts(str(capture))
    assert conns, "no TLS found"
    by_frame: dict[int, list] = defaultdict(list)
    for conn in conns:
        for e in conn.entries:
            msg = getattr(e, "msg", None)
            sslv2 = msg is not None and msg.content_type is None and msg.record_version == 2  # SSLv2 proper
            if msg is not None and msg.type is not None and not msg.encrypted and (msg.content_type == 22 or sslv2):
                by_frame[msg.frame].append(msg)
    theirs = _tshark_rows(tshark, capture, conns[0].server.port)
    assert sorted(theirs) == sorted(by_frame), "frames with visible handshake messages differ"
    for frame, cells in theirs.items():
        types, suites, ext_types, sni, alpn, versions, groups = cells[:7]
        msgs = by_frame[frame]
        assert [m.type for m in msgs] == [int(t) for t in types.split(",")], frame
        hellos = [m.body for m in msgs if m.type == 1]
        for ch in hellos[:1]:
            if ch.sslv2:  # tshark files SSLv2 CIPHER-SPECs under tls.handshake.cipherspec: checked in the corpus test
                continue
            assert ch.cipher_suites == [int(x, 16) for x in suites.split(",") if x]
            assert [e.type for e in ch.extensions or []] == [int(x) for x in ext_types.split(",") if x][
                : len(ch.extensions or [])]
            ours_sni = ch.ext(0).fields.get("host_name") if ch.ext(0) else None
            if ours_sni is not None and ours_sni.isascii() and ours_sni.isprintable():
                assert sni == ours_sni
            ours_alpn = ch.ext(16).fields["protocols"] if ch.ext(16) else []
            if all(p.isascii() and p.isprintable() and "," not in p for p in ours_alpn):
                assert alpn == ",".join(ours_alpn)
            if ch.ext(43):
                assert ch.ext(43).fields["versions"] == [int(v, 16) for v in versions.split(",") if v]
            if ch.ext(51):
                assert ch.ext(51).fields["groups"] == [int(g) for g in groups.split(",") if g][
                    : len(ch.ext(51).fields["groups"])]
