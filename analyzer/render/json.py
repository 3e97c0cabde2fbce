"""The JSON contract `tls-analyzer/1`: connections and their messages as plain data.

Code points stay integers with their names beside them (`cipher_suite` + `cipher_suite_name`,
`groups` + `group_names`). Keys are sorted and nothing depends on the wall clock, so the output
of a capture is byte-for-byte stable (golden files rely on it). Strings keep their exact value;
escaping is the JSON encoder's job.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import fields, is_dataclass
from typing import Any, Final

import orjson

from analyzer import registry
from analyzer.analysis.certinfo import parse_certificate
from analyzer.model import Connection, DataRun, Entry, GapInfo
from analyzer.tls.events import Alert, Heartbeat, Message
from analyzer.tls.extensions import NOT_INTERNED, Extension
from analyzer.tls.messages import Certificate, ClientHello, ServerHello, ServerKeyExchange

SCHEMA: Final = "tls-analyzer/1"

NAMERS: Final[dict[str, Callable[[int], str]]] = {
    "cipher_suites": registry.cipher_suite_name,
    "cipher_suite": registry.cipher_suite_name,
    "groups": registry.group_name,
    "group": registry.group_name,
    "selected_group": registry.group_name,
    "named_curve": registry.group_name,
    "hrr_group": registry.group_name,
    "key_share_groups": registry.group_name,
    "groups_offered": registry.group_name,
    "schemes": registry.signature_scheme_name,
    "signature_scheme": registry.signature_scheme_name,
    "versions": registry.version_name,
    "versions_offered": registry.version_name,
    "selected_version": registry.version_name,
    "legacy_version": registry.version_name,
    "record_version": registry.version_name,
    "version": registry.version_name,
    "formats": registry.ec_point_format_name,
    "modes": registry.psk_key_exchange_mode_name,
    "algorithms": registry.certificate_compression_name,
    "algorithm": registry.certificate_compression_name,
    "compression_methods": registry.compression_method_name,
    "compression_method": registry.compression_method_name,
    "level": registry.alert_level_name,
    "description": registry.alert_description_name,
}


# The memos of this module stay plain dicts emptied when full, not analyzer.cache.LruCache: they are
# consulted for every code point and extension rendered, where a lock and a reordering per hit cost
# several percent of a run. Each is keyed by content (codes, tuples of codes) or by the interned
# Extension itself, which the dict then keeps alive (so no other object can take its place).
_NAMES: Final[dict[str, dict[int, str]]] = {k: {} for k in NAMERS}  # code -> name as met: a capture repeats a few


def _name(key: str, code: int) -> str:
    memo = _NAMES[key]
    name = memo.get(code)
    if name is None:
        if len(memo) >= 4096:
            memo.clear()
        name = memo[code] = NAMERS[key](code)
    return name


def _name_key(key: str, plural: bool) -> str:
    if not plural:
        return key + "_name"
    return (key[:-1] if key.endswith("s") else key) + "_names"


def with_names(d: dict[str, Any], keys: Iterable[str] | None = None) -> dict[str, Any]:
    """Add `<key>_name(s)` beside every code point the registry can name (among `keys`, if given)."""
    for key in (keys if keys is not None else [k for k in d if k in NAMERS]):
        value = d.get(key)
        if isinstance(value, int) and not isinstance(value, bool):  # (isinstance: compiled, a type check)
            d[_NAME_KEYS[key]] = _name(key, value)
        elif isinstance(value, list):
            names = _list_names(key, value)
            if names is not None:
                d[_PLURAL_KEYS[key]] = names
    return d


_LIST_NAMES: Final[dict[tuple[str, tuple[int, ...]], list[str]]] = {}  # peers repeat the same few lists


def _list_names(key: str, value: list) -> list[str] | None:
    """Names of a list of code points (None if it holds anything else), a fresh list each time."""
    memo = (key, tuple(value))
    names = _LIST_NAMES.get(memo)
    if names is None:
        if not all(v.__class__ is int for v in value):
            return None
        if len(_LIST_NAMES) >= 4096:
            _LIST_NAMES.clear()
        names = _LIST_NAMES[memo] = [_name(key, v) for v in value]
    return list(names)


_NAME_KEYS: Final = {k: _name_key(k, False) for k in NAMERS}
_PLURAL_KEYS: Final = {k: _name_key(k, True) for k in NAMERS}
_HELLO_NAMED: Final = ("legacy_version", "cipher_suites", "cipher_suite", "compression_methods", "compression_method")
_CONNECTION_NAMED: Final = ("version", "cipher_suite", "group", "hrr_group", "versions_offered", "groups_offered",
                     "key_share_groups")


_EXTENSION_JSON: Final[dict[Extension, dict[str, Any]]] = {}  # shared (interned) extensions render once


def extension_json(ext: Extension) -> dict[str, Any]:
    if ext.type in NOT_INTERNED:
        return _extension_json(ext)
    d = _EXTENSION_JSON.get(ext)
    if d is None:
        if len(_EXTENSION_JSON) >= 4096:
            _EXTENSION_JSON.clear()
        d = _EXTENSION_JSON[ext] = _extension_json(ext)
    return d


def _extension_json(ext: Extension) -> dict[str, Any]:
    d: dict[str, Any] = {"type": ext.type, "name": ext.name, "length": ext.length}
    for key, value in ext.fields.items():
        if key == "shares":
            value = [with_names(dict(s)) for s in value]
        d[key] = value
    if ext.malformed:
        d["malformed"] = ext.malformed
    return with_names(d)


def _extensions(exts: list[Extension] | None) -> list[dict[str, Any]]:
    return [extension_json(e) for e in exts or ()]


_FIELD_NAMES: Final[dict[type, tuple[str, ...]]] = {}


def _generic(body: Any) -> dict[str, Any]:
    names = _FIELD_NAMES.get(body.__class__)
    if names is None:
        names = _FIELD_NAMES[body.__class__] = tuple(f.name for f in fields(body))
    d: dict[str, Any] = {}
    for name in names:
        value = getattr(body, name)
        if isinstance(value, bytes):
            d[name + "_length"] = len(value)
        elif name == "extensions":
            d[name] = _extensions(value)
        else:
            d[name] = value
    return d


def body_json(body: Any) -> dict[str, Any]:
    """The decoded fields of a message body, merged into its message object."""
    if isinstance(body, ClientHello):
        d: dict[str, Any] = {
            "legacy_version": body.legacy_version, "random": body.random.hex(),
            "session_id": body.session_id.hex(), "cipher_suites": body.cipher_suites,
            "compression_methods": body.compression_methods, "extensions": _extensions(body.extensions),
        }
        if body.sslv2:
            d["sslv2"] = True
            d["cipher_suite_names"] = [registry.sslv2_cipher_name(c) for c in body.cipher_suites]
            del d["cipher_suites"]
            d["cipher_specs"] = body.cipher_suites
            return with_names(d, _HELLO_NAMED)
        return with_names(d, _HELLO_NAMED)
    if isinstance(body, ServerHello):
        return with_names({
            "legacy_version": body.legacy_version, "random": body.random.hex(),
            "session_id": body.session_id.hex(), "cipher_suite": body.cipher_suite,
            "compression_method": body.compression_method, "extensions": _extensions(body.extensions),
            "hello_retry_request": body.hello_retry_request, "downgrade_sentinel": body.downgrade_sentinel,
        }, _HELLO_NAMED)
    if isinstance(body, Certificate):
        d = {"certificates": [{"length": len(e.der), "sha256": parse_certificate(e.der).sha256,
                               "extensions": _extensions(e.extensions)} for e in body.entries]}
        if body.request_context is not None:
            d["request_context"] = body.request_context.hex()
        return d
    if isinstance(body, ServerKeyExchange):
        d = _generic(body)
        d.pop("dh_p_length", None)
        d.pop("dh_g_length", None)
        d["dh_bits"] = body.dh_bits
        if body.dh_g is not None:
            d["dh_g"] = int.from_bytes(body.dh_g[:8], "big")
        return with_names(d)
    if isinstance(body, Alert):
        return with_names({"level": body.level, "description": body.description})
    if isinstance(body, Heartbeat):
        return {"heartbeat_type": body.heartbeat_type, "payload_length": body.payload_length,
                "overclaimed": body.overclaimed}
    if body is not None and is_dataclass(body):
        return with_names(_generic(body))
    return {}


_UNSURE: Final = 0.3  # how far from a whole microsecond the product may stray before round() decides


def micro_round(ts: float) -> float:
    """`round(ts, 6)` without its decimal conversion (about 1 us a call) in the usual case.

    round() rounds the exact value of ts * 10**6 to an integer k and returns the double nearest
    k / 10**6, which k / 1e6 is (both exact below 2**51, the division correctly rounded). The
    product y is off by at most half its ulp, 1/8 below 2**51: when y sits clearly away from a
    half (capture timestamps sit within a fraction of a microsecond of a whole one), k is y's
    nearest integer. Anything else, far future, negative or not finite, goes to round()."""
    y = ts * 1e6
    if 0.0 < y < 2251799813685248.0:  # 2**51
        k = math.floor(y)
        f = y - k
        if f < _UNSURE:
            return k / 1e6
        if f > 1.0 - _UNSURE:
            return (k + 1) / 1e6
    return round(ts, 6)


def message_json(entry: Entry | DataRun, fingerprints: dict[int, dict[str, str]] | None = None) -> dict[str, Any]:
    if isinstance(entry, DataRun):
        return {
            "frame": entry.frame, "last_frame": entry.last_frame, "ts": micro_round(entry.ts),
            "from": entry.side, "content_type": entry.content_type, "record_version": entry.record_version,
            "type": None, "name": entry.name, "encrypted": not entry.decrypted, "decrypted": entry.decrypted,
            "length": entry.length, "records": entry.records, "role": entry.role,
            "record_version_name": _name("record_version", entry.record_version),
        }
    m: Message = entry.msg
    d: dict[str, Any] = {
        "frame": m.frame, "ts": micro_round(m.ts), "from": entry.side, "content_type": m.content_type,
        "record_version": m.record_version, "type": m.type, "name": m.name, "encrypted": m.encrypted,
        "decrypted": m.decrypted, "length": m.length,
    }
    if m.malformed:
        d["malformed"] = m.malformed
    if m.body is not None:
        d.update(body_json(m.body))
    if fingerprints and id(m) in fingerprints:
        d["fingerprints"] = fingerprints[id(m)]
    d["record_version_name"] = _name("record_version", m.record_version)
    return d


def _endpoint(e: Any) -> dict[str, Any]:
    return {"ip": e.ip, "port": e.port}


def _cert_refs(chain: list[bytes]) -> list[dict[str, Any]]:
    return [{"length": len(der), "sha256": parse_certificate(der).sha256} for der in chain]


def connection_json(conn: Connection) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": conn.id, "transport": conn.transport, "client": _endpoint(conn.client),
        "server": _endpoint(conn.server), "roles_from": conn.role_source,
        "first_frame": conn.first_frame, "last_frame": conn.last_frame, "packets": conn.packets,
        "bytes": {"client": conn.bytes_client, "server": conn.bytes_server},
        "end": conn.end_reason or None,
        "gaps": [{"from": g.side, "offset": g.offset, "length": g.length, "frame": g.frame} for g in conn.gaps],
        "tls": conn.tls, "warnings": list(conn.warnings),
    }
    if not conn.tls:
        return d
    d.update({
        "tls_start": conn.tls_offset,
        "version": conn.version, "cipher_suite": conn.cipher_suite, "sni": conn.sni, "alpn": conn.alpn,
        "alpn_offered": conn.alpn_offered, "versions_offered": conn.versions_offered,
        "groups_offered": conn.groups_offered, "key_share_groups": conn.key_share_groups,
        "group": conn.group, "hello_retry_request": conn.hello_retry_request, "hrr_group": conn.hrr_group,
        "resumption_offered": conn.resumption_offered, "resumed": conn.resumed,
        "early_data_offered": conn.early_data_offered, "early_data_accepted": conn.early_data_accepted,
        "certificates": _cert_refs(conn.certificates),
        "client_certificates": _cert_refs(conn.client_certificates),
        "alerts": [with_names({"from": a.side, "frame": a.frame, "level": a.level,
                               "description": a.description}) for a in conn.alerts],
        "downgrade_sentinel": conn.downgrade_sentinel, "fallback_scsv": conn.fallback_scsv,
        "renegotiation": conn.renegotiation, "complete": conn.complete, "history": conn.history,
        "messages": [message_json(e, conn.message_fingerprints) for e in conn.entries if not isinstance(e, GapInfo)],
        "fingerprints": conn.fingerprints,
        "findings": [f.to_json() for f in conn.findings],
    })
    d.update(conn.extra)
    return with_names(d, _CONNECTION_NAMED)


def document(capture: dict[str, Any], conns: Iterable[Connection], warnings: list[str]) -> dict[str, Any]:
    return {"schema": SCHEMA, "capture": capture, "connections": [connection_json(c) for c in conns],
            "warnings": warnings}


def dumps(obj: Any, pretty: bool = False) -> bytes:
    opts = orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2 if pretty else orjson.OPT_SORT_KEYS
    try:
        return orjson.dumps(obj, option=opts)
    except TypeError:  # a key that is not a string: the option that allows it costs a third more
        return orjson.dumps(obj, option=opts | orjson.OPT_NON_STR_KEYS)


def connection_bytes(conn: Connection) -> bytes:
    """One connection as compact JSON: rendered as soon as it ends, so only bytes are kept."""
    return dumps(connection_json(conn))


def document_frame(capture: dict[str, Any], warnings: list[str]) -> tuple[bytes, bytes]:
    """What comes before and after the connections (keys sorted: capture, connections, schema, warnings)."""
    return (b'{"capture":' + dumps(capture) + b',"connections":[',
            b'],"schema":' + dumps(SCHEMA) + b',"warnings":' + dumps(warnings) + b"}\n")


def document_bytes(capture: dict[str, Any], connections: list[bytes], warnings: list[str]) -> bytes:
    """The whole document, one connection per line: the same JSON as `dumps(document(...))`,
    laid out so it streams, greps and diffs by connection. Keys stay sorted."""
    head, tail = document_frame(capture, warnings)
    body = b"\n" + b",\n".join(connections) + b"\n" if connections else b""
    return head + body + tail
