"""The JSON contract `tls-analyzer/1`, message level: each ladder entry as plain data.

Code points stay integers with their names beside them (`cipher_suite` + `cipher_suite_name`,
`groups` + `group_names`); nothing depends on the wall clock, so the output of a capture is
byte-for-byte stable (golden files rely on it). Strings keep their exact value; escaping is the
JSON encoder's job. The connection level is analyzer/report/connection.py.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable
from dataclasses import fields, is_dataclass
from typing import Any, Final

from analyzer import registry
from analyzer.model import DataRun, Entry, FragmentRow, RetransmissionRow
from analyzer.tls.events import Alert, Heartbeat, Message
from analyzer.tls.extensions import NOT_INTERNED, Extension
from analyzer.tls.messages import Certificate, ClientHello, ServerHello, ServerKeyExchange

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
CONNECTION_NAMED: Final = ("version", "cipher_suite", "group", "hrr_group", "versions_offered", "groups_offered",
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
        d = {"certificates": [{"length": len(e.der), "sha256": hashlib.sha256(e.der).hexdigest(),
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
    if isinstance(body, FragmentRow):
        return {"fragment": _generic(body)}
    if isinstance(body, RetransmissionRow):  # DTLS: the copy shows the fields of the message it repeats
        d = body_json(body.message)
        d["retransmission"] = {"epoch": body.epoch, "message_seq": body.message_seq, "first_frame": body.first_frame,
                               "fragment_offset": body.fragment_offset, "fragment_length": body.fragment_length}
        return d
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


def message_json(entry: Entry | DataRun, fingerprints: dict[str, str] | None = None) -> dict[str, Any]:
    """One ladder entry; `fingerprints` are a hello's (JA3/JA4, JA3S)."""
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
    if fingerprints is not None:
        d["fingerprints"] = fingerprints
    d["record_version_name"] = _name("record_version", m.record_version)
    return d


