"""Failures explained: every connection whose handshake did not complete says where it stopped, the
evidence and one cause by id, each cause produced here from a real capture (made by
captures/scripts/make_explain_captures.py and the other fixture scripts)."""

from __future__ import annotations

import json

import jsonschema
import pytest

from analyzer.analysis.failure import CAUSES
from analyzer.api import load_keylog
from analyzer.cli import main

from conftest import CAPTURES, ROOT, reports

SCHEMA = json.loads((ROOT / "analyzer/schema/tls-analyzer-1.schema.json").read_text())
FAILURE = SCHEMA["properties"]["connections"]["items"]["properties"]["failure"]

# capture, connection id, key log (or None), cause, (last message seen, from whom), first evidence (kind, from)
CASES = [
    ("explain-version-mismatch.pcap", 0, None, "version_mismatch", ("ClientHello", "client"), ("alert", "server")),
    ("tls-fatal-alert.pcap", 0, None, "no_shared_parameters", ("ClientHello", "client"), ("alert", "server")),
    ("explain-tls12-cert-rejected.pcap", 0, None, "certificate_rejected", ("ServerHelloDone", "server"),
     ("alert", "client")),
    ("explain-tls13-cert-rejected.pcap", 0, None, "certificate_rejected", ("ServerHello", "server"),
     ("alert", "client")),
    ("tls13-hostile-strings.pcap", 0, None, "sni_not_recognised", ("ClientHello", "client"), ("alert", "server")),
    ("weak-fallback-scsv.pcap", 0, None, "inappropriate_fallback", ("ClientHello", "client"), ("alert", "server")),
    ("weak-explicit-curve.pcap", 0, None, "fatal_alert", ("ServerHelloDone", "server"), ("alert", "client")),
    ("explain-tls13-client-cert-missing.pcap", 0, "explain-tls13-client-cert-missing.keys", "fatal_alert",
     ("Finished", "client"), ("alert", "server")),
    ("explain-reset.pcap", 0, None, "connection_reset", ("ClientHello", "client"), ("rst", "server")),
    ("explain-closed.pcap", 0, None, "closed_by_peer", ("ClientHello", "client"), ("fin", "server")),
    ("explain-tls13-cut.pcap", 0, None, "capture_incomplete", ("ServerHello", "server"), ("end", None)),
]


def _failure(capture: str, conn: int, keys: str | None) -> dict:
    keylog = load_keylog(CAPTURES / "keys" / keys) if keys else None
    return next(r.to_json() for r in reports(CAPTURES / capture, keylog=keylog) if r.connection.id == conn)["failure"]


@pytest.mark.parametrize("capture, conn, keys, cause, stopped, first", CASES, ids=[c[0] for c in CASES])
def test_each_cause_comes_from_a_real_capture(capture: str, conn: int, keys: str | None, cause: str,
                                              stopped: tuple, first: tuple) -> None:
    failure = _failure(capture, conn, keys)
    jsonschema.validate(failure, FAILURE)
    assert failure["cause"] == cause
    assert (failure["stopped_after"]["message"], failure["stopped_after"]["from"]) == stopped
    assert (failure["evidence"][0]["kind"], failure["evidence"][0]["from"]) == first
    frames = [e["frame"] for e in failure["evidence"]]
    assert frames == sorted(frames)


def test_every_cause_id_is_produced_and_listed_in_the_schema_and_readme() -> None:
    assert {c[3] for c in CASES} == set(CAUSES)
    assert FAILURE["properties"]["cause"]["enum"] == list(CAUSES)
    readme = (ROOT / "README.md").read_text()
    assert all(f"`{cause}`" in readme for cause in CAUSES)


def test_the_words_name_who_and_what() -> None:
    version = _failure("explain-version-mismatch.pcap", 0, None)
    assert "server refused" in version["text"] and "TLSv1.2" in version["text"]
    cert = _failure("explain-tls12-cert-rejected.pcap", 0, None)
    assert cert["text"] == "the client rejected the server's certificate (alert bad_certificate)"
    closed = _failure("explain-closed.pcap", 0, None)  # the client's decode_error after the FIN is evidence
    assert [e["kind"] for e in closed["evidence"]] == ["fin", "alert", "rst"]
    assert closed["evidence"][1]["text"] == "fatal alert decode_error"
    sni = _failure("tls13-hostile-strings.pcap", 0, None)
    assert "\\x1b" in sni["text"] and "\x1b" not in sni["text"]  # a wire string goes in as its repr


def test_a_tls13_alert_hidden_without_the_key_log_is_found_with_it() -> None:
    plain, = reports(CAPTURES / "explain-tls13-client-cert-missing.pcap")
    assert plain.failure is None  # opaque: an application-data record like any other
    keyed = _failure("explain-tls13-client-cert-missing.pcap", 0, "explain-tls13-client-cert-missing.keys")
    assert keyed["text"] == "the server ended the handshake with a fatal alert certificate_required"


def test_completed_handshakes_have_no_failure() -> None:
    for name in ("tls13.pcap", "tls12-ecdhe.pcap", "tls13-hrr.pcap", "tls12-gap.pcap"):
        assert all(r.failure is None and "failure" not in r.to_json() for r in reports(CAPTURES / name))


def test_ladder_and_table_show_the_cause(capsys) -> None:
    main(["ladder", str(CAPTURES / "explain-reset.pcap"), "--width", "200"])
    out = capsys.readouterr().out
    assert "! handshake failed [connection_reset]: the server reset the connection (TCP RST)" in out
    main(["analyze", str(CAPTURES / "explain-version-mismatch.pcap")])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[-1] == "failure" and lines[2].split()[-1] == "version_mismatch"
    main(["analyze", str(CAPTURES / "tls13.pcap")])
    assert "failure" not in capsys.readouterr().out.splitlines()[0]
