"""Wire strings are hostile: an SNI and ALPN full of terminal escapes, CR/LF, a bidi override, a NUL
and spreadsheet formulas (captures/tls13-hostile-strings.pcap, sent by real TLS stacks) must come
out of every text format inert, while JSON keeps their exact value."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from analyzer.cli import main
from analyzer.render.sanitize import csv_cell, mermaid, text

from conftest import CAPTURES

CAPTURE = str(CAPTURES / "tls13-hostile-strings.pcap")
RAW_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
HOSTILE_SNI = "evil\x1b[31m.red\r\nX-Injected: 1\u202eexe.test"


def _run(capsysbinary, *args: str) -> str:
    assert main(["analyze", CAPTURE, *args]) == 0 if args[:1] != ("ladder",) else True
    return capsysbinary.readouterr().out.decode("utf-8")


def test_the_capture_really_carries_hostile_bytes(capsysbinary) -> None:
    doc = json.loads(_run(capsysbinary, "--format", "json"))
    snis = [c["sni"] for c in doc["connections"]]
    assert snis[0] == HOSTILE_SNI + "\x00.nul.test" and snis[1] == HOSTILE_SNI  # JSON: exact values
    assert "=cmd|' /C calc'!A0" in doc["connections"][0]["alpn_offered"]
    assert any("\x1b]0;title\x07" in p for p in doc["connections"][0]["alpn_offered"])


@pytest.mark.parametrize("fmt", ["table", "csv"])
def test_text_formats_have_no_raw_control_bytes(capsysbinary, fmt: str) -> None:
    out = _run(capsysbinary, "--format", fmt)
    assert not RAW_CONTROL.search(out.replace("\r\n", "\n").replace("\n", ""))
    assert "\\x1b[31m" in out and "\\u202e" in out


def test_ladder_and_mermaid_have_no_raw_control_bytes(capsysbinary) -> None:
    for fmt in ("text", "mermaid"):
        assert main(["ladder", CAPTURE, "--format", fmt]) == 0
        out = capsysbinary.readouterr().out.decode()
        assert not RAW_CONTROL.search(out.replace("\n", "")), fmt
        assert "evil" in out


def test_csv_has_no_formula_cells(capsysbinary) -> None:
    out = _run(capsysbinary, "--format", "csv")
    for row in csv.reader(io.StringIO(out)):
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@")), cell


def test_jsonl_escapes_but_keeps_the_value(capsysbinary) -> None:
    out = _run(capsysbinary, "--format", "jsonl")
    assert "\x1b" not in out and "\\u001b" in out
    assert json.loads(out.splitlines()[1])["sni"] == HOSTILE_SNI


@pytest.mark.parametrize("value, expected", [
    ("a\x1bb", "a\\x1bb"), ("x\r\ny", "x\\x0d\\x0ay"), ("\u202eevil", "\\u202eevil"), ("nul\x00", "nul\\x00"),
    ("caf\u00e9", "caf\u00e9"),
])
def test_text_escapes_controls_but_keeps_ordinary_unicode(value: str, expected: str) -> None:
    assert text(value) == expected


def test_csv_cell_neutralises_formulas() -> None:
    assert [csv_cell(v) for v in ("=1+1", "+x", "-2", "@SUM(A1)", "plain")] == \
        ["'=1+1", "'+x", "'-2", "'@SUM(A1)", "plain"]


def test_mermaid_escapes_its_own_syntax() -> None:
    assert mermaid("a;b#c:d<e>") == "a#59;b#35;c#58;d#60;e#62;"
    assert mermaid("x\x1by") == "x#92;x1by"  # escaped visibly first, then the backslash
