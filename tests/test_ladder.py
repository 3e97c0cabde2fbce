"""Ladder snapshots (HRR, resumption, mutual TLS, TCP gap) plus the facts each must make visible.

Snapshots live in tests/snapshots/; after regenerating the fixture captures, review and refresh
them with `UPDATE_SNAPSHOTS=1 python -m pytest tests/test_ladder.py`.
"""

from __future__ import annotations

import os
import re

import pytest

from analyzer.render import ladder, mermaid
from analyzer.report import analyze_capture

from conftest import CAPTURES, ROOT

SNAPSHOTS = ROOT / "tests" / "snapshots"
PLAIN = ladder.Style(ascii=True, color=False, width=120)


def _ladder(capture: str, style: ladder.Style = PLAIN) -> str:
    return ladder.render(analyze_capture(str(CAPTURES / capture)).connections, style)


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
    names = [r.split()[2] if "<" not in r.split()[2] else r.split()[-1] for r in _rows(text)]
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


def test_mermaid_is_a_sequence_diagram_per_connection() -> None:
    conns = analyze_capture(str(CAPTURES / "tls13-psk-resumption.pcap")).connections
    text = mermaid.render(conns)
    assert text.count("sequenceDiagram") == 2
    assert "C->>S: ClientHello" in text and "S->>C: ServerHello" in text
