"""The `fingerprints` inventory as a table (people) or CSV (spreadsheets). Wire strings sanitised."""

from __future__ import annotations

import csv
import io
from typing import Any

from analyzer.render.sanitize import csv_cell, cut, text

CSV_COLUMNS = ("ja4", "ja3", "connections", "snis", "clients", "ja3s")


def fingerprint_table(rows: list[dict[str, Any]]) -> str:
    """Up to three SNIs and clients a row, each SNI cut like the connection table's."""
    from tabulate import tabulate

    def few(xs: list[str]) -> str:
        return ", ".join(cut(x) for x in xs[:3]) + (f" (+{len(xs) - 3})" if len(xs) > 3 else "")

    cells = [[text(r["ja4"]), text(r["ja3"]), r["connections"], few(r["snis"]), few(r["clients"])] for r in rows]
    return tabulate(cells, headers=["ja4", "ja3", "conns", "snis", "clients"], disable_numparse=True) \
        if cells else "no ClientHello found"


def fingerprint_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in rows:
        w.writerow([csv_cell(v) for v in (r["ja4"], r["ja3"], r["connections"], " ".join(r["snis"]),
                                          " ".join(r["clients"]), " ".join(r["ja3s"]))])
    return buf.getvalue()
