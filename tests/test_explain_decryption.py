"""Decryption explained: each connection's `decryption` status and reason, and the key-log
summary, on real captures with the key logs their own peers wrote (and key logs cut from them)."""

from __future__ import annotations

import json

import jsonschema
import pytest

from analyzer.analysis.decryption import REASONS, STATUSES
from analyzer.api import load_keylog
from analyzer.cli import main

from conftest import CAPTURES, ROOT, facts, reports

KEYS = CAPTURES / "keys"
SCHEMA = json.loads((ROOT / "analyzer/schema/tls-analyzer-1.schema.json").read_text())
DEFS = {"$defs": SCHEMA["$defs"]}


@pytest.mark.parametrize("name, alpn", [("tls13.pcap", "http/1.1"), ("tls13-python-ssl.pcap", "http/1.1"),
                                        ("tls13-gnutls.pcap", "http/1.1")])
def test_tls13_alpn_chosen_in_encrypted_extensions_reaches_the_connection(name: str, alpn: str) -> None:
    # TLS 1.3 servers select ALPN in EncryptedExtensions: invisible without keys, known with them
    assert [c.alpn for c in facts(CAPTURES / name)] == [None]
    keyed = facts(CAPTURES / name, keylog=load_keylog(KEYS / name.replace(".pcap", ".keys")))
    assert [c.alpn for c in keyed] == [alpn]


def _decryption(capture: str, keys: str) -> list[dict]:
    return [r.to_json()["decryption"] for r in reports(CAPTURES / capture, keylog=load_keylog(KEYS / keys))]


# (capture, key log, [(status, reason, frame)] per connection): every reason id, from a real capture
# and a key log its client wrote, or one cut from such a key log by make_explain_captures.py
CASES = [
    ("tls13.pcap", "tls13.keys", [("decrypted", "all_decrypted", None)]),
    ("tls12-ecdhe.pcap", "tls12-ecdhe.keys", [("decrypted", "all_decrypted", None)]),
    ("tls-fatal-alert.pcap", "tls13.keys", [("not_needed", "nothing_encrypted", None)]),
    ("tls12-gap.pcap", "tls12-ecdhe.keys", [("no_keys", "handshake_not_captured", None)]),  # its ServerHello lost
    ("tls13.pcap", "explain/tls13-no-line.keys", [("no_keys", "no_keylog_line", None)]),
    ("tls13.pcap", "explain/tls13-only-tls12-label.keys", [("no_keys", "other_version_labels", None)]),
    ("explain-tls12-aria.pcap", "explain-tls12-aria.keys", [("failed", "unsupported_suite", None)]),
    ("tls13.pcap", "explain/tls13-wrong-key.keys", [("failed", "decrypt_failed", 6)]),
    ("tls13-gap-appdata.pcap", "tls13.keys", [("partial", "decrypt_failed_after_gap", 13)]),
    ("tls13.pcap", "explain/tls13-no-handshake-secrets.keys", [("failed", "handshake_secrets_missing", None)]),
    ("tls13.pcap", "explain/tls13-no-traffic-secrets.keys", [("partial", "traffic_secrets_missing", None)]),
    ("keyed-tls12-renegotiation.pcap", "explain/tls12-renegotiation-first-only.keys",
     [("partial", "records_opaque", None)]),  # the renegotiated session's line left out
    ("tls13-0rtt.pcap", "explain/tls13-0rtt-no-early-secret.keys",
     [("decrypted", "all_decrypted", None), ("partial", "early_secret_missing", None)]),
]


@pytest.mark.parametrize("capture, keys, expected", CASES, ids=[f"{c[0]}+{c[1]}" for c in CASES])
def test_each_reason_comes_from_a_real_capture(capture: str, keys: str, expected: list) -> None:
    got = _decryption(capture, keys)
    assert [(d["status"], d["reason"], d["frame"]) for d in got] == expected
    for d in got:
        jsonschema.validate(d, SCHEMA["properties"]["connections"]["items"]["properties"]["decryption"] | DEFS)


def test_a_key_log_without_the_outer_random_of_an_ech_offer(corpus, capsys) -> None:
    # Firefox offering ECH to Cloudflare (corpus), with a key log holding another session's lines
    capture = corpus / "ntop_nDPI/tls_ech.pcapng"
    report = reports(capture, keylog=load_keylog(KEYS / "tls13.keys"))[0]
    d = report.to_json()["decryption"]
    assert (d["status"], d["reason"]) == ("no_keys", "ech_inner_random")
    assert report.connection.client_hellos[0].body.random.hex() in d["text"]


def test_every_reason_id_is_produced_by_a_case_and_listed_in_the_schema_and_readme() -> None:
    produced = {reason for _c, _k, rows in CASES for _s, reason, _f in rows} | {"ech_inner_random"}
    assert produced == set(REASONS)
    props = SCHEMA["properties"]["connections"]["items"]["properties"]["decryption"]["properties"]
    assert props["reason"]["enum"] == list(REASONS) and props["status"]["enum"] == list(STATUSES)
    readme = (ROOT / "README.md").read_text()
    assert all(f"`{reason}`" in readme for reason in REASONS)


def test_reasons_say_what_is_missing_and_where() -> None:
    wrong, = _decryption("tls13.pcap", "explain/tls13-wrong-key.keys")
    assert "frame 6" in wrong["text"] and "server" in wrong["text"]
    gap, = _decryption("tls13-gap-appdata.pcap", "tls13.keys")
    assert "gap" in gap["text"] and gap["decrypted"]["server"] > 0 and gap["opaque"]["server"] > 0
    aria, = _decryption("explain-tls12-aria.pcap", "explain-tls12-aria.keys")
    assert "TLS_ECDHE_RSA_WITH_ARIA_256_GCM_SHA384" in aria["text"]
    traffic, = _decryption("tls13.pcap", "explain/tls13-no-traffic-secrets.keys")
    assert "CLIENT_TRAFFIC_SECRET_0" in traffic["text"] and "EncryptedExtensions" not in traffic["text"]
    assert traffic["labels"] == ["CLIENT_HANDSHAKE_TRAFFIC_SECRET", "EXPORTER_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET"]


def test_the_handshake_still_decrypts_without_the_traffic_secrets() -> None:
    conn, = facts(CAPTURES / "tls13.pcap", keylog=load_keylog(KEYS / "explain/tls13-no-traffic-secrets.keys"))
    assert conn.alpn == "http/1.1" and any(e.msg.name == "Certificate" for e in conn.entries if hasattr(e, "msg"))
    assert conn.warnings == []  # opaque for want of a key is not a failure to decrypt


def test_no_decryption_field_without_a_key_log() -> None:
    report, = reports(CAPTURES / "tls13.pcap")
    assert "decryption" not in report.to_json() and report.decryption is None


def test_key_log_summary_line_and_explain_keylog(capsys) -> None:
    code = main(["analyze", str(CAPTURES / "tls13-psk-resumption.pcap"), "--keylog",
                 str(KEYS / "tls13-psk-resumption.keys")])
    err = capsys.readouterr().err
    assert code == 0 and "key log: 10 lines read, 2 sessions matched, 0 lines unused" in err.splitlines()
    keylog = KEYS / "tls13.keys"
    main(["analyze", str(CAPTURES / "tls13-hrr.pcap"), "--keylog", str(keylog), "--explain-keylog"])
    err = capsys.readouterr().err
    random = keylog.read_text().split()[-2]  # tls13.pcap's client random: not in tls13-hrr.pcap
    assert "key log: 5 lines read, 0 sessions matched, 5 lines unused" in err
    assert f"key log: unused client random {random} (no connection in the capture has it)" in err
    for line in keylog.read_text().splitlines():
        if not line.startswith("#"):
            assert line.split()[2] not in err  # never a secret


def test_the_table_gets_a_decryption_column_only_with_a_key_log(capsys) -> None:
    main(["analyze", str(CAPTURES / "tls13.pcap"), "--keylog", str(KEYS / "explain/tls13-wrong-key.keys")])
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[-1] == "decryption" and out[2].split()[-1] == "failed"
    main(["analyze", str(CAPTURES / "tls13.pcap")])
    assert "decryption" not in capsys.readouterr().out


def test_the_ladder_says_it_under_the_connection(capsys) -> None:
    main(["ladder", str(CAPTURES / "tls13.pcap"), "--keylog", str(KEYS / "explain/tls13-no-line.keys"),
          "--width", "200"])
    out = capsys.readouterr().out
    assert "! decryption no_keys [no_keylog_line]: the key log has no line for this client random" in out


def test_parallel_workers_report_what_they_matched(capsys, tmp_path) -> None:
    from analyzer import parallel

    keylog = load_keylog(KEYS / "tls13-psk-resumption.keys")
    _info, _frames, items, _warnings = parallel.analyze_json(str(CAPTURES / "tls13-psk-resumption.pcap"), 2,
                                                              "tls", None, keylog)
    assert len(list(items)) == 2
    assert keylog.usage().matched == 2 and keylog.usage().unused_lines == 0


def test_an_rsa_line_beside_the_client_random_line_counts_as_used(capsys) -> None:
    # OpenSSL logs both for static RSA: the CLIENT_RANDOM line keys the session, the RSA line is not unused
    main(["analyze", str(CAPTURES / "keyed-tls12-cbc-sha1-etm.pcap"), "--keylog",
          str(KEYS / "keyed-tls12-cbc-sha1-etm.keys")])
    assert "key log: 2 lines read, 1 session matched, 0 lines unused" in capsys.readouterr().err
