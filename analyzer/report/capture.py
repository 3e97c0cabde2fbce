"""One capture's reports, and the JSON document `analyze --format json` prints for it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Final

from analyzer.report.connection import Report
from analyzer.sources.pcap import CaptureInfo

SCHEMA: Final = "tls-analyzer/1"


def capture_json(info: CaptureInfo, frames: int) -> dict[str, Any]:
    """The document's `capture` object."""
    name = "-" if info.path == "-" else os.path.basename(info.path)
    return {"file": name, "format": info.format, "compressed": info.compressed, "frames": frames,
            "truncated": info.truncated, "undecoded": info.undecoded}


@dataclass(slots=True)
class CaptureReport:
    """What the reader learnt of the capture, its reports in connection order, its warnings."""

    info: CaptureInfo
    connections: list[Report] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # the capture's own (the reader's, the pipeline's)
    frames: int = 0
    total: int = 0  # connections before the selection

    def capture_json(self) -> dict[str, Any]:
        return capture_json(self.info, self.frames)

    def to_json(self) -> dict[str, Any]:
        """Exactly the document `analyze CAPTURE --format json` prints (schema tls-analyzer/1)."""
        return {"schema": SCHEMA, "capture": self.capture_json(), "connections": [r.to_json() for r in self.connections],
                "warnings": list(self.warnings)}
