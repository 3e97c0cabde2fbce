"""Shared test fixtures: paths to the repo's captures and the optional third-party corpus."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = ROOT / "captures"
CORPUS = ROOT.parent / "shared" / "corpus"


@pytest.fixture(scope="session")
def corpus() -> Path:
    """../shared/corpus when present; tests that need it skip cleanly otherwise."""
    if not (CORPUS / "MANIFEST.tsv").exists():
        pytest.skip("third-party corpus ../shared/corpus is not present")
    return CORPUS


@pytest.fixture(scope="session")
def tshark() -> str:
    path = shutil.which("tshark")
    if path is None:
        pytest.skip("tshark is not installed (.ci/run installs it)")
    return path
