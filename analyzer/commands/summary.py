"""`tls-analyzer summary`: captures and folders in, one summary out (table, JSON, CSV or HTML).

The summary (analyzer/summary/) aggregates the public JSON contract: each report's `to_json()`,
exactly what `analyze --format json` prints. Captures stream through one at a time, reports as
their connections end (a connection open for the whole capture would otherwise hold every later
one back), and every connection is dropped once counted.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from analyzer.analysis.policy import Policy
from analyzer.api import CaptureAnalysis
from analyzer.commands.common import fail_on_code
from analyzer.errors import AnalyzerError, ExitCode
from analyzer.output import Output
from analyzer.report.capture import capture_json
from analyzer.selection import Selection
from analyzer.summary.aggregate import Summary
from analyzer.tls.keylog import KeyLog
from analyzer.wording import plural


def capture_json_stream(path: str, selection: Selection | None = None, keylog: KeyLog | None = None,
                        policy: Policy | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
    """("connection", dict) for each selected connection of the capture as it ends, then
    ("capture", {"capture": ..., "warnings": [...]}) once the capture has been read. Raises
    AnalyzerError when the capture cannot be read."""
    run = CaptureAnalysis(path, keylog=keylog, policy=policy, select=selection)
    for report in run.as_they_end():
        yield "connection", report.to_json()
    yield "capture", {"capture": capture_json(run.info, run.frames_read), "warnings": run.warnings}


def summarise(captures: list[str], summary: Summary, selection: Selection | None = None,
              keylog: KeyLog | None = None, policy: Policy | None = None, report: Any = None, read: list[dict[str, Any]] | None = None) -> ExitCode:
    """Feed every capture to the summary; an unreadable one is reported (stderr and the summary)
    and the others go on, as in `analyze`. Returns USAGE when one failed, else OK. With an HTML
    `report` (analyzer.render.html.ReportWriter), each connection goes into it too, and each
    capture read into `read`."""
    code = ExitCode.OK
    for path in captures:
        summary.begin_capture(path)
        name = "-" if path == "-" else os.path.basename(path)
        try:
            for kind, item in capture_json_stream(path, selection, keylog, policy):
                if kind == "connection":
                    summary.add_connection(item)
                    if report is not None:
                        report.add(item, name)
                else:
                    summary.end_capture(item["capture"], item["warnings"])
                    if read is not None:
                        read.append({**item["capture"], "warnings": item["warnings"]})
                    for w in item["warnings"]:
                        print(f"warning: {path}: {w}", file=sys.stderr)
        except AnalyzerError as exc:
            if len(captures) == 1:
                raise
            print(exc.one_line(), file=sys.stderr)
            summary.capture_failed(path, exc.one_line().removeprefix("error: "))
            code = ExitCode.USAGE
    return code


def run_summary(captures: list[str], skipped: int, fmt: str, output: Path | None, top: int, selection: Selection,
                keylog: Any = None, policy: Any = None, fail_on: str | None = None) -> int:
    """Summarise the captures (`skipped`: files the folders held that are not captures)."""
    from analyzer.render import html, summary_csv, summary_table
    from analyzer.render import json as rjson

    started = time.monotonic()
    summary = Summary()
    summary.skipped(skipped)
    with Output(output) as out:
        report = html.ReportWriter(out, html.title_for(captures)) if fmt == "html" else None
        read: list[dict[str, Any]] = []
        code = summarise(captures, summary, selection, keylog, policy, report, read)  # (Pipeline.run holds the GC off)
        doc = summary.result(top)
        if report is not None:
            report.finish(read, doc)
        elif fmt == "json":
            out.write(rjson.dumps(doc, pretty=True) + b"\n")
        elif fmt == "csv":
            out.write(summary_csv.render(doc).encode())
        else:
            out.write(summary_table.render(doc).encode())
    for w in doc["warnings"]:
        print(f"warning: {w}", file=sys.stderr)
    c = doc["connections"]
    print(f"{plural(doc['captures']['read'], 'capture')}, {plural(c['total'], 'connection')}, "
          f"{doc['captures']['frames']} frames ({time.monotonic() - started:.2f}s)", file=sys.stderr)
    if fail_on is not None and code == ExitCode.OK:
        code = fail_on_code(c["worst_finding"], fail_on)
    return code

