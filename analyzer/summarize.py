"""`tls-analyzer summary`: captures and folders in, one summary out (table, JSON or CSV).

The summary is an aggregator over the public JSON contract: `capture_json_stream` is the one
place that turns a capture into connection dicts, exactly as `analyze --format json` prints
them, so that a library API yielding the same JSON can replace it there and nowhere else.
Captures stream through one at a time and every connection is dropped once counted.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from analyzer.errors import AnalyzerError, ExitCode
from analyzer.output import Output
from analyzer.report import Analysis, Selection, iter_connections
from analyzer.summary.aggregate import Summary


def capture_json_stream(path: str, selection: Selection | None = None, keylog: Any = None,
                        policy: Any = None) -> Iterator[tuple[str, dict[str, Any]]]:
    """THE adapter between the analyzer and the summary: ("connection", dict) for each selected
    connection of the capture as it ends, exactly as `analyze --format json` prints it, then
    ("capture", {"capture": ..., "warnings": [...]}) once the capture has been read. (As they
    end, not in id order: a connection open for the whole capture would otherwise hold every
    later one back.) Raises AnalyzerError when the capture cannot be read."""
    from analyzer.pipeline import Pipeline
    from analyzer.render.json import connection_json
    from analyzer.sources.pcap import CaptureInfo

    info, pipeline = CaptureInfo(path), Pipeline(depth="tls", keylog=keylog, policy=policy)
    for conn in iter_connections(path, "tls", info, pipeline):
        if selection is None or selection.matches(conn):
            yield "connection", connection_json(conn)
    warnings = list(info.warnings) + pipeline.stats.warnings
    yield "capture", {"capture": Analysis(info, [], warnings, pipeline.stats.frames).capture_json(), "warnings": warnings}


def summarise(captures: list[str], summary: Summary, selection: Selection | None = None, keylog: Any = None,
              policy: Any = None, report: Any = None, read: list[dict[str, Any]] | None = None) -> ExitCode:
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
    from analyzer.render import json as rjson
    from analyzer.render import summary_csv, summary_table
    from analyzer.render.summary_table import plural

    from analyzer.render import html

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
        from analyzer.analysis.findings import severity_at_least

        reached = sum(n for severity, n in c["worst_finding"].items() if severity_at_least(severity, fail_on))
        if reached:
            print(f"{plural(reached, 'connection')} with findings at or above {fail_on}", file=sys.stderr)
            code = ExitCode.FINDINGS
    return code

