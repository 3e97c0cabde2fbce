"""A HelloRetryRequest explained: what changed between ClientHello 1 and 2, on real retries
(openssl, a tlslite-ng server that sends a cookie, the post-quantum retries), and a second hello
that changes more than RFC 8446 4.1.2 allows flagged as a finding."""

from __future__ import annotations

import dataclasses
import json

import jsonschema
import pytest
from conftest import CAPTURES, ROOT, facts, reports

from analyzer import registry
from analyzer.analysis import rulebook
from analyzer.analysis.retry import explain_retry
from analyzer.cli import main
from analyzer.registry.codes import EXT_SERVER_NAME
from analyzer.report.build import judge

SCHEMA = json.loads((ROOT / "analyzer/schema/tls-analyzer-1.schema.json").read_text())
RETRY = SCHEMA["properties"]["connections"]["items"]["properties"]["retry"]


@pytest.mark.parametrize("capture, before, after, cookie", [
    ("tls13-hrr.pcap", ["x25519"], ["secp256r1"], False),
    ("explain-hrr-cookie.pcap", ["x25519"], ["secp256r1"], True),
    ("pq-hrr-to-pq.pcap", ["x25519"], ["X25519MLKEM768"], False),
    ("pq-hrr-away-from-pq.pcap", ["X25519MLKEM768", "x25519"], ["secp256r1"], False),
])
def test_what_a_real_retry_changed(capture: str, before: list, after: list, cookie: bool) -> None:
    report, = reports(CAPTURES / capture)
    retry = report.to_json()["retry"]
    jsonschema.validate(retry, RETRY)
    names = report.to_json()["messages"]
    assert retry["frame"] == report.connection.client_hellos[1].frame
    assert [registry.group_name(g) for g in retry["key_share"]["before"]] == before
    assert [registry.group_name(g) for g in retry["key_share"]["after"]] == after
    assert retry["cookie"] == retry["cookie_echoed"] == cookie
    assert retry["extensions_added"] == (["cookie"] if cookie else [])
    assert retry["extensions_changed"] == ["key_share"] and retry["unexpected"] == []
    assert not any(f.id == "BEHAV-HRR-CHANGED" for f in report.findings)
    # the connection's fingerprints stay the first hello's; each hello keeps its own
    assert report.fingerprints["ja4"] == report.hello_fingerprints[0]["ja4"]
    assert [m.get("fingerprints", {}).get("ja4") for m in names if m["name"] == "ClientHello"] == \
        [fp["ja4"] for fp in report.hello_fingerprints]


def test_no_retry_without_a_hello_retry_request() -> None:
    for name in ("tls13.pcap", "tls12-ecdhe.pcap"):
        assert all("retry" not in r.to_json() for r in reports(CAPTURES / name))


def test_a_second_hello_that_changes_too_much_is_a_finding() -> None:
    conn, = facts(CAPTURES / "explain-hrr-cookie.pcap")
    second = conn.client_hellos[1]
    changed = dataclasses.replace(second.body)  # the real second hello, with a new SNI and without the cookie
    changed.extensions = [dataclasses.replace(e) for e in second.body.extensions
                          if e.type != 44]
    for e in changed.extensions:
        if e.type == EXT_SERVER_NAME:
            e.fields = {**e.fields, "host_name": "other.test"}
    changed.cipher_suites = second.body.cipher_suites[1:]
    second.body = changed
    retry = explain_retry(conn)
    assert retry is not None and retry.unexpected == [
        "server_name changed", "cipher_suites changed", "the HelloRetryRequest's cookie was not echoed"]
    report = judge(conn, rulebook.Judge(None))
    finding = next(f for f in report.findings if f.id == "BEHAV-HRR-CHANGED")
    assert finding.frame == second.frame and finding.severity == "medium"
    assert finding.evidence == {"unexpected": retry.unexpected}


def test_the_ladder_shows_the_retry_on_the_second_hello(capsys) -> None:
    main(["ladder", str(CAPTURES / "explain-hrr-cookie.pcap"), "--width", "200"])
    rows = [line for line in capsys.readouterr().out.splitlines() if "ClientHello" in line]
    assert "retry:" not in rows[0]
    assert "retry: key_share x25519 -> secp256r1, cookie echoed" in rows[1]
