"""One row per connection, for people (tabulate) and spreadsheets (CSV). Wire strings sanitised;
in the table they are also cut to sanitize.WIRE_TEXT_MAX characters (CSV and JSON keep them whole)."""

from __future__ import annotations

import csv
import io

from analyzer import registry
from analyzer.render.sanitize import csv_cell, cut, text
from analyzer.report.connection import Report

TLS_COLUMNS = ["id", "client", "server", "sni", "version", "suite", "group", "alpn", "resumed",
               "history", "ja4", "findings", "gaps", "warnings"]
TCP_COLUMNS = ["id", "client", "server", "frames", "packets", "bytes c>s", "bytes s>c", "gaps", "end"]
WIRE_COLUMNS = frozenset({3, 7})  # sni, alpn: strings a peer chose
# columns a table shows only when a row has something in them: why a handshake failed (its cause
# id) and, when a key log was given, the one-word decryption status
OPTIONAL_COLUMNS = ("failure", "decryption")
# gaps: bytes of the connection lost in TCP gaps (never captured)


def _endpoint(e) -> str:  # noqa: ANN001
    return f"[{e.ip}]:{e.port}" if ":" in e.ip else f"{e.ip}:{e.port}"


def row(report: Report, depth: str) -> list[object]:
    """The row's values, as data (wire strings not yet sanitised)."""
    c = report.connection
    lost = sum(g.length for g in c.gaps)
    if depth == "tcp":
        return [c.id, _endpoint(c.client), _endpoint(c.server), f"{c.first_frame}-{c.last_frame}",
                c.packets, c.bytes_client, c.bytes_server, lost, c.end_reason]
    server = _endpoint(c.server) if c.transport == "tcp" else f"{_endpoint(c.server)} {c.transport}"
    return [
        c.id, _endpoint(c.client), server, c.sni or "",
        registry.version_name(c.version) if c.version is not None else "",
        registry.cipher_suite_name(c.cipher_suite) if c.cipher_suite is not None else "",
        registry.group_name(c.group) if c.group is not None else "",
        c.alpn or "", c.resumed or "", c.history, report.fingerprints.get("ja4", ""), _findings(report), lost,
        len(report.warnings),
    ]


def cells(report: Report, depth: str = "tls") -> list[str]:
    """A table row as text: sanitised, wire strings cut. Small: a table holds these, not reports."""
    wire = WIRE_COLUMNS if depth != "tcp" else frozenset()
    out = [cut(v) if i in wire else text(v) for i, v in enumerate(row(report, depth))]
    if depth != "tcp" and out[3] and report.ech is not None and report.ech.outer_sni:
        out[3] += " (ECH outer)"  # the public name of the client-facing server, not the destination
    if depth != "tcp":
        out.append(report.failure.cause if report.failure is not None else "")
        out.append(report.decryption.status if report.decryption is not None else "")
    return out


def render(rows: list[list[str]], depth: str = "tls") -> str:
    """The table of rows made by `cells`."""
    if not rows:
        return "no TLS connections found\n" if depth != "tcp" else "no TCP connections found\n"
    from tabulate import tabulate  # here: JSON runs do not pay for importing it

    headers = TCP_COLUMNS if depth == "tcp" else TLS_COLUMNS
    if depth != "tcp":
        shown = [k for k in range(len(OPTIONAL_COLUMNS)) if any(r[len(headers) + k] for r in rows)]
        rows = [r[:len(headers)] + [r[len(headers) + k] for k in shown] for r in rows]
        headers = headers + [OPTIONAL_COLUMNS[k] for k in shown]
    return tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True) + "\n"


def csv_header(depth: str = "tls") -> str:
    return _csv_line(["capture", *(TCP_COLUMNS if depth == "tcp" else TLS_COLUMNS)])


def csv_row(report: Report, depth: str = "tls", capture: str = "") -> str:
    """One CSV row, led by the capture it comes from (the same shape for one capture or many)."""
    return _csv_line([csv_cell(capture), *(csv_cell(v) for v in row(report, depth))])


def _csv_line(values: list[object]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(values)
    return buf.getvalue()


def _findings(report: Report) -> str:
    """How many findings and the worst severity, e.g. "3 (high)"."""
    if not report.findings:
        return "0"
    return f"{len(report.findings)} ({report.findings[0].severity})"  # findings come worst first
