"""One capture to its part files: the task a Dask worker runs.

The capture is identified by the SHA-256 of its bytes. When its done marker exists (an earlier run,
or the same bytes under another name) nothing is read again. Otherwise its connections stream
from the adapter into row groups, the parts are published, and the done marker comes last. A
capture that cannot be read is an `errors/` row; anything else that goes wrong propagates, so
Dask retries the task (the parts of a failed try are never published).
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from typing import Any, Final

from analyzer.batch import parts, rows
from analyzer.batch.adapter import Settings, analyze_json
from analyzer.errors import AnalyzerError

HASH_CHUNK: Final = 1 << 20
STREAMED: Final = ("connections", "findings", "certificates")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a task tells the driver: status is done, skipped (already done) or error."""

    path: str
    status: str
    sha256: str | None = None
    connections: int = 0
    frames: int = 0
    error: str | None = None


def content_hash(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def record_error(out: str, path: str, sha256: str | None, kind: str, exc: AnalyzerError) -> Outcome:
    """The capture's `errors/` row (replacing an earlier one for the same path)."""
    error = exc.one_line().removeprefix("error: ")
    parts.write(out, "errors", parts.error_name(path), [{
        "capture": os.path.basename(path), "capture_sha256": sha256, "capture_path": path, "kind": kind,
        "error": error}])
    return Outcome(path, "error", sha256, error=error)


def _changed(before: os.stat_result, path: str) -> bool:
    """Whether a regular file changed while it was read (a rotating capture still being written)."""
    if not stat.S_ISREG(before.st_mode):
        return False
    after = os.stat(path)
    return (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns)


def run_capture(path: str, out: str, settings: Settings) -> Outcome:
    """Analyse the capture at `path` (absolute) into the batch folder `out`."""
    try:
        before = os.stat(path)
        sha256 = content_hash(path)
    except OSError as exc:
        return record_error(out, path, None, "input", AnalyzerError(f"{path}: {exc.strerror}",
                                                                    "check the path and permissions"))
    if parts.is_done(out, sha256):
        marker = parts.done_marker(out, sha256)
        if (marker["capture_path"], marker["file_size"], marker["file_mtime"]) == (path, before.st_size, before.st_mtime_ns):
            # the driver skips captures done before the run, so this file was done by an earlier try of
            # this task whose result was lost with its worker: it counts as analysed in this run
            return Outcome(path, "done", sha256, marker["connections"], marker["frames"])
        return Outcome(path, "skipped", sha256)
    parts.remove_stale(out, sha256)
    ident = {"capture": os.path.basename(path), "capture_sha256": sha256}
    tables = {table: parts.Part(out, table, sha256) for table in STREAMED}

    def take(c: dict[str, Any]) -> None:
        tables["connections"].extend([rows.connection_row(c, ident, path)])
        tables["findings"].extend(rows.finding_rows(c, ident))
        tables["certificates"].extend(rows.certificate_rows(c, ident))

    try:
        capture, warnings = analyze_json(path, settings, take)
        if _changed(before, path):
            raise AnalyzerError(f"{path} changed while it was read", "still being written? the next run reads it again")
    except AnalyzerError as exc:
        for part in tables.values():
            part.abort()
        return record_error(out, path, sha256, "input", exc)
    except BaseException:
        for part in tables.values():
            part.abort()
        raise
    connections = tables["connections"].publish()
    for table in STREAMED[1:]:
        tables[table].publish()
    parts.remove(out, "errors", parts.error_name(path))  # it was unreadable before, and is fine now
    from analyzer import __version__

    parts.write(out, parts.DONE_TABLE, sha256, [{
        **ident, "capture_path": path, "file_size": before.st_size, "file_mtime": before.st_mtime_ns,
        "format": capture["format"], "compressed": capture["compressed"], "truncated": capture["truncated"],
        "frames": capture["frames"], "connections": connections, "warnings": warnings,
        "analyzer_version": __version__}])
    return Outcome(path, "done", sha256, connections, capture["frames"])
