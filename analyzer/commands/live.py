"""`tls-analyzer live`: sniff an interface and print each connection as its handshake settles.

SIGINT and SIGTERM (SIGINT too when a shell started us in the background with it ignored) stop
the capture cleanly: open connections are printed as unfinished, the summary follows, --write is
closed after a whole block; a second signal stops at once. Exit 130 then."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from analyzer.analysis.policy import Policy
from analyzer.commands.common import fail_on_code
from analyzer.errors import AnalyzerError, ExitCode
from analyzer.net.flows import Limits
from analyzer.output import open_new_file
from analyzer.pipeline import Pipeline
from analyzer.render import json as rjson
from analyzer.render import ladder, table
from analyzer.render.sanitize import cut, text
from analyzer.report.connection import Report
from analyzer.selection import Selection
from analyzer.sources.live import LiveCapture, stop_on_signals
from analyzer.sources.pcap import Frame
from analyzer.sources.pcapng_writer import PcapngWriter
from analyzer.tls.keylog import KeyLog
from analyzer.wording import plural

LIVE_HEADERS: Final = ("id", "state", "client", "server", "sni", "version", "suite", "group", "alpn", "resumed")
LIVE_WIDTHS: Final = (5, 8, 22, 22, 26, 8, 38, 10, 9, 12)


def live_row(report: Report) -> str:
    """One fixed-width line; wire strings (SNI, ALPN) cut with an ellipsis to their column."""
    c = report.connection
    state = "done" if c.complete else "failed" if any(a.level == 2 for a in c.alerts) else "unfinished"
    cells = table.row(report, "tls")
    values = [cells[0], state, *cells[1:9]]
    wire = {i + 1 for i in table.WIRE_COLUMNS}  # (shifted by the state column)
    return "  ".join((cut(v, w) if i in wire else text(v)[:w]).ljust(w)
                     for i, (v, w) in enumerate(zip(values, LIVE_WIDTHS))).rstrip()


def run_live(iface: str, bpf: str | None, count: int | None, duration: float | None, fmt: str,
             write: Path | None, snaplen: int, idle_timeout: float, selection: Selection,
             keylog: KeyLog | None = None, policy: Policy | None = None, fail_on: str | None = None) -> int:
    """Sniff an interface; print each connection as its handshake settles, goes idle or ends."""
    capture = LiveCapture(iface, bpf, snaplen, count, duration)
    pipeline = Pipeline(Limits(idle_timeout=idle_timeout, close_grace=0.5), early=True, keylog=keylog, policy=policy)
    try:
        writer_fh = open_new_file(write) if write is not None else None
    except AnalyzerError:
        capture.close()
        raise
    writer = PcapngWriter(writer_fh, capture.linktype, snaplen) if writer_fh else None
    out = sys.stdout
    shown = unfinished = 0
    worst: list[str] = []
    code = ExitCode.OK

    def frames() -> Iterator[Frame]:
        for frame in capture.frames():
            if writer is not None and frame.data:
                writer.write(frame.ts, frame.data)
            yield frame

    if fmt == "table":
        print("  ".join(h.ljust(w) for h, w in zip(LIVE_HEADERS, LIVE_WIDTHS)).rstrip(), flush=True)
    restore = stop_on_signals(capture)
    try:
        for report in pipeline.run(frames()):
            if not selection.matches(report):
                continue
            shown += 1
            unfinished += not report.connection.complete
            if report.findings:
                worst.append(report.findings[0].severity)
            if fmt == "jsonl":
                out.write(rjson.connection_bytes(report).decode() + "\n")
            elif fmt == "ladder":
                out.write(ladder.render_connection(report, ladder.Style(ascii=not out.isatty(), width=120)))
            else:
                out.write(text(live_row(report)) + "\n")
            out.flush()
    except KeyboardInterrupt:  # a second signal: stop at once
        code = ExitCode.INTERRUPTED
    finally:
        restore()
        capture.close()
        if writer_fh is not None:
            writer_fh.close()
    if capture.stopped_by is not None:
        code = ExitCode.INTERRUPTED
    print(f"{plural(shown, 'connection')} ({unfinished} unfinished), {plural(capture.stats.packets, 'packet')}, "
          f"{capture.stats.kernel_drops} dropped by the kernel", file=sys.stderr)
    if fail_on is not None and code == ExitCode.OK:
        code = fail_on_code(worst, fail_on)
    return code
