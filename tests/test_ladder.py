"""Ladder snapshots (HRR, resumption, mutual TLS, TCP gap) plus the facts each must make visible.

Snapshots live in tests/snapshots/; after regenerating the fixture captures, review and refresh
them with `UPDATE_SNAPSHOTS=1 python -m pytest tests/test_ladder.py`.
"""

from __future__ import annotations

import os
import re

import pytest

from analyzer.render import ladder, mermaid

from conftest import CAPTURES, ROOT, reports

SNAPSHOTS = ROOT / "tests" / "snapshots"
PLAIN = ladder.Style(ascii=True, color=False, width=120)


def _ladder(capture: str, style: ladder.Style = PLAIN) -> str:
    return ladder.render(reports(str(CAPTURES / capture)), style)


def _snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / f"{name}.txt"
    if os.environ.get("UPDATE_SNAPSHOTS"):
        path.write_text(text)
    assert path.exists(), f"no snapshot {path}; run with UPDATE_SNAPSHOTS=1 and review it"
    assert text == path.read_text()


def _rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if re.match(r"\s+\d+\.\d+\s+\d", line)]


def test_hrr_ladder() -> None:
    text = _ladder("tls13-hrr.pcap")
    _snapshot("tls13-hrr", text)
    assert "HelloRetryRequest" in text and "retry with secp256r1" in text
    assert text.count("ClientHello") == 2 and "| HRR |" in text


def test_resumed_ladder_shows_resumption_and_no_certificate() -> None:
    text = _ladder("tls12-session-resumption.pcap")
    _snapshot("tls12-session-resumption", text)
    second = text.split("#1 ")[1]
    assert "resumed (session_id)" in second and "Certificate" not in second


def test_mutual_tls_ladder_shows_both_certificates() -> None:
    text = _ladder("tls12-mtls.pcap")
    _snapshot("tls12-mtls", text)
    assert "CertificateRequest" in text and "leaf CN=fixture client" in text
    assert re.search(r"Certificate -+>\s+chain of 2", text)  # the client's, arrow to the server


def test_gap_ladder_marks_the_lost_bytes() -> None:
    text = _ladder("tls12-gap.pcap")
    _snapshot("tls12-gap", text)
    assert "TCP gap: 2219 bytes from server lost" in text
    assert "EncryptedHandshakeMessage" in text  # framing found again after the gap


def test_unicode_and_colour_only_when_asked() -> None:
    fancy = _ladder("tls13.pcap", ladder.Style(ascii=False, color=True, width=120))
    assert "▶" in fancy and "\x1b[" in fancy
    plain = _ladder("tls13.pcap")
    assert plain.isascii() and "\x1b" not in plain


@pytest.mark.parametrize("width", [60, 80, 100])
def test_rows_fit_the_width(width: int) -> None:
    text = _ladder("tls13.pcap", ladder.Style(ascii=True, width=width))
    assert max(len(line) for line in text.splitlines()) <= width
    assert "..." in text  # long facts were shortened, not dropped silently


def test_mermaid_is_markdown_with_a_diagram_per_connection() -> None:
    conns = reports(str(CAPTURES / "tls13-psk-resumption.pcap"))
    text = mermaid.render(conns)
    blocks = re.findall(r"^```mermaid\n(.*?)^```$", text, re.M | re.S)
    assert len(blocks) == 2 and all(b.startswith("sequenceDiagram\n") for b in blocks)
    assert re.sub(r"^```mermaid\n.*?^```\n", "", text, flags=re.M | re.S).strip() == ""  # nothing outside them
    assert "C->>S: ClientHello" in blocks[0] and "S->>C: ServerHello" in blocks[1]


def test_rows_lead_with_facts_and_mark_findings_after_them() -> None:
    """Facts first (SNI, versions), then the ids of the findings above info that point at the row."""
    text = _ladder("weak-rc4.pcap")
    [row] = [r for r in _rows(text) if r.split()[1] == "20" and "ClientHello" in r]
    assert row.endswith("SNI example.test; versions 1.2  ! EXT-HEARTBEAT,SUITE-RC4")


def test_facts_are_cut_before_the_marks_on_a_long_row() -> None:
    text = _ladder("weak-tls13-downgrade.pcap")
    [row] = [r for r in _rows(text) if " ServerHello " in r and r.split()[1] == "6"]
    facts, mark = row.split("  ! ")
    assert facts.endswith("1.2; TLS_ECDHE_RSA_WITH_CHACHA...") and mark == "BEHAV-DOWNGRADE-SENTINEL"
    assert len(row) <= PLAIN.width


def test_info_findings_are_named() -> None:
    text = _ladder("tls12-rsa.pcap")
    assert text.rstrip().endswith("info: PROTO-NO-TLS13")


def test_a_legitimate_downgrade_sentinel_is_a_fact_not_a_finding() -> None:
    """The client offered TLS 1.2 only, so a TLS 1.3 server's sentinel is what RFC 8446 asks for:
    shown on the ServerHello row like any fact, not coloured or listed like a finding."""
    report = reports(str(CAPTURES / "weak-tls13-downgrade.pcap"))[1]
    assert report.connection.versions_offered == [0x0303] and report.connection.downgrade_sentinel
    text = ladder.render_connection(report, ladder.Style(ascii=True, color=True, width=200))
    [row] = [line for line in text.splitlines() if "downgrade sentinel" in line]
    assert row.endswith("downgrade sentinel TLS1.2") and f"\x1b[{ladder.NOTE_COLOUR}m" not in row
    assert "sentinel" not in text.replace(row, "")  # no warning line, no finding
