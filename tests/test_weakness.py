"""Weakness rules on real traffic: our fixtures (made by real peers) and the third-party corpus
(which holds what modern OpenSSL will not speak: SSLv2/v3, NULL, export, RC4, compression)."""

from __future__ import annotations

from pathlib import Path

import pytest

from analyzer.api import load_keylog
from analyzer.analysis.findings import max_severity, severity_at_least
from analyzer.analysis.rulebook import evaluate
from analyzer.analysis.weakness import RULES
from analyzer.cli import main
from analyzer.errors import ExitCode
from analyzer.selection import Selection
from analyzer.model import Connection
from analyzer.net.flows import Endpoint
from analyzer.tls.events import Message
from analyzer.tls.keylog import KeyLog

import test_fingerprints as fp
from conftest import CAPTURES, reports


def _ids(path: Path, keylog: KeyLog | None = None) -> set[str]:
    return {f.id for c in reports(str(path), keylog=keylog) for f in c.findings}


def test_modern_tls13_has_nothing_above_info() -> None:
    for name in ("tls13.pcap", "tls13-hrr.pcap", "tls13-python-ssl.pcap", "tls13-mtls.pcap"):
        for c in reports(str(CAPTURES / name)):
            assert max_severity(c.findings) in (None, "info"), [f.id for f in c.findings]
    # with its certificate decrypted and judged too: a sound short-lived chain for the SNI
    keys = load_keylog(str(CAPTURES / "keys" / "cert-tls13-good.keys"))
    [c] = reports(str(CAPTURES / "cert-tls13-good.pcap"), keylog=keys)
    assert c.connection.certificates and c.connection.tls13
    assert max_severity(c.findings) == "info", [(f.id, f.severity) for f in c.findings]


def test_legacy_options_offered_beside_modern_ones_are_info() -> None:
    # gnutls-cli's default priority still offers TLS 1.0/1.1, static RSA and CBC beside TLS 1.3; it got TLS 1.3
    conn = reports(str(CAPTURES / "tls13-gnutls.pcap"))[0]
    offered = {f.id: f.severity for f in conn.findings if f.scope == "offered"}
    assert {"PROTO-TLS10-11", "SUITE-STATIC-RSA", "SUITE-CBC"} <= set(offered)
    assert max_severity(conn.findings) == "info", [(f.id, f.severity) for f in conn.findings]


def _offering(versions: list[int], suites: list[int], negotiated: int | None = None) -> Connection:
    """A connection whose client offered `versions` and `suites` (and the server chose `negotiated`)."""
    exts = [fp.versions(*versions)] if versions != [0x0303] else []
    hello = fp.client_hello(suites, exts, version=min(versions[-1], 0x0303))
    msg = Message(side=0, frame=4, ts=0.0, content_type=22, record_version=0x0301, type=1, name="ClientHello",
                  encrypted=False, length=100, body=hello)
    return Connection(id=0, client=Endpoint("192.0.2.1", 40000), server=Endpoint("192.0.2.2", 443), role_source="syn",
                      first_frame=1, last_frame=9, first_ts=0.0, last_ts=1.0, tls=True, client_hellos=[msg],
                      versions_offered=versions, cipher_suite=negotiated, version=0x0303 if negotiated else None)


def _severities(conn: Connection) -> dict[str, str]:
    found = evaluate(conn)
    assert len({f.id for f in found}) == len(found), [f.id for f in found]  # one finding per rule
    return {f.id: f.severity for f in found}


MODERN = [0xC02B, 0xC02F, 0x1301]  # ECDHE-ECDSA-AES128-GCM, ECDHE-RSA-AES128-GCM, TLS_AES_128_GCM_SHA256


def test_what_is_broken_on_its_face_stays_low_even_beside_modern_options() -> None:
    # RC4, export, NULL, DES, anonymous and SSL 3.0 offered by a client that also offers TLS 1.3 and AEAD suites
    found = _severities(_offering([0x0304, 0x0303, 0x0300], MODERN + [0x0005, 0x0003, 0x0002, 0x0009, 0xC018, 0x002F]))
    assert {k: found[k] for k in ("SUITE-RC4", "SUITE-EXPORT", "SUITE-NULL", "SUITE-DES", "SUITE-ANON",
                                  "PROTO-SSLV3")} == dict.fromkeys(("SUITE-RC4", "SUITE-EXPORT", "SUITE-NULL",
                                                                    "SUITE-DES", "SUITE-ANON", "PROTO-SSLV3"), "low")
    assert found["SUITE-CBC"] == found["SUITE-STATIC-RSA"] == found["SUITE-WEAK-MAC"] == "info"


def test_a_client_offering_nothing_newer_than_tls11_stays_low() -> None:
    found = _severities(_offering([0x0302, 0x0301], [0xC013, 0xC014, 0x002F]))
    assert found["PROTO-TLS10-11"] == found["SUITE-CBC"] == found["SUITE-STATIC-RSA"] == "low"


def test_legacy_suites_without_a_modern_one_stay_low() -> None:
    # TLS 1.2 offered, but only CBC and static-RSA suites: nothing forward secret with an AEAD to fall back from
    found = _severities(_offering([0x0303], [0xC013, 0x002F, 0x009C]))
    assert found["SUITE-CBC"] == found["SUITE-STATIC-RSA"] == "low"


def test_a_negotiated_suite_is_one_finding_not_two() -> None:
    found = evaluate(_offering([0x0303], MODERN + [0x009C, 0x002F], negotiated=0x009C))
    static = [f for f in found if f.id == "SUITE-STATIC-RSA"]
    assert [(f.scope, f.severity) for f in static] == [("negotiated", "medium")]


def test_several_hits_of_one_rule_are_one_finding(corpus: Path) -> None:
    """globus-url-copy.pcap: four server and three client certificates with weak RSA keys."""
    [conn] = reports(str(corpus / "zeek_zeek/globus-url-copy.pcap"), select=Selection(conns=[1]))
    [weak] = [f for f in conn.findings if f.id == "CERT-WEAK-KEY"]
    assert weak.title == "server certificate 0 has a weak RSA key of 512 bits (and 6 more)"
    assert weak.evidence["key_bits"] == 512 and len(weak.evidence["more"]) == 6
    assert weak.evidence["more"][-1]["title"] == "client certificate 2 has a weak RSA key of 1024 bits"


@pytest.mark.parametrize("name, expected", [
    ("tls12-rsa.pcap", {"SUITE-STATIC-RSA", "PROTO-NO-TLS13"}),
    ("tls-fatal-alert.pcap", {"BEHAV-FATAL-ALERT"}),
    ("keyed-tls10-cbc.pcap", {"PROTO-TLS10-11", "SUITE-CBC"}),
    ("keyed-tls12-cbc-mte.pcap", {"SUITE-CBC"}),
])
def test_rules_fire_on_our_fixtures(name: str, expected: set[str]) -> None:
    assert expected <= _ids(CAPTURES / name)


def test_accepted_0rtt_is_flagged_once_decrypted() -> None:
    keys = load_keylog(str(CAPTURES / "keys" / "tls13-0rtt.keys"))
    assert "BEHAV-0RTT-ACCEPTED" in _ids(CAPTURES / "tls13-0rtt.pcap", keys)
    assert "BEHAV-0RTT-ACCEPTED" not in _ids(CAPTURES / "tls13-0rtt.pcap")  # unknown without keys


CORPUS_EXAMPLES = {  # rule -> a corpus capture where it must fire (real third-party traffic)
    "PROTO-SSLV2": "zeek_zeek/tls/ssl-v2.pcap",
    "PROTO-SSLV3": "Lekensteyn_wireshark-notes/ssl3/dump.pcapng",
    "SUITE-NULL": "Lekensteyn_wireshark-notes/tls/tls-null.pcapng",
    "SUITE-EXPORT": "Lekensteyn_wireshark-notes/tls/works/dump.pcapng",
    "SUITE-RC4": "Lekensteyn_wireshark-notes/tls/works/dump.pcapng",
    "SUITE-3DES": "Lekensteyn_wireshark-notes/tls/all/dump.pcapng",
    "KX-DH-WEAK": "zeek_zeek/tls/dhe.pcap",
    "EXT-COMPRESSION": "Lekensteyn_wireshark-notes/all/dump.pcapng",
    "EXT-HEARTBEAT": "zeek_zeek/tls/heartbleed-success.pcap",
}


@pytest.mark.parametrize("rule, capture", sorted(CORPUS_EXAMPLES.items()))
def test_rules_fire_on_the_corpus(corpus: Path, rule: str, capture: str) -> None:
    assert rule in _ids(corpus / capture)


def test_every_rule_has_an_id_family_severity_and_source() -> None:
    families = ("PROTO-", "SUITE-", "KX-", "EXT-", "CERT-", "BEHAV-", "POLICY-")
    assert len({r.id for r in RULES}) == len(RULES)
    for r in RULES:
        assert r.id.startswith(families) and severity_at_least(r.severity, "info") and r.source and r.explanation


def test_fail_on_sets_the_exit_code(capsys) -> None:
    assert main(["analyze", str(CAPTURES / "tls12-rsa.pcap"), "--fail-on", "medium"]) == ExitCode.FINDINGS
    assert main(["analyze", str(CAPTURES / "tls13.pcap"), "--fail-on", "low"]) == ExitCode.OK
    assert main(["rules"]) == ExitCode.OK and "SUITE-RC4" in capsys.readouterr().out


def test_non_tls_connections_have_no_findings() -> None:
    report = reports(str(CAPTURES / "tls13.pcap"), depth="tcp")[0]
    assert report.findings == [] and evaluate(report.connection) == []


def test_rules_say_which_offers_are_only_info() -> None:
    from analyzer.analysis.rulebook import rules_table

    said = {r["id"]: r["explanation"] for r in rules_table()}
    assert said["SUITE-CBC"].endswith("Only offered, beside modern options: info.")
    assert "Only offered" not in said["SUITE-RC4"]  # broken on its face: stays low
