"""JSON and JSON Lines as bytes: the contract's objects (analyzer/report) encoded, keys sorted.

A document is laid out one connection per line, so it streams, greps and diffs by connection,
and is written in pieces while the capture is read (see analyzer/commands/analyze.py).
"""

from __future__ import annotations

from typing import Any

import orjson

from analyzer.report.capture import SCHEMA
from analyzer.report.connection import Report


def dumps(obj: Any, pretty: bool = False) -> bytes:
    opts = orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2 if pretty else orjson.OPT_SORT_KEYS
    try:
        return orjson.dumps(obj, option=opts)
    except TypeError:  # a key that is not a string: the option that allows it costs a third more
        return orjson.dumps(obj, option=opts | orjson.OPT_NON_STR_KEYS)


def connection_bytes(report: Report) -> bytes:
    """One connection as compact JSON: rendered as soon as it ends, so only bytes are kept."""
    return dumps(report.to_json())


def document_frame(capture: dict[str, Any], warnings: list[str]) -> tuple[bytes, bytes]:
    """What comes before and after the connections (keys sorted: capture, connections, schema, warnings)."""
    return (b'{"capture":' + dumps(capture) + b',"connections":[',
            b'],"schema":' + dumps(SCHEMA) + b',"warnings":' + dumps(warnings) + b"}\n")


def document_bytes(capture: dict[str, Any], connections: list[bytes], warnings: list[str]) -> bytes:
    """The whole document from its connections' bytes: the same JSON as `dumps(CaptureReport.to_json())`."""
    head, tail = document_frame(capture, warnings)
    body = b"\n" + b",\n".join(connections) + b"\n" if connections else b""
    return head + body + tail
