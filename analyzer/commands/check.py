"""Regression against fixture captures: analyse each capture in a folder and compare its JSON with
`expected/<capture file name>.json`, reporting differences as JSON paths."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analyzer.api import json_document
from analyzer.errors import AnalyzerError, ExitCode, InputError
from analyzer.output import write_atomically
from analyzer.wording import plural

CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz", ".cap.gz")
MAX_DIFF_LINES = 25


def captures_in(folder: Path) -> list[Path]:
    """Every capture directly in `folder` (not in sub-folders), sorted by name. None at all is an
    error: a CI job pointed at the wrong folder must not pass."""
    if not folder.is_dir():
        raise InputError(f"{folder} is not a directory", "give the folder that holds the captures")
    found = sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(CAPTURE_SUFFIXES))
    if not found:
        raise InputError(f"no captures in {folder} ({', '.join(CAPTURE_SUFFIXES)})",
                         "give the folder that holds the captures, not its expected/ folder")
    return found


def orphan_goldens(folder: Path, captures: list[Path]) -> list[Path]:
    """Goldens in `folder`/expected whose capture is not in `folder` (renamed, deleted, or the
    golden of a capture that lives elsewhere)."""
    expected = folder / "expected"
    if not expected.is_dir():
        return []
    have = {golden_path(c).name for c in captures}
    return sorted(p for p in expected.iterdir() if p.name.endswith(".json") and p.name not in have)


def golden_path(capture: Path) -> Path:
    return capture.parent / "expected" / f"{capture.name}.json"


ID_KEYS = ("id", "sha256")  # a list of objects that all carry one of these (unique) is diffed by it


def _id_key(*lists: list[Any]) -> str | None:
    """The field every object of these lists carries, unique within each list, or None."""
    for key in ID_KEYS:
        if all(items and all(isinstance(x, dict) and isinstance(x.get(key), (str, int)) for x in items)
               and len({x[key] for x in items}) == len(items) for items in lists):
            return key
    return None


def _label(key: str, value: Any) -> str:
    return f"{key}={value[:16]}" if key == "sha256" and isinstance(value, str) else f"{key}={value}"


def _diff_by_id(expected: list[Any], actual: list[Any], key: str, path: str) -> Iterator[str]:
    """Objects matched by their id: one removed or added is one line, whatever its position."""
    mine = {x[key]: x for x in actual}
    theirs = {x[key]: x for x in expected}
    for x in expected:
        sub = f"{path}[{_label(key, x[key])}]"
        if x[key] not in mine:
            yield f"{sub}: missing (expected {_short(x)})"
        else:
            yield from diff(x, mine[x[key]], sub)
    for x in actual:
        if x[key] not in theirs:
            yield f"{path}[{_label(key, x[key])}]: unexpected {_short(x)}"
    before = [x[key] for x in expected if x[key] in mine]
    after = [x[key] for x in actual if x[key] in theirs]
    if before != after:
        yield f"{path}: order changed: expected {_short(before)}, got {_short(after)}"


def diff(expected: Any, actual: Any, path: str = "$") -> Iterator[str]:
    """Readable differences: `path: expected X, got Y`. Lists of objects with ids (connections
    and findings by `id`, certificates by `sha256`) are matched by id; other lists element by
    element."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in sorted(set(expected) | set(actual)):
            sub = f"{path}.{key}"
            if key not in actual:
                yield f"{sub}: missing (expected {_short(expected[key])})"
            elif key not in expected:
                yield f"{sub}: unexpected {_short(actual[key])}"
            else:
                yield from diff(expected[key], actual[key], sub)
    elif isinstance(expected, list) and isinstance(actual, list):
        key = _id_key(expected, actual)
        if key is not None:
            yield from _diff_by_id(expected, actual, key, path)
            return
        for i in range(max(len(expected), len(actual))):
            sub = f"{path}[{i}]"
            if i >= len(actual):
                yield f"{sub}: missing (expected {_short(expected[i])})"
            elif i >= len(expected):
                yield f"{sub}: unexpected {_short(actual[i])}"
            else:
                yield from diff(expected[i], actual[i], sub)
    elif expected != actual or type(expected) is not type(actual):
        yield f"{path}: expected {_short(expected)}, got {_short(actual)}"


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=True)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass(slots=True)
class CaptureResult:
    capture: Path
    status: str  # "ok", "mismatch", "missing golden", "updated", "unreadable", "orphan golden"
    lines: list[str] = field(default_factory=list)
    severities: list[str] = field(default_factory=list)  # each connection's worst finding, for --fail-on


def check_folder(folder: Path, update: bool = False, keylog: Any = None,
                 policy: Any = None) -> Iterator[CaptureResult]:
    """Each capture's result, then one "orphan golden" result per golden without its capture
    (`capture` is then the golden's path)."""
    captures = captures_in(folder)
    yield from _check_captures(folder, captures, update, keylog, policy)
    for golden in orphan_goldens(folder, captures):
        yield CaptureResult(golden, "orphan golden",
                            [f"no capture {golden.name.removesuffix('.json')} in {folder} for this golden "
                             "(restore the capture, or delete the golden)"])


def _check_captures(folder: Path, captures: list[Path], update: bool, keylog: Any,
                    policy: Any) -> Iterator[CaptureResult]:
    for capture in captures:
        golden = golden_path(capture)
        try:
            actual_bytes = json_document(str(capture), keylog=keylog, policy=policy)
        except AnalyzerError as exc:
            yield CaptureResult(capture, "unreadable", [exc.one_line()])
            continue
        if update:
            golden.parent.mkdir(exist_ok=True)
            write_atomically(golden, actual_bytes)  # killed half-way, the old golden stays whole
            yield CaptureResult(capture, "updated")
            continue
        if not golden.exists():
            yield CaptureResult(capture, "missing golden",
                                [f"no {golden} (write it with: tls-analyzer check {folder} --update)"])
            continue
        try:
            expected = json.loads(golden.read_bytes())
        except ValueError as exc:
            yield CaptureResult(capture, "mismatch", [f"{golden} is not JSON: {exc}"])
            continue
        actual = json.loads(actual_bytes)
        lines = list(diff(expected, actual))
        worst = [c["findings"][0]["severity"] for c in actual.get("connections", []) if c.get("findings")]
        yield CaptureResult(capture, "ok" if not lines else "mismatch", lines, worst)


def exit_code(results: list[CaptureResult], update: bool = False) -> int:
    if any(r.status == "unreadable" for r in results):
        return ExitCode.USAGE
    if any(r.status in ("mismatch", "missing golden") or (r.status == "orphan golden" and not update)
           for r in results):
        return ExitCode.FINDINGS
    return ExitCode.OK


def run_check(folder: Path, update: bool, keylog: Any = None, policy: Any = None,
              fail_on: str | None = None) -> int:
    """The `check` command: one line per capture (and its differences), a summary on stderr.
    Exit 1 on any difference, or (with `fail_on`) on a finding at or above that severity."""
    from analyzer.commands.common import fail_on_code
    from analyzer.render.sanitize import text

    results = []
    for r in check_folder(folder, update, keylog, policy):
        results.append(r)
        print(f"{r.status:<14} {text(r.capture.name)}")
        for line in r.lines[:MAX_DIFF_LINES]:
            print(f"    {text(line)}")
        if len(r.lines) > MAX_DIFF_LINES:
            print(f"    ... {plural(len(r.lines) - MAX_DIFF_LINES, 'more difference')}")
    captures = sum(r.status != "orphan golden" for r in results)
    bad = sum(r.status not in ("ok", "updated", "orphan golden") for r in results)
    orphans = len(results) - captures
    print(f"{plural(captures, 'capture')}, {bad} failing" + (f", {plural(orphans, 'golden')} without a capture"
                                                              if orphans else ""), file=sys.stderr)
    code = exit_code(results, update)
    if fail_on is not None and code == ExitCode.OK and not update:
        code = fail_on_code([s for r in results for s in r.severities], fail_on)
    return code
