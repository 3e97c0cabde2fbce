"""The compiled hot path: it is what runs, it says the same as the pure Python, and a stale build
is never run."""

from __future__ import annotations

import importlib
import importlib.machinery
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from analyzer import native

ROOT = Path(__file__).resolve().parent.parent
PURE = os.environ.get(native.PURE_ENV, "") not in ("", "0")


def test_the_hot_path_runs_compiled() -> None:
    """.ci/run builds with mypyc; a silent fallback to pure Python would halve the speed unseen.
    (Developers who edit the hot path without rebuilding set TLS_ANALYZER_PURE=1, and this checks
    that the setting is obeyed instead.)"""
    modules = [importlib.import_module(native.module_name(p)) for p in native.MODULES]
    if PURE:
        assert native.STATUS.startswith("pure Python")
        assert not any(native.is_compiled(m) for m in modules)
    else:
        assert native.STATUS == "compiled", native.STATUS
        assert [m.__name__ for m in modules if not native.is_compiled(m)] == []


def _run(env_pure: bool, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != native.PURE_ENV}
    if env_pure:
        env[native.PURE_ENV] = "1"
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=600)


def test_pure_python_matches_every_fixture_golden() -> None:
    """The goldens are checked in the build's mode by test_check; here the other mode meets them
    too, so compiled and pure Python cannot drift apart."""
    result = _run(not PURE, "check", "captures")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert result.stdout.count("ok ") == len(list((ROOT / "captures").glob("*.pcap*")))


def test_version_says_which_path_runs() -> None:
    compiled, pure = _run(False, "--version"), _run(True, "--version")
    assert compiled.returncode == pure.returncode == 0
    assert pure.stdout.strip().endswith(f"(hot path: pure Python ({native.PURE_ENV} is set))")
    assert compiled.stdout.strip().endswith(f"(hot path: {native.STATUS})") or PURE


# --- the guard, on a fake build --------------------------------------------------------------------

@pytest.fixture()
def fake_build(tmp_path: Path) -> Path:
    """Sources, an extension file beside each, and the manifest a build writes."""
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    for p in native.MODULES:
        source = tmp_path / p
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_text(f"# {p}\n")
        source.with_name(source.stem + suffix).write_bytes(b"")
    (tmp_path / native.MANIFEST).write_text(json.dumps(native.source_digests(tmp_path)))
    return tmp_path


def test_a_matching_build_is_used(fake_build: Path) -> None:
    assert native.check(fake_build, {}) == "compiled"


def test_an_edited_source_makes_the_whole_set_pure(fake_build: Path) -> None:
    (fake_build / "tls/reader.py").write_text("# edited\n")
    status = native.check(fake_build, {})
    assert status.startswith("pure Python (compiled modules are stale: analyzer/tls/reader.py changed")


def test_a_build_without_its_manifest_is_not_trusted(fake_build: Path) -> None:
    (fake_build / native.MANIFEST).unlink()
    assert native.check(fake_build, {}).startswith(f"pure Python (compiled modules without {native.MANIFEST}")


def test_a_partial_build_is_not_used(fake_build: Path) -> None:
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    (fake_build / "net" / f"tcp{suffix}").unlink()
    assert native.check(fake_build, {}) == (f"pure Python (compiled modules are stale: {len(native.MODULES) - 1} of "
                                            f"{len(native.MODULES)} built; rebuild with pip install)")


def test_no_build_and_the_override(fake_build: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    assert native.check(fake_build, {native.PURE_ENV: "1"}) == f"pure Python ({native.PURE_ENV} is set)"
    assert native.check(fake_build, {native.PURE_ENV: "0"}) == "compiled"
    empty = tmp_path_factory.mktemp("empty")
    assert native.check(empty, {}).startswith("pure Python (not compiled")


def test_pure_mode_loads_every_listed_module_from_source() -> None:
    code = ("import importlib, analyzer.native as n; "
            "print(all(importlib.import_module(n.module_name(p)).__file__.endswith('.py') for p in n.MODULES))")
    env = {**os.environ, native.PURE_ENV: "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert out.stdout.strip() == "True", out.stderr
