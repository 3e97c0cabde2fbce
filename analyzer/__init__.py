"""tls-analyzer: passive TLS handshake analysis, as a library and a command line.

    from analyzer import analyze
    result = analyze("lab.pcapng", keylog="sslkeys.txt", policy="mozilla-intermediate")
    for report in result.connections:
        print(report.connection.sni, report.worst, report.fingerprints.get("ja4"))

See analyzer/api.py and the README's "Python library" section. The names below are imported on
first use, so `tls-analyzer --help` does not pay for the whole package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from analyzer import native  # first: decides between the compiled and the pure-Python hot path

__version__ = "0.1.0"

_PUBLIC = {
    "analyze": "analyzer.api", "iter_reports": "analyzer.api", "open_capture": "analyzer.api",
    "json_document": "analyzer.api", "load_policy": "analyzer.api", "load_keylog": "analyzer.api",
    "CaptureAnalysis": "analyzer.api", "Depth": "analyzer.api",
    "CaptureReport": "analyzer.report.capture", "Report": "analyzer.report.connection",
    "Connection": "analyzer.model", "Finding": "analyzer.analysis.findings", "Policy": "analyzer.analysis.policy",
    "KeyLog": "analyzer.tls.keylog", "Selection": "analyzer.selection",
    "AnalyzerError": "analyzer.errors", "InputError": "analyzer.errors", "UsageError": "analyzer.errors",
}
__all__ = ["AnalyzerError", "CaptureAnalysis", "CaptureReport", "Connection", "Depth", "Finding", "InputError", "KeyLog",
           "Policy", "Report", "Selection", "UsageError", "__version__", "analyze", "iter_reports", "json_document",
           "load_keylog", "load_policy", "open_capture"]

if TYPE_CHECKING:
    from analyzer.analysis.findings import Finding
    from analyzer.analysis.policy import Policy
    from analyzer.api import (
        CaptureAnalysis,
        Depth,
        analyze,
        iter_reports,
        json_document,
        load_keylog,
        load_policy,
        open_capture,
    )
    from analyzer.errors import AnalyzerError, InputError, UsageError
    from analyzer.model import Connection
    from analyzer.report.capture import CaptureReport
    from analyzer.report.connection import Report
    from analyzer.selection import Selection
    from analyzer.tls.keylog import KeyLog


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'analyzer' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


_ = native
