"""Every capture of the third-party corpus is read and analysed without an exception (a broken one
may end with a warning, never a traceback), through the library and through the CLI's JSON; the
findings each capture yields are recorded as goldens (tests/corpus_findings.json)."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

from analyzer.api import analyze, json_document

from conftest import ROOT

SUFFIXES = (".pcap", ".pcapng", ".cap")
FINDINGS_GOLDEN = ROOT / "tests" / "corpus_findings.json"  # regenerate: UPDATE_GOLDENS=1 pytest tests/test_corpus_reads.py


def test_every_corpus_capture_is_analysed(corpus: Path) -> None:
    captures = sorted(p for p in corpus.rglob("*") if p.suffix in SUFFIXES)
    assert len(captures) >= 140
    truncated = []
    findings: dict[str, dict[str, int]] = {}
    for path in captures:
        result = analyze(str(path))
        assert result.frames > 0, path
        doc = json.loads(json_document(str(path)))
        assert doc["schema"] == "tls-analyzer/1"
        if result.info.truncated:
            truncated.append(path.name)
        counts = Counter(f"{f.id}/{f.severity}" for c in result.connections for f in c.findings)
        findings[path.relative_to(corpus).as_posix()] = dict(sorted(counts.items()))
        failed = [w for c in result.connections for w in c.warnings if w.startswith("rule ")]
        assert not failed, (path, failed)  # a rule that raised on real traffic
        for c in result.connections:  # one finding per rule and connection (issue 16, item 11)
            ids = [f.id for f in c.findings]
            assert len(ids) == len(set(ids)), (path, c.id, ids)
    # the one capture known to be damaged (its README says so) is read up to the damage
    assert truncated == ["tls_DER-incomplete-header.pcap"]
    if os.environ.get("UPDATE_GOLDENS"):
        FINDINGS_GOLDEN.write_text(json.dumps(findings, indent=1, sort_keys=True) + "\n")
    expected = json.loads(FINDINGS_GOLDEN.read_text())
    changed = {k: (expected.get(k), v) for k, v in findings.items() if expected.get(k) != v}
    assert not changed, f"findings changed on {len(changed)} corpus captures (UPDATE_GOLDENS=1 to accept): " \
                        f"{dict(list(changed.items())[:5])}"
