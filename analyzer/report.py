"""Library API behind the commands: analyse captures, select connections, hand them to a renderer.

Data goes to stdout or `--output` (opened only when there is something to write); progress and
the one-line summary go to stderr.
"""

from __future__ import annotations

import fnmatch
import heapq
import shutil
import tempfile
import gc
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from analyzer.errors import AnalyzerError, ExitCode
from analyzer.model import Connection
from analyzer.pipeline import Pipeline
from analyzer.sources.pcap import CaptureInfo, read_frames


@dataclass(frozen=True, slots=True)
class Selection:
    """Which connections to show: all given criteria must hold."""

    conns: list[int] | None = None
    sni: str | None = None
    host: str | None = None
    port: int | None = None
    ja3: str | None = None
    ja4: str | None = None

    def matches(self, c: Connection) -> bool:
        if self.ja3 is not None and c.fingerprints.get("ja3") != self.ja3:
            return False
        if self.ja4 is not None and self.ja4 not in (c.fingerprints.get("ja4"), c.fingerprints.get("ja4_r")):
            return False
        if self.conns and c.id not in self.conns:
            return False
        if self.sni is not None and not fnmatch.fnmatchcase(c.sni or "", self.sni):
            return False
        if self.host is not None and self.host not in (c.client.ip, c.server.ip):
            return False
        if self.port is not None and self.port not in (c.client.port, c.server.port):
            return False
        return True


@dataclass(slots=True)
class Analysis:
    """One capture's results."""

    info: CaptureInfo
    connections: list[Any] = field(default_factory=list)  # Connection, or what `render` made of it
    warnings: list[str] = field(default_factory=list)
    frames: int = 0

    def capture_json(self) -> dict[str, Any]:
        name = "-" if self.info.path == "-" else os.path.basename(self.info.path)
        return {"file": name, "format": self.info.format, "compressed": self.info.compressed,
                "frames": self.frames, "truncated": self.info.truncated, "undecoded": self.info.undecoded}


def load_keylog(path: str | None, notice: Callable[[str], None] | None = None) -> Any:
    """The key log to decrypt with: --keylog FILE, else $SSLKEYLOGFILE (with a notice), else None."""
    if path is None:
        path = os.environ.get("SSLKEYLOGFILE") or None
        if path is None:
            return None
        if notice is not None:
            notice(f"notice: decrypting with the key log named by SSLKEYLOGFILE ({path})")
    from analyzer.tls.keylog import KeyLog

    return KeyLog.from_file(path)


def _embedded_secrets(pipeline: Pipeline) -> Callable[[Any], None]:
    """pcapng Decryption Secrets Blocks join the pipeline's key log as they are read."""
    from analyzer.tls.keylog import KeyLog

    def take(block: Any) -> None:
        keylog = pipeline.keylog if pipeline.keylog is not None else KeyLog()
        if keylog.add_secrets_block(block):
            pipeline.keylog = keylog
    return take


def iter_connections(path: str, depth: str = "tls", info: CaptureInfo | None = None,
                     pipeline: Pipeline | None = None) -> Iterator[Connection]:
    """Stream a capture's connections as they end (not in id order)."""
    info = info or CaptureInfo(path)
    pipeline = pipeline or Pipeline(depth=depth)
    yield from pipeline.run(read_frames(path, info, _embedded_secrets(pipeline), pipeline.shard, pipeline.limits))
    info.undecoded = pipeline.stats.undecoded


def ordered(path: str, depth: str, selection: Selection | None, render: Callable[[Connection], Any],
            info: CaptureInfo, pipeline: Pipeline) -> Iterator[Any]:
    """`render(connection)` for each selected connection, in id order, each released as soon as
    no connection with a lower id can still come (the pipeline's watermark): memory holds only
    the connections waiting on a longer-lived one with a lower id, not the whole capture."""
    waiting: list[tuple[int, Any]] = []
    for c in iter_connections(path, depth, info, pipeline):
        if selection is None or selection.matches(c):
            heapq.heappush(waiting, (c.id, render(c)))
        mark = pipeline.watermark
        while waiting and waiting[0][0] < mark:
            yield heapq.heappop(waiting)[1]
    while waiting:
        yield heapq.heappop(waiting)[1]


def analyze_capture(path: str, depth: str = "tls", selection: Selection | None = None,
                    render: Callable[[Connection], Any] | None = None, keylog: Any = None,
                    policy: Any = None) -> Analysis:
    """Analyse one capture fully; connections (or `render(connection)`) sorted by id."""
    info = CaptureInfo(path)
    pipeline = Pipeline(depth=depth, keylog=keylog, policy=policy)
    items = list(ordered(path, depth, selection, render or (lambda c: c), info, pipeline))
    return Analysis(info, items, list(info.warnings) + pipeline.stats.warnings, pipeline.stats.frames)


def json_document(path: str, depth: str = "tls", selection: Selection | None = None, keylog: Any = None,
                  policy: Any = None) -> bytes:
    """Exactly what `analyze PATH --format json` prints for one capture."""
    from analyzer.render import json as rjson

    result = analyze_capture(path, depth, selection, rjson.connection_bytes, keylog, policy)
    return rjson.document_bytes(result.capture_json(), result.connections, result.warnings)


class LazyOutput:
    """stdout, or a file created only when the first byte is written."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.fh: BinaryIO | None = None

    def write(self, data: bytes) -> None:
        if not data:
            return
        if self.fh is None:
            if self.path is None:
                self.fh = sys.stdout.buffer
            else:
                try:
                    self.fh = open(self.path, "wb")
                except OSError as exc:
                    raise AnalyzerError(f"cannot write {self.path}: {exc.strerror}", "check the directory") from None
        self.fh.write(data)
        self.fh.flush()

    def close(self) -> None:
        if self.fh is not None and self.path is not None:
            self.fh.close()


def secrets_json(conn: Connection, keylog: Any) -> dict[str, str]:
    """The key-log secrets of a connection (hex), for --show-secrets only."""
    if keylog is None or not conn.client_hellos:
        return {}
    return {label: value.hex() for label, value in sorted(keylog.secrets_for(conn.client_hellos[0].body.random).items())}


def run_analyze(captures: list[str], fmt: str, output: Path | None, depth: str,
                selection: Selection, jobs: int | None = None, keylog: Any = None,
                show_secrets: bool = False, fail_on: str | None = None, policy: Any = None) -> int:
    from analyzer import parallel
    from analyzer.render import json as rjson
    from analyzer.render import table

    jobs = parallel.default_jobs() if jobs is None else jobs

    worst: list[str] = []  # severities of findings seen, for --fail-on

    def reveal(c: Connection) -> Connection:
        if show_secrets:  # key material only when asked for, and only in JSON
            c.extra["secrets"] = secrets_json(c, keylog)
        if c.findings:
            worst.append(c.findings[0].severity)
        return c

    if fail_on is not None:
        jobs = 1  # findings are tallied in this process

    if show_secrets:
        jobs = 1  # the secrets are added in this process
    gc.disable()  # a short batch run: see Pipeline.run; rendering makes millions of small objects too
    out = LazyOutput(output)
    code = ExitCode.OK
    started = time.monotonic()
    total_conns = total_frames = total_warn = docs = 0
    undecoded: Counter[str] = Counter()  # frames that may have held TCP and did not decode, by cause
    try:
        for path in captures:
            info, pipeline = CaptureInfo(path), Pipeline(depth=depth, keylog=keylog, policy=policy)
            try:
                if fmt == "json":
                    spool = None  # the header needs the frame count: one process spools the body
                    if parallel.worth_it(path, jobs):  # ... which workers know before the merge
                        info, frames, items, warnings = parallel.analyze_json(path, jobs, depth, selection, keylog, policy)
                    else:
                        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
                        count = _write_body(spool.write, ordered(path, depth, selection,
                                                                 lambda c: rjson.connection_bytes(reveal(c)), info, pipeline))
                        frames, warnings = pipeline.stats.frames, list(info.warnings) + pipeline.stats.warnings
                elif fmt == "jsonl":
                    name = "-" if path == "-" else os.path.basename(path)
                    count = 0
                    for line in ordered(path, depth, selection,
                                        lambda c: rjson.dumps({"capture": name, **rjson.connection_json(reveal(c))})
                                        + b"\n",
                                        info, pipeline):
                        out.write(line)
                        count += 1
                    frames, warnings = pipeline.stats.frames, list(info.warnings) + pipeline.stats.warnings
                else:
                    result = analyze_capture(path, depth, selection, reveal, keylog=keylog, policy=policy)
                    count, frames, warnings, info = len(result.connections), result.frames, result.warnings, result.info
                    if fmt == "csv":
                        out.write(table.csv_rows(result.connections, depth, header=(path == captures[0])).encode())
                    else:
                        if len(captures) > 1:
                            out.write(f"== {path}\n".encode())
                        out.write(table.render(result.connections, depth).encode())
            except AnalyzerError as exc:
                if len(captures) == 1:
                    raise
                print(exc.one_line(), file=sys.stderr)
                code = ExitCode.USAGE
                continue
            for w in warnings:
                print(f"warning: {path}: {w}", file=sys.stderr)
            if fmt == "json":
                head, tail = rjson.document_frame(Analysis(info, [], warnings, frames).capture_json(), warnings)
                if len(captures) > 1:
                    out.write(b"[\n" if docs == 0 else b",\n")
                out.write(head)
                if spool is None:
                    count = _write_body(out.write, items)
                else:
                    spool.seek(0)
                    shutil.copyfileobj(spool, out)
                    spool.close()
                out.write(tail if len(captures) == 1 else tail.rstrip(b"\n"))
                docs += 1
            total_conns += count
            total_frames += frames
            total_warn += len(warnings)
            undecoded.update(info.undecoded)
        if fmt == "json" and len(captures) > 1 and docs:
            out.write(b"\n]\n")
    finally:
        out.close()
    elapsed = time.monotonic() - started
    print(f"{total_conns} connections, {total_frames} frames{not_decoded(undecoded)}, {total_warn} warnings "
          f"({elapsed:.2f}s)", file=sys.stderr)
    if fail_on is not None and code == ExitCode.OK:
        code = fail_on_code(worst, fail_on)
    return code


def not_decoded(counts: dict[str, int]) -> str:
    """' (12 not decoded: 8 unsupported ethertype 0x88e5, 4 truncated IPv4 header)', or '' when none."""
    if not counts:
        return ""
    causes = ", ".join(f"{n} {cause}" for cause, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    return f" ({sum(counts.values())} not decoded: {causes})"


def fail_on_code(worst: list[str], fail_on: str) -> ExitCode:
    """FINDINGS (1) when any connection's worst finding reaches `fail_on`, said on stderr."""
    from analyzer.analysis.findings import severity_at_least

    reached = [s for s in worst if severity_at_least(s, fail_on)]
    if reached:
        print(f"{len(reached)} connections with findings at or above {fail_on}", file=sys.stderr)
        return ExitCode.FINDINGS
    return ExitCode.OK


SPOOL_IN_MEMORY = 32 << 20  # JSON of a large capture beyond this waits in a temporary file


def _write_body(write: Callable[[bytes], Any], items: Iterable[bytes]) -> int:
    """Connection JSON objects, one per line and comma-separated, as the document's body; written
    in pieces of about 1 MiB. Returns how many."""
    count = size = 0
    pending: list[bytes] = []
    for item in items:
        pending.append(b"\n" if count == 0 else b",\n")
        pending.append(item)
        count += 1
        size += len(item)
        if size >= 1 << 20:
            write(b"".join(pending))
            pending.clear()
            size = 0
    if count:
        pending.append(b"\n")
    write(b"".join(pending))
    return count


def run_ladder(capture: str, fmt: str, ascii: bool, width: int | None, output: Path | None,
               selection: Selection, keylog: Any = None, policy: Any = None) -> int:
    from analyzer.render import ladder, mermaid

    gc.disable()
    result = analyze_capture(capture, "tls", selection, keylog=keylog, policy=policy)
    for w in result.warnings:
        print(f"warning: {capture}: {w}", file=sys.stderr)
    out = LazyOutput(output)
    try:
        if fmt == "mermaid":
            out.write(mermaid.render(result.connections).encode())
        else:
            tty = output is None and sys.stdout.isatty()
            if width is None:
                width = os.get_terminal_size().columns if tty else 120
            plain = ascii or not tty
            style = ladder.Style(ascii=plain, color=tty and not plain and not os.environ.get("NO_COLOR"),
                                 width=max(width, 60))
            out.write(ladder.render(result.connections, style).encode())
    finally:
        out.close()
    return ExitCode.OK


LIVE_WIDTHS = (5, 8, 22, 22, 26, 8, 38, 10, 9, 12)


def _live_row(c: Connection) -> str:
    from analyzer.render import table

    state = "done" if c.complete else "failed" if any(a.level == 2 for a in c.alerts) else "unfinished"
    cells = table.row(c, "tls")
    values = [cells[0], state, *cells[1:9]]
    return "  ".join(str(v)[:w].ljust(w) for v, w in zip(values, LIVE_WIDTHS)).rstrip()


def run_live(iface: str, bpf: str | None, count: int | None, duration: float | None, fmt: str,
             write: Path | None, snaplen: int, idle_timeout: float, selection: Selection,
             keylog: Any = None, policy: Any = None, fail_on: str | None = None) -> int:
    """Sniff an interface; print each connection as its handshake settles, goes idle or ends."""
    from analyzer.net.flows import Limits
    from analyzer.render import json as rjson
    from analyzer.render import ladder
    from analyzer.render.sanitize import text
    from analyzer.sources.live import LiveCapture
    from analyzer.sources.pcapng_writer import PcapngWriter

    capture = LiveCapture(iface, bpf, snaplen, count, duration)
    pipeline = Pipeline(Limits(idle_timeout=idle_timeout, close_grace=0.5), early=True, keylog=keylog, policy=policy)
    writer_fh = open(write, "wb") if write is not None else None  # noqa: SIM115 - closed below
    writer = PcapngWriter(writer_fh, capture.linktype, snaplen) if writer_fh else None
    out = sys.stdout
    shown = unfinished = 0
    worst: list[str] = []
    code = ExitCode.OK

    def frames() -> Iterator:
        for frame in capture.frames():
            if writer is not None and frame.data:
                writer.write(frame.ts, frame.data)
            yield frame

    if fmt == "table":
        print("  ".join(h.ljust(w) for h, w in zip(("id", "state", "client", "server", "sni", "version", "suite",
                                                     "group", "alpn", "resumed"), LIVE_WIDTHS)).rstrip(), flush=True)
    try:
        for conn in pipeline.run(frames()):
            if not selection.matches(conn):
                continue
            shown += 1
            unfinished += not conn.complete
            if conn.findings:
                worst.append(conn.findings[0].severity)
            if fmt == "jsonl":
                out.write(rjson.dumps(rjson.connection_json(conn)).decode() + "\n")
            elif fmt == "ladder":
                out.write(ladder.render_connection(conn, ladder.Style(ascii=not out.isatty(), width=120)))
            else:
                out.write(text(_live_row(conn)) + "\n")
            out.flush()
    except KeyboardInterrupt:
        code = ExitCode.INTERRUPTED
    finally:
        capture.close()
        if writer_fh is not None:
            writer_fh.close()
    print(f"{shown} connections ({unfinished} unfinished), {capture.stats.packets} packets, "
          f"{capture.stats.kernel_drops} dropped by the kernel", file=sys.stderr)
    if fail_on is not None and code == ExitCode.OK:
        code = fail_on_code(worst, fail_on)
    return code


def fingerprint_rows(conns: list[Connection]) -> list[dict[str, Any]]:
    """Distinct (JA4, JA3) client fingerprints: connection count, SNIs, client addresses, JA3S seen."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for c in conns:
        fp = c.fingerprints
        if "ja4" not in fp and "ja3" not in fp:
            continue
        row = groups.setdefault((fp.get("ja4", ""), fp.get("ja3", "")), {
            "ja4": fp.get("ja4", ""), "ja3": fp.get("ja3", ""), "ja4_r": fp.get("ja4_r", ""),
            "ja3_string": fp.get("ja3_string", ""), "connections": 0, "snis": set(), "clients": set(), "ja3s": set()})
        row["connections"] += 1
        if c.sni:
            row["snis"].add(c.sni)
        row["clients"].add(c.client.ip)
        if fp.get("ja3s"):
            row["ja3s"].add(fp["ja3s"])
    rows = sorted(groups.values(), key=lambda r: (-r["connections"], r["ja4"], r["ja3"]))
    for r in rows:
        for key in ("snis", "clients", "ja3s"):
            r[key] = sorted(r[key])
    return rows


def run_fingerprints(captures: list[str], fmt: str) -> int:
    import csv
    import io

    from tabulate import tabulate

    from analyzer.render import json as rjson
    from analyzer.render.sanitize import csv_cell, text

    gc.disable()
    conns: list[Connection] = []
    for path in captures:
        conns += analyze_capture(path).connections
    rows = fingerprint_rows(conns)
    if fmt == "json":
        sys.stdout.buffer.write(rjson.dumps(rows, pretty=True) + b"\n")
    elif fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["ja4", "ja3", "connections", "snis", "clients", "ja3s"])
        for r in rows:
            w.writerow([csv_cell(v) for v in (r["ja4"], r["ja3"], r["connections"], " ".join(r["snis"]),
                                              " ".join(r["clients"]), " ".join(r["ja3s"]))])
        sys.stdout.write(buf.getvalue())
    else:
        def few(xs: list[str]) -> str:
            return ", ".join(xs[:3]) + (f" (+{len(xs) - 3})" if len(xs) > 3 else "")

        table = [[text(r["ja4"]), text(r["ja3"]), r["connections"], text(few(r["snis"])), text(few(r["clients"]))]
                 for r in rows]
        print(tabulate(table, headers=["ja4", "ja3", "conns", "snis", "clients"], disable_numparse=True)
              if table else "no ClientHello found")
    return ExitCode.OK
