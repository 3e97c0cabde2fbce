"""`check DIR`: the regression command CI runs, on the repo's own fixtures and on a scratch folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from analyzer.commands.check import diff
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
    assert "mismatch" in out and "$.connections[id=0].cipher_suite: expected 4865, got 4866" in out


def test_unreadable_capture_is_exit_2(tmp_path: Path, capsys) -> None:
    (tmp_path / "broken.pcap").write_bytes(b"this is not a capture")
    assert main(["check", str(tmp_path)]) == ExitCode.USAGE
    assert "unreadable" in capsys.readouterr().out


def test_diff_reports_paths_for_nested_changes() -> None:
    lines = list(diff({"a": [1, {"b": 2}], "c": 3}, {"a": [1, {"b": 5}, 7], "d": 4}))
    assert lines == ["$.a[1].b: expected 2, got 5", "$.a[2]: unexpected 7", "$.c: missing (expected 3)",
                     "$.d: unexpected 4"]


def test_one_finding_removed_from_a_golden_is_one_line(tmp_path: Path, capsys) -> None:
    """Findings are matched by id, connections by id, certificates by sha256: removing one finding
    from the middle of the list is one difference, not one per finding after it."""
    folder = _fixture_dir(tmp_path, "tls13-gnutls.pcap")
    assert main(["check", str(folder), "--update"]) == ExitCode.OK
    golden = folder / "expected" / "tls13-gnutls.pcap.json"
    doc = json.loads(golden.read_bytes())
    findings = doc["connections"][0]["findings"]
    assert len(findings) >= 4
    gone = findings.pop(1)
    golden.write_text(json.dumps(doc))
    capsys.readouterr()
    assert main(["check", str(folder)]) == ExitCode.FINDINGS
    lines = [line.strip() for line in capsys.readouterr().out.splitlines()[1:]]
    assert lines == [f"$.connections[id=0].findings[id={gone['id']}]: unexpected " + lines[0].split("unexpected ", 1)[1]]


def test_diff_matches_objects_by_id_and_says_when_only_the_order_changed() -> None:
    a = {"certificates": [{"sha256": "aa" * 32, "length": 1}, {"sha256": "bb" * 32, "length": 2}]}
    b = {"certificates": [{"sha256": "bb" * 32, "length": 2}, {"sha256": "aa" * 32, "length": 3}]}
    assert list(diff(a, b)) == [f"$.certificates[sha256={'aa' * 8}].length: expected 1, got 3",
                                f"$.certificates: order changed: expected {json.dumps(['aa' * 32, 'bb' * 32])[:77]}..., "
                                f"got {json.dumps(['bb' * 32, 'aa' * 32])[:77]}..."]
    # no shared unique id: element by element
    assert list(diff([{"x": 1}, {"x": 2}], [{"x": 2}])) == ["$[0].x: expected 1, got 2", '$[1]: missing (expected {"x": 2})']


def test_a_folder_without_captures_fails_instead_of_passing(tmp_path: Path, capsys) -> None:
    """A CI job pointed at the wrong folder (empty, or the expected/ folder itself) must not go green."""
    assert main(["check", str(tmp_path)]) == ExitCode.USAGE
    assert capsys.readouterr().err.startswith(f"error: no captures in {tmp_path}")
    folder = _fixture_dir(tmp_path, "tls13.pcap")
    assert main(["check", str(folder), "--update"]) == ExitCode.OK
    capsys.readouterr()
    assert main(["check", str(folder / "expected")]) == ExitCode.USAGE
    assert "no captures in" in capsys.readouterr().err


def test_a_golden_without_its_capture_is_reported(tmp_path: Path, capsys) -> None:
    folder = _fixture_dir(tmp_path, "tls13.pcap", "tls12-rsa.pcap")
    assert main(["check", str(folder), "--update"]) == ExitCode.OK
    (folder / "tls12-rsa.pcap").unlink()  # renamed or deleted, its golden left behind
    capsys.readouterr()
    assert main(["check", str(folder)]) == ExitCode.FINDINGS
    out, err = capsys.readouterr()
    assert out.splitlines()[1] == "orphan golden  tls12-rsa.pcap.json"
    assert err.strip() == "1 capture, 0 failing, 1 golden without a capture"
