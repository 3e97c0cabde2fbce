"""JSON and JSON Lines as bytes: the contract's objects (analyzer/report) encoded, keys sorted.

A document is laid out one connection per line, so it streams, greps and diffs by connection,
and is written in pieces while the capture is read (see analyzer/commands/analyze.py).

A connection's messages are most of its JSON, and they come in few shapes: most differ from
another message only by their frame, direction and time (a server's Certificate, a client's hello
shape, every ChangeCipherSpec, a run of application data but for its lengths). Each shape is
encoded once, as a %-format with those values left out, keyed by content (the decoded body's
content key, `Message.shared`, or the scalar fields of a message without a body); the messages
are filled in and handed to the encoder as pre-encoded bytes (`orjson.Fragment`).
`encodable(report)` is `report.to_json()` with its messages so encoded: the bytes are the same
(tests/test_json_fragments.py holds them equal on every capture). Bounded: TEMPLATES_MAX shapes,
none longer than TEMPLATE_BYTES_MAX (a longer message is encoded each time), their keys holding
at most as many message bodies as the decode cache does (up to 16 KiB each).
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from analyzer.cache import LruCache
from analyzer.model import DataRun, Entry
from analyzer.report.capture import SCHEMA
from analyzer.report.connection import Report, connection_json, messages
from analyzer.report.messages import message_json, micro_round

TEMPLATES_MAX: Final = 256  # distinct message shapes kept encoded, as many as decoded messages are kept
TEMPLATE_BYTES_MAX: Final = 16 << 10  # a longer message is encoded every time: at most 4 MiB of templates
_TEMPLATES: Final = LruCache[bytes](TEMPLATES_MAX)
# what differs between copies of a message (of a run), filled in the order of their keys
MESSAGE_SLOTS: Final = {"frame": b"%d", "from": b"%b", "ts": b"%b"}
RUN_SLOTS: Final = {**MESSAGE_SLOTS, "last_frame": b"%d", "length": b"%d", "records": b"%d"}


def dumps(obj: Any, pretty: bool = False) -> bytes:
    opts = orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2 if pretty else orjson.OPT_SORT_KEYS
    try:
        return orjson.dumps(obj, option=opts)
    except TypeError:  # a key that is not a string: the option that allows it costs a third more
        return orjson.dumps(obj, option=opts | orjson.OPT_NON_STR_KEYS)


def connection_bytes(report: Report) -> bytes:
    """One connection as compact JSON: rendered as soon as it ends, so only bytes are kept."""
    return dumps(encodable(report))


def encodable(report: Report) -> dict[str, Any]:
    """`report.to_json()` with its messages already encoded: `dumps` of it gives the same bytes."""
    return connection_json(report, _messages_fragment)


def _messages_fragment(report: Report) -> orjson.Fragment:
    return orjson.Fragment(b"[" + b",".join(messages(report, message_bytes)) + b"]")


def message_bytes(entry: Entry | DataRun, fingerprints: dict[str, str] | None) -> bytes:
    """`dumps(message_json(entry, fingerprints))`, filled into its shape's template."""
    if isinstance(entry, DataRun):
        key: tuple = ("run", entry.content_type, entry.record_version, entry.name, entry.role, entry.decrypted)
        template = _TEMPLATES.get(key) or _keep(key, _template(message_json(entry), RUN_SLOTS))
        return template % (entry.frame, orjson.dumps(entry.side), entry.last_frame, entry.length, entry.records,
                           orjson.dumps(micro_round(entry.ts)))
    m = entry.msg
    if m.shared is not None:  # the key fixes type, name, length, body and malformed
        key = (m.shared, m.content_type, m.record_version, m.encrypted, m.decrypted,
               None if fingerprints is None else tuple(fingerprints.items()))
    elif m.body is None and fingerprints is None:
        key = ("plain", m.content_type, m.record_version, m.type, m.name, m.encrypted, m.decrypted, m.length,
               m.malformed)
    else:  # a body of its own (a key exchange, an alert): encoded as it is
        return dumps(message_json(entry, fingerprints))
    template = _TEMPLATES.get(key) or _keep(key, _template(message_json(entry, fingerprints), MESSAGE_SLOTS))
    return template % (m.frame, orjson.dumps(entry.side), orjson.dumps(micro_round(m.ts)))


def _keep(key: tuple, template: bytes) -> bytes:
    """Keep a template for the next copy of its message, unless it is too long to hold."""
    return _TEMPLATES.put(key, template) if len(template) <= TEMPLATE_BYTES_MAX else template


def _template(d: dict[str, Any], slots: dict[str, bytes]) -> bytes:
    """`dumps(d)` as a %-format: each of `slots` holds its directive where its value was."""
    return b"{" + b",".join(dumps(k) + b":" + (slots[k] if k in slots else dumps(v).replace(b"%", b"%%"))
                            for k, v in sorted(d.items())) + b"}"


def document_frame(capture: dict[str, Any], warnings: list[str]) -> tuple[bytes, bytes]:
    """What comes before and after the connections (keys sorted: capture, connections, schema, warnings)."""
    return (b'{"capture":' + dumps(capture) + b',"connections":[',
            b'],"schema":' + dumps(SCHEMA) + b',"warnings":' + dumps(warnings) + b"}\n")


def document_bytes(capture: dict[str, Any], connections: list[bytes], warnings: list[str]) -> bytes:
    """The whole document from its connections' bytes: the same JSON as `dumps(CaptureReport.to_json())`."""
    head, tail = document_frame(capture, warnings)
    body = b"\n" + b",\n".join(connections) + b"\n" if connections else b""
    return head + body + tail
