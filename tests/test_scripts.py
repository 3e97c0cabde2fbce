"""The scripts around the package (fixture generators, benchmarks, registry generators) stay
sound: a linter over them and the package, and each one's --help runs without doing anything."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT

SCRIPTS = sorted([*(ROOT / "captures" / "scripts").glob("make_*.py"), *(ROOT / "bench").glob("*.py"),
                  *(ROOT / "tools").glob("*.py")])
LIBRARIES = {"pcap_files.py"}  # modules the scripts import, no command line of their own


def test_the_linter_finds_nothing() -> None:
    """pyflakes' checks (unused and undefined names, ...) and syntax errors, through ruff; and the
    package's imports sorted (isort's order, configured in pyproject.toml)."""
    ruff = shutil.which("ruff")
    if ruff is None:
        if os.environ.get("CI"):
            pytest.fail("ruff is not installed (the test extra has it)")
        pytest.skip("ruff is not installed")
    p = subprocess.run([ruff, "check", "--select", "F,E9", "--no-cache", "--output-format", "concise",
                        "analyzer", "tests", "captures/scripts", "bench", "tools"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    p = subprocess.run([ruff, "check", "--select", "I", "--no-cache", "--output-format", "concise", "analyzer"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr


@pytest.mark.parametrize("script", [s for s in SCRIPTS if s.name not in LIBRARIES], ids=lambda p: p.name)
def test_every_script_answers_help_and_changes_nothing(script, tmp_path) -> None:  # noqa: ANN001
    before = {p: p.stat().st_mtime_ns for p in (ROOT / "captures").iterdir() if p.is_file()}
    p = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=60,
                       cwd=tmp_path)
    assert p.returncode == 0 and "usage:" in p.stdout, p.stdout + p.stderr
    assert {p: p.stat().st_mtime_ns for p in (ROOT / "captures").iterdir() if p.is_file()} == before
