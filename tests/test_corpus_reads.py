"""Every capture of the third-party corpus is read and analysed without an exception (a broken one
may end with a warning, never a traceback), through the library and through the CLI's JSON."""

from __future__ import annotations

import json
from pathlib import Path

from analyzer.report import analyze_capture, json_document

SUFFIXES = (".pcap", ".pcapng", ".cap")


def test_every_corpus_capture_is_analysed(corpus: Path) -> None:
    captures = sorted(p for p in corpus.rglob("*") if p.suffix in SUFFIXES)
    assert len(captures) >= 140
    truncated = []
    for path in captures:
        result = analyze_capture(str(path))
        assert result.frames > 0, path
        doc = json.loads(json_document(str(path)))
        assert doc["schema"] == "tls-analyzer/1"
        if result.info.truncated:
            truncated.append(path.name)
    # the one capture known to be damaged (its README says so) is read up to the damage
    assert truncated == ["tls_DER-incomplete-header.pcap"]
