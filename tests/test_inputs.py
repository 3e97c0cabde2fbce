"""Inputs: files, folders (recursive, captures told by content) and globs -> capture paths."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

from analyzer.errors import InputError
from analyzer.sources.inputs import expand, looks_like_capture

from conftest import CAPTURES


def _tree(tmp: Path) -> Path:
    (tmp / "day1" / "deeper").mkdir(parents=True)
    shutil.copy(CAPTURES / "tls13.pcap", tmp / "day1" / "a.pcap")
    shutil.copy(CAPTURES / "tls12-nano.pcapng", tmp / "day1" / "deeper" / "rotated.0001")  # no capture suffix
    (tmp / "day1" / "b.pcap.gz").write_bytes(gzip.compress((CAPTURES / "tls12-rsa.pcap").read_bytes()))
    (tmp / "day1" / "notes.txt").write_text("not a capture\n")
    (tmp / "day1" / "fake.pcap").write_bytes(b"GET / HTTP/1.1\r\n")  # a capture's name, not its bytes
    (tmp / "day1" / "broken.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    (tmp / ".hidden").mkdir()
    shutil.copy(CAPTURES / "tls13.pcap", tmp / ".hidden" / "x.pcap")
    return tmp


def test_folders_are_searched_recursively_and_captures_told_by_content(tmp_path: Path) -> None:
    got = expand([str(_tree(tmp_path))])
    assert [Path(p).relative_to(tmp_path).as_posix() for p in got.captures] == \
        ["day1/a.pcap", "day1/b.pcap.gz", "day1/deeper/rotated.0001"]
    assert sorted(Path(p).name for p in got.skipped) == ["broken.gz", "fake.pcap", "notes.txt"]
    assert got.folders == 1


def test_explicit_files_pass_through_for_the_reader_to_judge(tmp_path: Path) -> None:
    _tree(tmp_path)
    notes = str(tmp_path / "day1" / "notes.txt")
    got = expand([notes, "-", str(tmp_path / "missing.pcap")])
    assert got.captures == [notes, "-", str(tmp_path / "missing.pcap")] and not got.skipped


def test_globs_expand_and_an_empty_glob_is_an_error(tmp_path: Path) -> None:
    _tree(tmp_path)
    got = expand([str(tmp_path / "day1" / "*.pcap*")])
    assert [Path(p).name for p in got.captures] == ["a.pcap", "b.pcap.gz", "fake.pcap"]
    with pytest.raises(InputError, match="no file matches"):
        expand([str(tmp_path / "nothing-*.pcap")])


def test_looks_like_capture() -> None:
    assert looks_like_capture(str(CAPTURES / "tls13.pcap.gz"))
    assert looks_like_capture(str(CAPTURES / "tls12-nano.pcapng"))
    assert not looks_like_capture(str(CAPTURES / "README.md"))
