"""`check DIR`: the regression command CI runs, on the repo's own fixtures and on a scratch folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from analyzer.check import diff
from analyzer.cli import main
from analyzer.errors import ExitCode

from conftest import CAPTURES


def test_repository_captures_match_their_goldens(capsys) -> None:
    code = main(["check", str(CAPTURES)])
    out = capsys.readouterr().out
    assert code == ExitCode.OK, out
    assert out.count("ok ") == len(list(CAPTURES.glob("*.pcap*")))


def _fixture_dir(tmp_path: Path, *names: str) -> Path:
    for name in names:
        shutil.copy(CAPTURES / name, tmp_path / name)
    return tmp_path


def test_update_then_check_passes_and_a_changed_golden_fails(tmp_path: Path, capsys) -> None:
    folder = _fixture_dir(tmp_path, "tls13.pcap", "tls12-ecdhe.pcap")
    assert main(["check", str(folder)]) == ExitCode.FINDINGS  # no goldens yet
    assert "missing golden" in capsys.readouterr().out
    assert main(["check", str(folder), "--update"]) == ExitCode.OK
    assert main(["check", str(folder)]) == ExitCode.OK
    golden = folder / "expected" / "tls13.pcap.json"
    doc = json.loads(golden.read_bytes())
    doc["connections"][0]["cipher_suite"] = 0x1301
    golden.write_text(json.dumps(doc))
    capsys.readouterr()
    assert main(["check", str(folder)]) == ExitCode.FINDINGS
    out = capsys.readouterr().out
    assert "mismatch" in out and "$.connections[0].cipher_suite: expected 4865, got 4866" in out


def test_unreadable_capture_is_exit_2(tmp_path: Path, capsys) -> None:
    (tmp_path / "broken.pcap").write_bytes(b"this is not a capture")
    assert main(["check", str(tmp_path)]) == ExitCode.USAGE
    assert "unreadable" in capsys.readouterr().out


def test_diff_reports_paths_for_nested_changes() -> None:
    lines = list(diff({"a": [1, {"b": 2}], "c": 3}, {"a": [1, {"b": 5}, 7], "d": 4}))
    assert lines == ["$.a[1].b: expected 2, got 5", "$.a[2]: unexpected 7", "$.c: missing (expected 3)",
                     "$.d: unexpected 4"]
