"""`tls-analyzer fingerprints`: distinct client fingerprints (JA4, JA3) over captures, with their
connection counts, SNIs, client addresses and the JA3S they met.

Reports are tallied as they stream, so memory follows the distinct fingerprints, not the
connections; a capture that cannot be read among several is reported and the others go on (exit 2).
"""

from __future__ import annotations

import sys
from typing import Any

from analyzer.api import CaptureAnalysis
from analyzer.commands.common import gc_paused, print_warnings
from analyzer.errors import AnalyzerError, ExitCode
from analyzer.render import json as rjson
from analyzer.render.fingerprints import fingerprint_csv, fingerprint_table
from analyzer.report.connection import Report


class Inventory:
    """Distinct (JA4, JA3) client fingerprints, as reports are added."""

    def __init__(self) -> None:
        self.groups: dict[tuple[str, str], dict[str, Any]] = {}

    def add(self, report: Report) -> None:
        fp, c = report.fingerprints, report.connection
        if "ja4" not in fp and "ja3" not in fp:
            return
        row = self.groups.get((fp.get("ja4", ""), fp.get("ja3", "")))
        if row is None:
            row = self.groups[(fp.get("ja4", ""), fp.get("ja3", ""))] = {
                "ja4": fp.get("ja4", ""), "ja3": fp.get("ja3", ""), "ja4_r": fp.get("ja4_r", ""),
                "ja3_string": fp.get("ja3_string", ""), "connections": 0, "snis": set(), "clients": set(),
                "ja3s": set()}
        row["connections"] += 1
        if c.sni:
            row["snis"].add(c.sni)
        row["clients"].add(c.client.ip)
        if fp.get("ja3s"):
            row["ja3s"].add(fp["ja3s"])

    def rows(self) -> list[dict[str, Any]]:
        """Most connections first; sets become sorted lists."""
        rows = sorted(self.groups.values(), key=lambda r: (-r["connections"], r["ja4"], r["ja3"]))
        return [{**r, "snis": sorted(r["snis"]), "clients": sorted(r["clients"]), "ja3s": sorted(r["ja3s"])}
                for r in rows]


def run_fingerprints(captures: list[str], fmt: str) -> int:
    inventory, code = Inventory(), ExitCode.OK
    with gc_paused():
        for path in captures:
            run = CaptureAnalysis(path)
            try:
                for report in run.as_they_end():
                    inventory.add(report)
            except AnalyzerError as exc:
                if len(captures) == 1:
                    raise
                print(exc.one_line(), file=sys.stderr)
                code = ExitCode.USAGE
                continue
            print_warnings(path, run.warnings)
    rows = inventory.rows()
    if fmt == "json":
        sys.stdout.buffer.write(rjson.dumps(rows, pretty=True) + b"\n")
    elif fmt == "csv":
        sys.stdout.write(fingerprint_csv(rows))
    else:
        print(fingerprint_table(rows))
    return code
