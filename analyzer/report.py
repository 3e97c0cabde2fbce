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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analyzer.errors import AnalyzerError, ExitCode
from analyzer.model import Connection
from analyzer.output import Output
from analyzer.pipeline import Pipeline
from analyzer.render.sanitize import text
from analyzer.sources.pcap import CaptureInfo, read_frames
from analyzer.wording import plural


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

    def describe(self) -> str:
        """The criteria as the options that set them: "--conn 99 --port 443"."""
        parts = [f"--conn {c}" for c in self.conns or ()]
        for option, value in (("--sni", self.sni), ("--host", self.host), ("--port", self.port), ("--ja3", self.ja3),
                              ("--ja4", self.ja4)):
            if value is not None:
                parts.append(f"{option} {value}")
        return " ".join(parts)


def nothing_to_show(total: int, selection: Selection | None, depth: str = "tls") -> str:
    """What a table or ladder says when it has no row: no connection at all, or none selected."""
    kind = "TCP" if depth == "tcp" else "TLS"
    if total and selection is not None and selection.describe():
        return f"no connection matches {text(selection.describe())} ({plural(total, kind + ' connection')} in the capture)"
    return f"no {kind} connections found"


@dataclass(slots=True)
class Analysis:
    """One capture's results."""

    info: CaptureInfo
    connections: list[Any] = field(default_factory=list)  # Connection, or what `render` made of it
    warnings: list[str] = field(default_factory=list)
    frames: int = 0
    total: int = 0  # connections before the selection

    def capture_json(self) -> dict[str, Any]:
        name = "-" if self.info.path == "-" else os.path.basename(self.info.path)
        return {"file": name, "format": self.info.format, "compressed": self.info.compressed,
                "frames": self.frames, "truncated": self.info.truncated}


def load_keylog(path: str | None, notice: Callable[[str], None] | None = None) -> Any:
    """The key log to decrypt with: --keylog FILE, else $SSLKEYLOGFILE (with a notice), else None.
    A browser creates SSLKEYLOGFILE only when it first writes to it: a name that does not exist
    yet is a notice and no decryption, while a --keylog that does not exist is an error."""
    from analyzer.tls.keylog import KeyLog

    if path is not None:
        return KeyLog.from_file(path)
    path = os.environ.get("SSLKEYLOGFILE") or None
    if path is None:
        return None
    say = notice or (lambda _: None)
    if not os.path.exists(path):
        say(f"notice: SSLKEYLOGFILE names {path}, which does not exist (yet): nothing to decrypt with")
        return None
    say(f"notice: decrypting with the key log named by SSLKEYLOGFILE ({path})")
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
    yield from pipeline.run(read_frames(path, info, _embedded_secrets(pipeline), pipeline.shard))


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
    return Analysis(info, items, list(info.warnings) + pipeline.stats.warnings, pipeline.stats.frames,
                    pipeline.stats.handed_out)


def json_document(path: str, depth: str = "tls", selection: Selection | None = None, keylog: Any = None,
                  policy: Any = None) -> bytes:
    """Exactly what `analyze PATH --format json` prints for one capture."""
    from analyzer.render import json as rjson

    result = analyze_capture(path, depth, selection, rjson.connection_bytes, keylog, policy)
    return rjson.document_bytes(result.capture_json(), result.connections, result.warnings)


def secrets_json(conn: Connection, keylog: Any) -> dict[str, str]:
    """The key-log secrets of a connection (hex), for --show-secrets only."""
    if keylog is None or not conn.client_hellos:
        return {}
    return {label: value.hex() for label, value in sorted(keylog.secrets_for(conn.client_hellos[0].body.random).items())}


def run_analyze(captures: list[str], fmt: str, output: Path | None, depth: str,
                selection: Selection, jobs: int | None = None, keylog: Any = None,
                show_secrets: bool = False, fail_on: str | None = None, policy: Any = None) -> int:
    """The `analyze` command. `output` is replaced only when the run finishes (see analyzer.output):
    a capture that cannot be read is reported and left out (exit 2), the others are written."""
    from analyzer import parallel
    from analyzer.render import html

    jobs = parallel.default_jobs() if jobs is None else jobs
    if fail_on is not None or show_secrets:
        jobs = 1  # findings are tallied, secrets added, in this process
    tally = Tally()

    def reveal(c: Connection) -> Connection:
        if show_secrets:  # key material only when asked for, and only in JSON
            c.extra["secrets"] = secrets_json(c, keylog)
        if c.findings:
            tally.worst.append(c.findings[0].severity)
        tally.warnings += len(c.warnings)
        return c

    gc.disable()  # a short batch run: see Pipeline.run; rendering makes millions of small objects too
    code = ExitCode.OK
    started = time.monotonic()
    docs = 0
    with Output(output) as out:
        report = html.ReportWriter(out, html.title_for(captures)) if fmt == "html" else None  # one for all captures
        for path in captures:
            try:
                docs += _analyze_one(path, captures, fmt, out, depth, selection, jobs, keylog, policy, reveal, tally,
                                     docs, report)
            except AnalyzerError as exc:
                if len(captures) == 1:
                    raise
                print(exc.one_line(), file=sys.stderr)
                code = ExitCode.USAGE
        if fmt == "json" and len(captures) > 1 and docs:
            out.write(b"\n]\n")
        if report is not None:
            report.finish(tally.captures)
    elapsed = time.monotonic() - started
    shown = plural(tally.connections, "connection")
    if selection.describe():
        shown = f"{tally.connections} of {plural(tally.total, 'connection')} ({text(selection.describe())})"
    print(f"{shown}, {plural(tally.frames, 'frame')}, {plural(tally.warnings, 'warning')} ({elapsed:.2f}s)",
          file=sys.stderr)
    if fail_on is not None and code == ExitCode.OK:
        code = fail_on_code(tally.worst, fail_on)
    return code


@dataclass(slots=True)
class Tally:
    """What the summary line counts over every capture of a run."""

    connections: int = 0  # shown (selected)
    total: int = 0  # before the selection
    frames: int = 0
    warnings: int = 0  # the captures' and their connections': what the warnings columns and lines add up to
    worst: list[str] = field(default_factory=list)  # each connection's worst finding, for --fail-on
    captures: list[dict[str, Any]] = field(default_factory=list)  # each capture read: its JSON and warnings


def _analyze_one(path: str, captures: list[str], fmt: str, out: Output, depth: str, selection: Selection,
                 jobs: int, keylog: Any, policy: Any, reveal: Callable[[Connection], Connection], tally: Tally,
                 docs: int, report: Any = None) -> int:
    """One capture of `analyze` into `out` (or into the HTML `report`); how many JSON documents it
    wrote (0 or 1)."""
    from analyzer import parallel
    from analyzer.render import json as rjson
    from analyzer.render import table

    info, pipeline = CaptureInfo(path), Pipeline(depth=depth, keylog=keylog, policy=policy)
    name = "-" if path == "-" else os.path.basename(path)
    counts: dict[str, int] = {}
    items: Iterable[bytes] = ()
    spool = None
    if fmt == "json":  # the header needs the frame count: one process spools the body ...
        if parallel.worth_it(path, jobs):  # ... which workers know before the merge
            info, frames, items, warnings = parallel.analyze_json(path, jobs, depth, selection, keylog, policy,
                                                                  counts)
        else:
            spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
            count = _write_body(spool.write, ordered(path, depth, selection,
                                                     lambda c: rjson.connection_bytes(reveal(c)), info, pipeline))
            frames, warnings = pipeline.stats.frames, list(info.warnings) + pipeline.stats.warnings
    elif fmt == "jsonl":
        count = 0
        for line in ordered(path, depth, selection,
                            lambda c: rjson.dumps({"capture": name, **rjson.connection_json(reveal(c))}) + b"\n",
                            info, pipeline):
            out.write(line)
            count += 1
        frames, warnings = pipeline.stats.frames, list(info.warnings) + pipeline.stats.warnings
    elif report is not None:
        count = 0
        for conn in ordered(path, depth, selection, lambda c: rjson.connection_json(reveal(c)), info, pipeline):
            report.add(conn, name)
            count += 1
        frames, warnings = pipeline.stats.frames, list(info.warnings) + pipeline.stats.warnings
    else:
        result = analyze_capture(path, depth, selection, reveal, keylog=keylog, policy=policy)
        count, frames, warnings = len(result.connections), result.frames, result.warnings
        counts["handed_out"] = result.total
        if fmt == "csv":
            out.write(table.csv_rows(result.connections, depth, header=not out.started, capture=path).encode())
        else:
            if len(captures) > 1:
                out.write(f"== {text(path)}\n".encode())
            out.write((table.render(result.connections, depth) if result.connections
                       else nothing_to_show(result.total, selection, depth) + "\n").encode())
    for w in warnings:
        print(f"warning: {text(path)}: {w}", file=sys.stderr)
    if fmt == "json":
        head, tail = rjson.document_frame(Analysis(info, [], warnings, frames).capture_json(), warnings)
        if len(captures) > 1:
            out.write(b"[\n" if docs == 0 else b",\n")
        out.write(head)
        if spool is None:
            count = _write_body(out.write, items)
        else:
            spool.seek(0)
            shutil.copyfileobj(spool, out)  # type: ignore[misc]
            spool.close()
        out.write(tail if len(captures) == 1 else tail.rstrip(b"\n"))
    tally.connections += count
    tally.total += counts.get("handed_out", pipeline.stats.handed_out)
    tally.frames += frames
    tally.warnings += len(warnings) + counts.get("connection_warnings", 0)
    tally.captures.append({**Analysis(info, [], warnings, frames).capture_json(), "warnings": warnings})
    return 1 if fmt == "json" else 0


def fail_on_code(worst: list[str], fail_on: str) -> ExitCode:
    """FINDINGS (1) when any connection's worst finding reaches `fail_on`, said on stderr."""
    from analyzer.analysis.findings import severity_at_least

    reached = [s for s in worst if severity_at_least(s, fail_on)]
    if reached:
        print(f"{plural(len(reached), 'connection')} with findings at or above {fail_on}", file=sys.stderr)
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
        print(f"warning: {text(capture)}: {w}", file=sys.stderr)
    with Output(output) as out:
        if not result.connections:
            out.write((nothing_to_show(result.total, selection) + "\n").encode())
        elif fmt == "mermaid":
            out.write(mermaid.render(result.connections).encode())
        else:
            tty = output is None and sys.stdout.isatty()
            if width is None:
                width = max(os.get_terminal_size().columns, ladder.MIN_WIDTH) if tty else 120
            plain = ascii or not tty
            style = ladder.Style(ascii=plain, color=tty and not plain and not os.environ.get("NO_COLOR"), width=width)
            out.write(ladder.render(result.connections, style).encode())
    return ExitCode.OK


LIVE_WIDTHS = (5, 8, 22, 22, 26, 8, 38, 10, 9, 12)


def _live_row(c: Connection) -> str:
    """One fixed-width line; wire strings (SNI, ALPN) cut with an ellipsis to their column."""
    from analyzer.render import table
    from analyzer.render.sanitize import cut

    state = "done" if c.complete else "failed" if any(a.level == 2 for a in c.alerts) else "unfinished"
    cells = table.row(c, "tls")
    values = [cells[0], state, *cells[1:9]]
    wire = {i + 1 for i in table.WIRE_COLUMNS}  # (shifted by the state column)
    return "  ".join((cut(v, w) if i in wire else text(v)[:w]).ljust(w)
                     for i, (v, w) in enumerate(zip(values, LIVE_WIDTHS))).rstrip()


def run_live(iface: str, bpf: str | None, count: int | None, duration: float | None, fmt: str,
             write: Path | None, snaplen: int, idle_timeout: float, selection: Selection,
             keylog: Any = None, policy: Any = None, fail_on: str | None = None) -> int:
    """Sniff an interface; print each connection as its handshake settles, goes idle or ends.
    SIGINT and SIGTERM (SIGINT too when a shell started us in the background with it ignored)
    stop the capture cleanly: open connections are printed as unfinished, the summary follows,
    --write is closed after a whole block; a second signal stops at once. Exit 130 then."""
    from analyzer.net.flows import Limits
    from analyzer.output import open_new_file
    from analyzer.render import json as rjson
    from analyzer.render import ladder
    from analyzer.sources.live import LiveCapture, stop_on_signals
    from analyzer.sources.pcapng_writer import PcapngWriter

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

    def frames() -> Iterator:
        for frame in capture.frames():
            if writer is not None and frame.data:
                writer.write(frame.ts, frame.data)
            yield frame

    if fmt == "table":
        print("  ".join(h.ljust(w) for h, w in zip(("id", "state", "client", "server", "sni", "version", "suite",
                                                     "group", "alpn", "resumed"), LIVE_WIDTHS)).rstrip(), flush=True)
    restore = stop_on_signals(capture)
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

    from analyzer.render import json as rjson
    from analyzer.render.sanitize import csv_cell

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
        print(fingerprint_table(rows))
    return ExitCode.OK


def fingerprint_table(rows: list[dict[str, Any]]) -> str:
    """The `fingerprints` table: up to three SNIs and clients a row, each SNI cut like the table's."""
    from tabulate import tabulate

    from analyzer.render.sanitize import cut

    def few(xs: list[str]) -> str:
        return ", ".join(cut(x) for x in xs[:3]) + (f" (+{len(xs) - 3})" if len(xs) > 3 else "")

    table = [[text(r["ja4"]), text(r["ja3"]), r["connections"], few(r["snis"]), few(r["clients"])] for r in rows]
    return tabulate(table, headers=["ja4", "ja3", "conns", "snis", "clients"], disable_numparse=True) \
        if table else "no ClientHello found"
