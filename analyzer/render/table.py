"""One row per connection, for people (tabulate) and spreadsheets (CSV). Wire strings sanitised;
in the table they are also cut to sanitize.WIRE_TEXT_MAX characters (CSV and JSON keep them whole)."""

from __future__ import annotations

import csv
import io

from analyzer import registry
from analyzer.model import Connection
from analyzer.render.sanitize import csv_cell, cut, text

TLS_COLUMNS = ["id", "client", "server", "sni", "version", "suite", "group", "alpn", "resumed",
               "history", "ja4", "findings", "gaps", "warnings"]
TCP_COLUMNS = ["id", "client", "server", "frames", "packets", "bytes c>s", "bytes s>c", "gaps", "end"]
WIRE_COLUMNS = frozenset({3, 7})  # sni, alpn: strings a peer chose
# gaps: bytes of the connection lost in TCP gaps (never captured)


def _endpoint(e) -> str:  # noqa: ANN001
    return f"[{e.ip}]:{e.port}" if ":" in e.ip else f"{e.ip}:{e.port}"


def row(c: Connection, depth: str) -> list[object]:
    lost = sum(g.length for g in c.gaps)
    if depth == "tcp":
        return [c.id, _endpoint(c.client), _endpoint(c.server), f"{c.first_frame}-{c.last_frame}",
                c.packets, c.bytes_client, c.bytes_server, lost, c.end_reason]
    return [
        c.id, _endpoint(c.client), _endpoint(c.server), c.sni or "",
        registry.version_name(c.version) if c.version is not None else "",
        registry.cipher_suite_name(c.cipher_suite) if c.cipher_suite is not None else "",
        registry.group_name(c.group) if c.group is not None else "",
        c.alpn or "", c.resumed or "", c.history, c.fingerprints.get("ja4", ""), _findings(c), lost, len(c.warnings),
    ]


def render(conns: list[Connection], depth: str = "tls") -> str:
    if not conns:
        return "no TLS connections found\n" if depth != "tcp" else "no TCP connections found\n"
    headers = TCP_COLUMNS if depth == "tcp" else TLS_COLUMNS
    wire = WIRE_COLUMNS if depth != "tcp" else frozenset()
    rows = [[cut(v) if i in wire else text(v) for i, v in enumerate(row(c, depth))] for c in conns]
    from tabulate import tabulate  # here: JSON runs do not pay for importing it

    return tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True) + "\n"


def csv_rows(conns: list[Connection], depth: str = "tls", header: bool = True, capture: str = "") -> str:
    """CSV rows, each led by the capture they come from (the same shape for one capture or many)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    if header:
        w.writerow(["capture", *(TCP_COLUMNS if depth == "tcp" else TLS_COLUMNS)])
    cell = csv_cell(capture)
    for c in conns:
        w.writerow([cell, *(csv_cell(v) for v in row(c, depth))])
    return buf.getvalue()


def _findings(c: Connection) -> str:
    """How many findings and the worst severity, e.g. "3 (high)"."""
    if not c.findings:
        return "0"
    return f"{len(c.findings)} ({c.findings[0].severity})"  # findings come worst first
