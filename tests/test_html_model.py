"""What the HTML report shows of a connection (analyzer/render/html_model.py), built from the JSON
that `analyze --format json` prints for real fixture captures; and that it holds on connection
dicts it has never seen (a bare row, QUIC/DTLS-like messages, future keys)."""

from __future__ import annotations

import json
import re

import pytest

from analyzer.api import load_keylog
from analyzer.render import html_model
from analyzer.api import json_document

from conftest import CAPTURES

RAW_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def connections(name: str, keylog: str | None = None) -> list[dict]:
    kl = None
    if keylog:

        kl = load_keylog(str(CAPTURES / "keys" / keylog))
    return json.loads(json_document(str(CAPTURES / name), keylog=kl))["connections"]


def test_hrr_ladder_shows_the_retry_between_the_two_client_hellos() -> None:
    (conn,) = connections("tls13-hrr.pcap")
    rows = html_model.ladder(conn)
    labels = [r["label"] for r in rows]
    assert labels[:5] == ["ClientHello", "HelloRetryRequest", "ChangeCipherSpec", "ChangeCipherSpec", "ClientHello"]
    hrr = rows[1]
    assert hrr["from"] == "server" and "hrr" in hrr["cls"] and hrr["note"] == "retry with secp256r1"
    assert rows[0]["t"] == "0.000000" and rows[0]["frame"] == "4"
    runs = [r for r in rows if "run" in r["cls"]]
    assert runs and all("enc" in r["cls"] for r in runs)
    assert any(r["label"] == "ApplicationData ×4" and r["note"] == "encrypted handshake flight, 2225 bytes" for r in runs)
    assert any(r["frame"] == "10-11" for r in runs)  # a run over several frames


def test_gap_row_sits_where_the_bytes_went_missing() -> None:
    (conn,) = connections("tls12-gap.pcap")
    rows = html_model.ladder(conn)
    gap = next(i for i, r in enumerate(rows) if r["kind"] == "gap")
    assert rows[gap]["note"] == "2219 bytes from server never captured" and rows[gap]["frame"] == "6"
    assert rows[gap - 1]["label"] == "ClientHello" and rows[gap + 1]["label"] == "ClientKeyExchange"


def test_decrypted_messages_are_marked_apart() -> None:
    (conn,) = connections("tls13.pcap", "tls13.keys")
    rows = html_model.ladder(conn)
    decrypted = [r["label"] for r in rows if "dec" in r["cls"]]
    assert {"EncryptedExtensions", "Certificate", "CertificateVerify", "Finished"} <= set(decrypted)
    assert not any("enc" in r["cls"] for r in rows if r["label"] == "Certificate")
    assert next(r for r in rows if r["label"] == "Certificate")["note"].startswith("decrypted; chain of 2")


def test_a_fatal_alert_fails_the_connection() -> None:
    (conn,) = connections("tls-fatal-alert.pcap")
    alert = next(r for r in html_model.ladder(conn) if r["label"] == "Alert")
    assert {"alert", "fatal"} <= set(alert["cls"]) and alert["note"] == "fatal handshake_failure"
    row = dict(zip(html_model.ROW_COLUMNS, html_model.row(conn)))
    assert row["state"] == "failed"


def test_certificate_findings_mark_the_certificate_row_and_the_chain_is_judged_at_capture_time() -> None:
    (conn,) = connections("cert-expired.pcap")
    rows = html_model.ladder(conn)
    cert = next(r for r in rows if r["label"] == "Certificate")
    hello = next(r for r in rows if r["label"] == "ServerHello")
    assert ["CERT-EXPIRED", "high"] in cert["marks"] and "marks" not in hello  # same frame, right row
    leaf = html_model.certificates(conn, html_model.start_time(conn))[0]
    assert leaf["validity"] == "expired at capture time" and leaf["key"] == "ECDSA 256 bits (secp256r1)"
    assert leaf["sans"] == ["expired.test"] and leaf["subject"].startswith("CN=expired.test")
    row = dict(zip(html_model.ROW_COLUMNS, html_model.row(conn)))
    assert row["severity"] == html_model.severity_rank("high") and row["findings"] == len(conn["findings"])


def test_findings_keep_evidence_and_source() -> None:
    (conn,) = connections("cert-expired.pcap")
    found = {f["id"]: f for f in html_model.detail(conn)["findings"]}
    expired = found["CERT-EXPIRED"]
    assert expired["source"] == "RFC 5280 4.1.2.5" and expired["frame"] == "6"
    assert ["not_after", "2001-01-01T00:00:00Z"] in expired["evidence"]


@pytest.mark.parametrize("capture", ["tls13-hostile-strings.pcap", "tls-hostile-html.pcap"])
def test_wire_strings_arrive_without_control_or_bidi_characters(capture: str) -> None:
    for conn in connections(capture):
        out = json.dumps([html_model.row(conn), html_model.detail(conn)], ensure_ascii=False)
        assert not RAW_CONTROL.search(out)
    out = json.dumps([html_model.detail(c) for c in connections(capture)], ensure_ascii=False)
    assert "\\u202e" in out  # shown as a visible escape


def test_long_notes_are_cut_with_the_whole_kept_for_the_tooltip() -> None:
    huge = connections("tls-hostile-html.pcap")[2]
    hello = html_model.ladder(huge)[0]
    assert len(hello["note"]) == html_model.NOTE_LIMIT and hello["note"].endswith("…")
    assert "x" * 1990 in hello["full"]


def test_tls13_without_keys_says_why_no_certificate() -> None:
    (conn,) = connections("tls13-hrr.pcap")
    assert "--keylog" in html_model.detail(conn)["certificates_note"]


@pytest.mark.parametrize("conn", [
    {},
    {"id": 7, "tls": False, "client": {"ip": "::1", "port": 5}, "server": {"ip": "::1", "port": 443}},
    {"id": 1, "transport": "quic", "messages": [
        {"name": "Initial", "from": "client", "frame": 1, "ts": 5.0},
        {"name": "VersionNegotiation", "from": "server", "frame": 2, "ts": "bad"},
        {"name": "Retry", "from": "server", "frame": 3},
        {"name": "ClientHello", "from": "client", "frame": 4, "ts": 5.5, "retransmission": True},
        {"name": "ServerHello", "from": "server", "frame": 9, "ts": 5.6, "retransmissions": 3},
        "not a message",
    ], "findings": [{"id": "X", "severity": "unheard-of", "frame": 4}, "junk"], "gaps": [{"from": "client"}],
     "certificates": [{"subject": "CN=a"}, 3], "fingerprints": None, "future_key": {"nested": [1]}},
])
def test_unknown_and_partial_connections_are_shown_not_fatal(conn: dict) -> None:
    row = html_model.row(conn)
    assert len(row) == len(html_model.ROW_COLUMNS)
    detail = html_model.detail(conn)
    json.dumps(detail)
    if conn.get("transport") == "quic":
        rows = detail["ladder"]
        assert [r["label"] for r in rows if r["kind"] == "msg"] == ["Initial", "VersionNegotiation", "Retry",
                                                                    "ClientHello", "ServerHello"]
        assert rows[3]["retrans"] == 1 and "retrans" in rows[3]["cls"] and "retransmitted" in rows[3]["note"]
        assert rows[4]["retrans"] == 3 and rows[4]["note"].endswith("retransmitted ×3")
        assert rows[-1]["kind"] == "gap"  # a gap without a frame goes last
        assert row[html_model.ROW_COLUMNS.index("transport")] == "quic"
