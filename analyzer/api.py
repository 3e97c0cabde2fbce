"""The library: captures in, typed reports out. No printing, no global state left changed.

    from analyzer import analyze
    result = analyze("lab.pcapng", keylog="sslkeys.txt", policy="mozilla-intermediate")
    for report in result.connections:            # analyzer.Report: facts, findings, fingerprints
        print(report.connection.sni, report.worst, report.fingerprints.get("ja4"))
    result.to_json()                             # exactly `tls-analyzer analyze ... --format json`

`iter_reports` streams a capture's reports (in connection-id order, or as connections end)
without holding them all; `open_capture` gives the frames and what the reader learnt of the file.
The CLI's commands (analyzer/commands/) are built on `CaptureAnalysis`, the same machinery.
"""

from __future__ import annotations

import heapq
import os
from collections.abc import Callable, Iterator
from enum import Enum
from typing import TypeVar

from analyzer.analysis.policy import Policy
from analyzer.analysis.rulebook import Judge
from analyzer.errors import InputError, UsageError
from analyzer.net.flows import Limits
from analyzer.pipeline import Pipeline
from analyzer.policies import PROFILES
from analyzer.report.capture import CaptureReport
from analyzer.report.connection import Report
from analyzer.selection import Selection
from analyzer.sources.pcap import CaptureInfo, DecryptionSecrets, Frame, read_frames
from analyzer.tls.keylog import KeyLog

T = TypeVar("T")


class Depth(str, Enum):
    """How far to decode: `tls` (everything) or `tcp` (stop after TCP reassembly)."""

    TLS = "tls"
    TCP = "tcp"


def as_depth(depth: Depth | str) -> Depth:
    try:
        return Depth(depth)
    except ValueError:
        raise UsageError(f"depth {depth!r} is neither 'tls' nor 'tcp'") from None


PolicyLike = Policy | Judge | str | os.PathLike[str] | None


def load_policy(policy: PolicyLike) -> Policy | Judge | None:
    """A Policy (or a Judge: a policy made ready for a run) as given, a built-in profile by name
    (`mozilla-modern`, ...), or a TOML policy file."""
    if policy is None or isinstance(policy, (Policy, Judge)):
        return policy
    from analyzer.analysis.policy_file import load_policy_file, load_profile  # here: most runs use no policy file

    name = os.fspath(policy)
    return load_profile(name) if name in PROFILES else load_policy_file(name)


def load_keylog(keylog: KeyLog | str | os.PathLike[str] | None) -> KeyLog | None:
    """A KeyLog as given, or read from an NSS key log file (SSLKEYLOGFILE format); a missing or
    unreadable file is a one-line InputError."""
    if keylog is None or isinstance(keylog, KeyLog):
        return keylog
    path = os.fspath(keylog)
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise InputError(f"key log {path}: no such file", "give the file SSLKEYLOGFILE wrote") from None
    except OSError as exc:
        raise InputError(f"key log {path}: {exc.strerror}", "check the path and permissions") from None
    parsed = KeyLog()
    parsed.add_text(text, path)
    return parsed


class CaptureAnalysis:
    """One capture being analysed: its reports stream out, then its counts and warnings are known.

    Read once: a capture may be stdin. `limits` caps what a sender can make us hold (analyzer/limits.py).
    """

    def __init__(self, path: str | os.PathLike[str], *, keylog: KeyLog | str | os.PathLike[str] | None = None,
                 policy: PolicyLike = None, select: Selection | None = None,
                 depth: Depth | str = Depth.TLS, limits: Limits | None = None,
                 shard: tuple[int, int] | None = None, early: bool = False) -> None:
        self.path = os.fspath(path)
        self.depth = as_depth(depth)
        self.select = select
        self.info = CaptureInfo(self.path)
        self.pipeline = Pipeline(limits, depth=self.depth.value, shard=shard, early=early,
                                 keylog=load_keylog(keylog), policy=load_policy(policy))

    def frames(self) -> Iterator[Frame]:
        """The capture's frames; pcapng Decryption Secrets Blocks join the key log as they are read."""
        return read_frames(self.path, self.info, self._secrets, self.pipeline.shard, self.pipeline.limits)

    def _secrets(self, block: DecryptionSecrets) -> None:
        keylog = self.pipeline.keylog if self.pipeline.keylog is not None else KeyLog()
        if keylog.add_secrets_block(block.secrets_type, block.data):
            self.pipeline.keylog = keylog

    def as_they_end(self) -> Iterator[Report]:
        """Every selected report, as its connection ends (not in id order)."""
        select = self.select
        for report in self.pipeline.run(self.frames()):
            if select is None or select.matches(report):
                yield report
        self.info.undecoded = self.pipeline.stats.undecoded

    def rendered(self, render: Callable[[Report], T]) -> Iterator[T]:
        """`render(report)` for each selected report, in id order. Each is rendered as soon as its
        connection ends and released as soon as no connection with a lower id can still come (the
        pipeline's watermark): memory holds only what waits on a longer-lived connection."""
        waiting: list[tuple[int, T]] = []
        pipeline, select = self.pipeline, self.select
        for report in pipeline.run(self.frames()):
            if select is None or select.matches(report):
                heapq.heappush(waiting, (report.connection.id, render(report)))
            mark = pipeline.watermark
            while waiting and waiting[0][0] < mark:
                yield heapq.heappop(waiting)[1]
        while waiting:
            yield heapq.heappop(waiting)[1]
        self.info.undecoded = pipeline.stats.undecoded

    @property
    def frames_read(self) -> int:
        return self.pipeline.stats.frames

    @property
    def warnings(self) -> list[str]:
        """The capture's warnings (the reader's, then the pipeline's), once it has been read."""
        return list(self.info.warnings) + self.pipeline.stats.warnings

    @property
    def total(self) -> int:
        """Connections handed out before the selection."""
        return self.pipeline.stats.handed_out

    def result(self, reports: list[Report]) -> CaptureReport:
        return CaptureReport(self.info, reports, self.warnings, self.frames_read, self.total)


def open_capture(path: str | os.PathLike[str]) -> CaptureAnalysis:
    """A capture to read: `.frames()` alone, or its reports (see `iter_reports` and `analyze`)."""
    return CaptureAnalysis(path)


def iter_reports(capture: str | os.PathLike[str], *, keylog: KeyLog | str | os.PathLike[str] | None = None,
                 policy: PolicyLike = None, select: Selection | None = None,
                 depth: Depth | str = Depth.TLS, order: str = "id") -> Iterator[Report]:
    """Stream a capture's reports: `order="id"` (connection order, as `analyze` prints them) or
    `"end"` (as each connection ends: nothing is held back). Raises InputError when the capture
    cannot be read."""
    if order not in ("id", "end"):
        raise UsageError(f"order {order!r} is neither 'id' nor 'end'")
    run = CaptureAnalysis(capture, keylog=keylog, policy=policy, select=select, depth=depth)
    return run.as_they_end() if order == "end" else run.rendered(_same)


def analyze(capture: str | os.PathLike[str], *, keylog: KeyLog | str | os.PathLike[str] | None = None,
            policy: PolicyLike = None, select: Selection | None = None,
            depth: Depth | str = Depth.TLS) -> CaptureReport:
    """Analyse a whole capture: its reports in connection order, its counts and warnings.
    `result.to_json()` is exactly what `tls-analyzer analyze CAPTURE --format json` prints."""
    run = CaptureAnalysis(capture, keylog=keylog, policy=policy, select=select, depth=depth)
    return run.result(list(run.rendered(_same)))


def json_document(capture: str | os.PathLike[str], *, keylog: KeyLog | str | os.PathLike[str] | None = None,
                  policy: PolicyLike = None, select: Selection | None = None,
                  depth: Depth | str = Depth.TLS) -> bytes:
    """Exactly the bytes `tls-analyzer analyze CAPTURE --format json` prints (one capture)."""
    from analyzer.render.json import connection_bytes, document_bytes
    from analyzer.report.capture import capture_json

    run = CaptureAnalysis(capture, keylog=keylog, policy=policy, select=select, depth=depth)
    body = list(run.rendered(connection_bytes))
    return document_bytes(capture_json(run.info, run.frames_read), body, run.warnings)


def _same(report: Report) -> Report:
    return report


__all__ = ["CaptureAnalysis", "Depth", "analyze", "iter_reports", "json_document", "load_keylog", "load_policy",
           "open_capture"]
