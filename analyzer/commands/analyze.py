"""`tls-analyzer analyze`: every capture's connections as a table, CSV, JSON, JSON Lines or HTML.

Every format streams: a connection is rendered (to bytes, a CSV line or a table row of short
strings) as soon as it ends, and only that is kept until its turn comes in id order. JSON of a
large capture runs on several cores (analyzer/parallel.py). --output is replaced only when the
run finishes (analyzer/output.py): a capture that cannot be read is reported and left out (exit
2), the others are written.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from analyzer import parallel
from analyzer.analysis.policy import Policy
from analyzer.api import CaptureAnalysis
from analyzer.commands.common import fail_on_code, gc_paused, nothing_to_show, print_keylog_usage, print_warnings
from analyzer.errors import AnalyzerError, ExitCode
from analyzer.output import Output
from analyzer.render import json as rjson
from analyzer.render import table
from analyzer.render.sanitize import text
from analyzer.report.capture import capture_json
from analyzer.report.connection import Report
from analyzer.selection import Selection
from analyzer.tls.keylog import KeyLog
from analyzer.wording import not_decoded, plural

if TYPE_CHECKING:
    from analyzer.render import html

SPOOL_IN_MEMORY: Final = 4 << 20  # JSON of a large capture beyond this waits in a temporary file
TABLE_BLOCK: Final = 1000  # table rows aligned together (a longer capture prints blocks, a blank line between)
WRITE_PIECE: Final = 1 << 20  # JSON is written in pieces of about this many bytes


@dataclass(slots=True)
class Tally:
    """What the summary line counts over every capture of a run."""

    connections: int = 0  # shown (selected)
    total: int = 0  # before the selection
    frames: int = 0
    warnings: int = 0  # the captures' and their connections': what the warnings columns and lines add up to
    worst: list[str] = field(default_factory=list)  # each connection's worst finding, for --fail-on
    captures: list[dict[str, Any]] = field(default_factory=list)  # each capture read: its JSON and warnings
    undecoded: Counter[str] = field(default_factory=Counter)  # frames that may have held TCP, not decoded, by cause


def secrets_json(report: Report, keylog: KeyLog | None) -> dict[str, str]:
    """The key-log secrets of a connection (hex), for --show-secrets only."""
    hellos = report.connection.client_hellos
    if keylog is None or not hellos:
        return {}
    return {label: value.hex() for label, value in sorted(keylog.secrets_for(hellos[0].body.random).items())}


class AnalyzeCommand:
    """One `analyze` run over its captures."""

    def __init__(self, captures: list[str], fmt: str, output: Path | None, depth: str, selection: Selection,
                 jobs: int | None = None, keylog: KeyLog | None = None, show_secrets: bool = False,
                 fail_on: str | None = None, policy: Policy | None = None, explain_keylog: bool = False) -> None:
        self.captures, self.fmt, self.output, self.depth, self.selection = captures, fmt, output, depth, selection
        self.explain_keylog = explain_keylog
        self.embedded: list[KeyLog] = []  # key logs from pcapng secrets blocks, when no key log was given
        self.keylog, self.policy, self.show_secrets, self.fail_on = keylog, policy, show_secrets, fail_on
        jobs = parallel.default_jobs() if jobs is None else jobs
        self.jobs = 1 if fail_on is not None or show_secrets else jobs  # tallied, secrets added, in this process
        self.tally = Tally()
        self.docs = 0  # JSON documents written

    def run(self) -> int:
        code = ExitCode.OK
        started = time.monotonic()
        with gc_paused(), Output(self.output) as out:
            report = None
            if self.fmt == "html":
                from analyzer.render import html  # here: other formats do not pay for importing it

                report = html.ReportWriter(out, html.title_for(self.captures))
            for path in self.captures:
                try:
                    self._one(path, out, report)
                except AnalyzerError as exc:
                    if len(self.captures) == 1:
                        raise
                    print(exc.one_line(), file=sys.stderr)
                    code = ExitCode.USAGE
            if self.fmt == "json" and len(self.captures) > 1 and self.docs:
                out.write(b"\n]\n")
            if report is not None:
                report.finish(self.tally.captures)
        tally = self.tally
        shown = plural(tally.connections, "connection")
        if self.selection.describe():
            shown = f"{tally.connections} of {plural(tally.total, 'connection')} ({text(self.selection.describe())})"
        print(f"{shown}, {plural(tally.frames, 'frame')}{not_decoded(tally.undecoded)}, "
              f"{plural(tally.warnings, 'warning')} "
              f"({time.monotonic() - started:.2f}s)", file=sys.stderr)
        for keylog in [self.keylog] if self.keylog is not None else self.embedded:
            print_keylog_usage(keylog, self.explain_keylog)
        if self.fail_on is not None and code == ExitCode.OK:
            code = fail_on_code(tally.worst, self.fail_on)
        return code

    def _reveal(self, report: Report) -> Report:
        """Count what the summary line and --fail-on need; add the secrets when asked for."""
        if self.show_secrets:  # key material only when asked for, and only in JSON
            report.secrets = secrets_json(report, self.keylog)
        if report.findings:
            self.tally.worst.append(report.findings[0].severity)
        self.tally.warnings += len(report.warnings)
        return report

    def _one(self, path: str, out: Output, report: html.ReportWriter | None) -> None:
        """One capture into `out` (or into the HTML `report`)."""
        fmt, reveal, depth = self.fmt, self._reveal, self.depth
        name = "-" if path == "-" else os.path.basename(path)
        if fmt == "json" and parallel.worth_it(path, self.jobs):
            counts: dict[str, int] = {}
            info, frames, items, warnings = parallel.analyze_json(path, self.jobs, depth, self.selection,
                                                                  self.keylog, self.policy, counts)
            print_warnings(path, warnings)
            count = self._document(out, capture_json(info, frames), warnings, lambda: _write_body(out.write, items))
            self._count(capture_json(info, frames), warnings, count, counts.get("handed_out", 0),
                        counts.get("connection_warnings", 0))  # (known once the stream is read)
            return
        run = CaptureAnalysis(path, keylog=self.keylog, policy=self.policy, select=self.selection, depth=depth)
        if fmt == "json":  # the header needs the frame count, known at the end: the body waits in a spool
            with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
                count = _write_body(spool.write, run.rendered(lambda r: rjson.connection_bytes(reveal(r))))
                print_warnings(path, run.warnings)
                spool.seek(0)
                self._document(out, capture_json(run.info, run.frames_read), run.warnings,
                               lambda: shutil.copyfileobj(spool, out))  # type: ignore[misc]
        else:
            count = 0
            if fmt == "jsonl":
                for line in run.rendered(lambda r: rjson.dumps({"capture": name, **rjson.encodable(reveal(r))}) + b"\n"):
                    out.write(line)
                    count += 1
            elif report is not None:
                for conn in run.rendered(lambda r: reveal(r).to_json()):
                    report.add(conn, name)
                    count += 1
            elif fmt == "csv":
                if not out.started:
                    out.write(table.csv_header(depth).encode())
                for row in run.rendered(lambda r: table.csv_row(reveal(r), depth, path).encode()):
                    out.write(row)
                    count += 1
            else:
                count = self._table(out, path, run, reveal)
            print_warnings(path, run.warnings)
        if self.keylog is None and run.pipeline.keylog is not None:
            self.embedded.append(run.pipeline.keylog)
        self._count(capture_json(run.info, run.frames_read), run.warnings, count, run.total, 0)

    def _table(self, out: Output, path: str, run: CaptureAnalysis, reveal: Callable[[Report], Report]) -> int:
        """The table, aligned in blocks of TABLE_BLOCK rows (memory holds one block, not the capture;
        a blank line between blocks); how many rows."""
        count = 0
        block: list[list[str]] = []

        def flush() -> None:
            if count == len(block) and len(self.captures) > 1:  # the first block (or the note) of this capture
                out.write(f"== {text(path)}\n".encode())
            out.write((b"\n" if count > len(block) else b"") + table.render(block, self.depth).encode())
            block.clear()

        for cells in run.rendered(lambda r: table.cells(reveal(r), self.depth)):
            block.append(cells)
            count += 1
            if len(block) == TABLE_BLOCK:
                flush()
        if block:
            flush()
        elif count == 0:
            if len(self.captures) > 1:
                out.write(f"== {text(path)}\n".encode())
            out.write((nothing_to_show(run.total, self.selection, self.depth) + "\n").encode())
        return count

    def _document(self, out: Output, capture: dict[str, Any], warnings: list[str], body: Callable[[], Any]) -> int:
        """One JSON document: its frame around the `body` writer's connections; how many it wrote."""
        head, tail = rjson.document_frame(capture, warnings)
        if len(self.captures) > 1:
            out.write(b"[\n" if self.docs == 0 else b",\n")
        out.write(head)
        count = body()
        out.write(tail if len(self.captures) == 1 else tail.rstrip(b"\n"))
        self.docs += 1
        return count if isinstance(count, int) else 0

    def _count(self, capture: dict[str, Any], warnings: list[str], shown: int, total: int,
               connection_warnings: int) -> None:
        """A capture done: its counts join the run's (connection warnings: those `_reveal` did not see)."""
        tally = self.tally
        tally.connections += shown
        tally.total += total
        tally.frames += capture["frames"]
        tally.undecoded.update(capture["undecoded"])
        tally.warnings += len(warnings) + connection_warnings
        tally.captures.append({**capture, "warnings": warnings})


def _write_body(write: Callable[[bytes], Any], items: Iterable[bytes]) -> int:
    """Connection JSON objects, one per line and comma-separated, as the document's body; written
    in pieces of about WRITE_PIECE bytes. Returns how many."""
    count = size = 0
    pending: list[bytes] = []
    for item in items:
        pending.append(b"\n" if count == 0 else b",\n")
        pending.append(item)
        count += 1
        size += len(item)
        if size >= WRITE_PIECE:
            write(b"".join(pending))
            pending.clear()
            size = 0
    if count:
        pending.append(b"\n")
    write(b"".join(pending))
    return count
