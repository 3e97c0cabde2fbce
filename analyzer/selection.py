"""Which connections to show: `--conn`, `--sni`, `--host`, `--port`, `--ja3`, `--ja4`."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from analyzer.report.connection import Report


@dataclass(frozen=True, slots=True)
class Selection:
    """All given criteria must hold."""

    conns: list[int] | None = None
    sni: str | None = None
    host: str | None = None
    port: int | None = None
    ja3: str | None = None
    ja4: str | None = None

    def matches(self, report: Report) -> bool:
        c, fp = report.connection, report.fingerprints
        if self.ja3 is not None and fp.get("ja3") != self.ja3:
            return False
        if self.ja4 is not None and self.ja4 not in (fp.get("ja4"), fp.get("ja4_r")):
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
