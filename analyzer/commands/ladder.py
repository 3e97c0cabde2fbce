"""`tls-analyzer ladder`: each connection's handshake as a message ladder, or as Mermaid.

Each connection is drawn as soon as it ends; only its text waits for its turn in id order."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

from analyzer.analysis.policy import Policy
from analyzer.api import CaptureAnalysis
from analyzer.commands.common import gc_paused, nothing_to_show, print_keylog_usage, print_warnings
from analyzer.errors import ExitCode
from analyzer.output import Output
from analyzer.render import ladder, mermaid
from analyzer.report.connection import Report
from analyzer.selection import Selection
from analyzer.tls.keylog import KeyLog


def run_ladder(capture: str, fmt: str, ascii: bool, width: int | None, output: Path | None,
               selection: Selection, keylog: KeyLog | None = None, policy: Policy | None = None,
               explain_keylog: bool = False) -> int:
    draw: Callable[[Report], str]
    if fmt == "mermaid":
        draw = mermaid.fenced
    else:
        tty = output is None and sys.stdout.isatty()
        if width is None:
            width = max(os.get_terminal_size().columns, ladder.MIN_WIDTH) if tty else 120
        plain = ascii or not tty
        style = ladder.Style(ascii=plain, color=tty and not plain and not os.environ.get("NO_COLOR"), width=width)
        draw = lambda r: ladder.render_connection(r, style)  # noqa: E731
    with gc_paused():
        run = CaptureAnalysis(capture, keylog=keylog, policy=policy, select=selection)
        drawn = list(run.rendered(draw))
    print_warnings(capture, run.warnings)
    print_keylog_usage(run.pipeline.keylog, explain_keylog)
    with Output(output) as out:
        out.write(("\n".join(drawn) if drawn else nothing_to_show(run.total, selection) + "\n").encode())
    return ExitCode.OK
