"""Weakness rules on real traffic: our fixtures (made by real peers) and the third-party corpus
(which holds what modern OpenSSL will not speak: SSLv2/v3, NULL, export, RC4, compression)."""

from __future__ import annotations

from pathlib import Path

import pytest

from analyzer.analysis.findings import max_severity, severity_at_least
from analyzer.analysis.rulebook import evaluate
from analyzer.analysis.weakness import RULES
from analyzer.cli import main
from analyzer.errors import ExitCode
from analyzer.report import analyze_capture
from analyzer.tls.keylog import KeyLog

from conftest import CAPTURES


def _ids(path: Path, keylog: KeyLog | None = None) -> set[str]:
    return {f.id for c in analyze_capture(str(path), keylog=keylog).connections for f in c.findings}


def test_modern_tls13_has_nothing_above_info() -> None:
    for name in ("tls13.pcap", "tls13-hrr.pcap", "tls13-python-ssl.pcap", "tls13-mtls.pcap"):
        for c in analyze_capture(str(CAPTURES / name)).connections:
            assert max_severity(c.findings) in (None, "info"), [f.id for f in c.findings]
    # with its certificate decrypted and judged too: a sound short-lived chain for the SNI
    keys = KeyLog.from_file(str(CAPTURES / "keys" / "cert-tls13-good.keys"))
    [c] = analyze_capture(str(CAPTURES / "cert-tls13-good.pcap"), keylog=keys).connections
    assert c.certificates and c.tls13
    assert max_severity(c.findings) == "info", [(f.id, f.severity) for f in c.findings]


def test_what_a_client_merely_offers_weighs_less() -> None:
    # gnutls-cli's default priority still offers TLS 1.0/1.1, static RSA and CBC; it got TLS 1.3
    conn = analyze_capture(str(CAPTURES / "tls13-gnutls.pcap")).connections[0]
    offered = {f.id: f.severity for f in conn.findings if f.scope == "offered"}
    assert offered["PROTO-TLS10-11"] == "low" and offered["SUITE-STATIC-RSA"] == "low"
    assert all(f.severity == "info" for f in conn.findings if f.scope != "offered")


@pytest.mark.parametrize("name, expected", [
    ("tls12-rsa.pcap", {"SUITE-STATIC-RSA", "PROTO-NO-TLS13"}),
    ("tls-fatal-alert.pcap", {"BEHAV-FATAL-ALERT"}),
    ("keyed-tls10-cbc.pcap", {"PROTO-TLS10-11", "SUITE-CBC"}),
    ("keyed-tls12-cbc-mte.pcap", {"SUITE-CBC"}),
])
def test_rules_fire_on_our_fixtures(name: str, expected: set[str]) -> None:
    assert expected <= _ids(CAPTURES / name)


def test_accepted_0rtt_is_flagged_once_decrypted() -> None:
    keys = KeyLog.from_file(str(CAPTURES / "keys" / "tls13-0rtt.keys"))
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
    conn = analyze_capture(str(CAPTURES / "tls13.pcap"), depth="tcp").connections[0]
    assert evaluate(conn) == []
