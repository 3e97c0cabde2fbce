"""Helpers for the batch tests: run the command, read its tables, run `analyze` on the same captures."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import CAPTURES, ROOT

from analyzer.sources.inputs import expand


def batch(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), "batch", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def rows(out: Path, table: str) -> list[dict[str, Any]]:
    """Every row of a table, read the way a user would (pyarrow skips hidden temporary files)."""
    import pyarrow.parquet as pq

    files = sorted(glob.glob(str(out / table / "*.parquet")))
    return [row for f in files for row in pq.read_table(f).to_pylist()]


def part_files(out: Path) -> dict[str, int]:
    """Every file under out (hidden ones too) with its modification time."""
    return {str(p.relative_to(out)): p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}


def fixture_captures() -> list[str]:
    return [os.path.abspath(p) for p in expand([str(CAPTURES)]).captures]


def analyze_documents(paths: list[str], *extra: str) -> dict[str, dict[str, Any]]:
    """`analyze PATHS --format json`, one document per capture path."""
    p = subprocess.run([sys.executable, str(ROOT / "cli.py"), "analyze", *paths, "--format", "json", *extra],
                       capture_output=True, timeout=600, cwd=ROOT)
    assert p.returncode == 0, p.stderr.decode()
    docs = json.loads(p.stdout)
    docs = docs if isinstance(docs, list) else [docs]
    assert len(docs) == len(paths)
    return dict(zip(paths, docs))
