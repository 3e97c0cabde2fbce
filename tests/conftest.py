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


def handshake_messages(buf: bytes) -> list[tuple[int, bytes]]:
    """Whole handshake messages (type, header + body) in buf; the caller keeps any tail."""
    out, pos = [], 0
    while pos + 4 <= len(buf):
        length = int.from_bytes(buf[pos + 1:pos + 4], "big")
        if pos + 4 + length > len(buf):
            break
        out.append((buf[pos], bytes(buf[pos:pos + 4 + length])))
        pos += 4 + length
    return out


def assert_no_secret(text: str, secret: bytes) -> None:
    """Key material must not show in `text`, neither as hex nor as a bytes repr."""
    assert secret.hex() not in text.lower() and repr(secret) not in text


def reports(path, **options) -> list:
    """The reports of a capture (analyzer.analyze(...).connections): facts, findings, fingerprints."""
    from analyzer.api import analyze

    return analyze(str(path), **options).connections


def facts(path, **options) -> list:
    """The facts (analyzer.model.Connection) of each connection of a capture."""
    return [r.connection for r in reports(path, **options)]


def read_keys(path) -> object:
    """A key log file, as the CLI reads it."""
    from analyzer.api import load_keylog

    return load_keylog(str(path))
