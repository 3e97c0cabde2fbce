"""Extension decoders, one per extension type, dispatched from a single table.

An extension's meaning depends on the message carrying it (key_share is a list of shares in a
ClientHello, one share in a ServerHello, a bare group in a HelloRetryRequest), so every decoder
receives the message kind. Decoded fields use the JSON contract's names (`host_name`,
`protocols`, `versions`, `groups`, ...); code points stay integers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from analyzer import registry
from analyzer.errors import DecodeError
from analyzer.registry import quic as quic_registry
from analyzer.tls.reader import Cursor, text, varint

# message kinds an extension can appear in
CH, SH, HRR, EE, CT, CR, NST = "client_hello", "server_hello", "hello_retry_request", \
    "encrypted_extensions", "certificate", "certificate_request", "new_session_ticket"

HOST_NAME: Final = 0  # server_name NameType host_name (RFC 6066 3), the only one defined
RAW_KEEP: Final = 256  # bytes of an unknown extension kept (hex) in the output


@dataclass(slots=True, eq=False, init=False)
class Extension:
    """One extension: wire type and length, decoded fields, or why it could not be decoded.

    Treat as immutable: identical extensions are decoded once and shared (see `_INTERNED`).
    """

    type: int
    length: int
    fields: dict[str, Any] = field(default_factory=dict)
    malformed: str | None = None

    def __init__(self, type: int, length: int, fields: dict[str, Any] | None = None,  # noqa: A002
                 malformed: str | None = None) -> None:
        self.type, self.length, self.malformed = type, length, malformed
        self.fields = {} if fields is None else fields

    @property
    def name(self) -> str:
        return registry.extension_name(self.type)


def _server_name(c: Cursor, kind: str) -> dict:
    if not c.remaining:
        return {}
    names = c.block(2, "server_name_list")
    out: dict[str, Any] = {}
    others = []
    while names.remaining:
        ntype = names.u8("name_type")
        value = names.opaque(2, "host_name")
        if ntype == HOST_NAME and "host_name" not in out:
            out["host_name"] = text(value)
        else:
            others.append({"name_type": ntype, "length": len(value)})
    if others:
        out["other_names"] = others
    return out


def _u16_list(key: str, width: int = 2) -> Callable[[Cursor, str], dict]:
    def decode(c: Cursor, kind: str) -> dict:
        return {key: c.u16_list(width, key)}
    return decode


def _u8_list(key: str) -> Callable[[Cursor, str], dict]:
    def decode(c: Cursor, kind: str) -> dict:
        return {key: c.u8_list(1, key)}
    return decode


def _empty(c: Cursor, kind: str) -> dict:
    return {}


def _protocols(c: Cursor, kind: str) -> dict:
    if not c.remaining:
        return {"protocols": []}
    lst = c.block(2, "protocol_name_list")
    protocols = []
    while lst.remaining:
        protocols.append(text(lst.opaque(1, "protocol_name")))
    return {"protocols": protocols}


def _supported_versions(c: Cursor, kind: str) -> dict:
    if kind == CH:
        return {"versions": c.u16_list(1, "versions")}
    return {"selected_version": c.u16("selected_version")}


def _key_share(c: Cursor, kind: str) -> dict:
    if kind == HRR:
        return {"selected_group": c.u16("selected_group")}
    if kind == CH:
        shares = c.block(2, "client_shares")
        groups: list[int] = []
        detail = []
        while shares.remaining:
            g = shares.u16("group")
            key = shares.opaque(2, "key_exchange")
            groups.append(g)
            detail.append(_share(g, len(key), client=True))
        return {"groups": groups, "shares": detail}
    g = c.u16("group")
    key = c.opaque(2, "key_exchange")
    return {"group": g, **_share(g, len(key), client=False)}


def _share(group: int, length: int, client: bool) -> dict:
    info = registry.group(group)
    expected = None if info is None else (info.client_share_len if client else info.server_share_len)
    out: dict[str, Any] = {"group": group, "key_length": length}
    if expected is not None and not registry.is_grease(group):
        out["key_length_ok"] = expected == length
    return out


def _pre_shared_key(c: Cursor, kind: str) -> dict:
    if kind != CH:
        return {"selected_identity": c.u16("selected_identity")}
    ids = c.block(2, "identities")
    identities = []
    while ids.remaining:
        ident = ids.opaque(2, "identity")
        age = ids.u32("obfuscated_ticket_age")
        identities.append({"identity_length": len(ident), "obfuscated_ticket_age": age})
    binders = c.block(2, "binders")
    lengths = []
    while binders.remaining:
        lengths.append(len(binders.opaque(1, "binder")))
    return {"identities": identities, "binder_lengths": lengths}


def _early_data(c: Cursor, kind: str) -> dict:
    if kind == NST:
        return {"max_early_data_size": c.u32("max_early_data_size")}
    return {}


def _status_request(c: Cursor, kind: str) -> dict:
    if not c.remaining:
        return {}
    status_type = c.u8("status_type")
    if kind == CT:
        return {"status_type": status_type, "response_length": len(c.opaque(3, "response"))}
    responders = c.block(2, "responder_id_list")
    ext = c.opaque(2, "request_extensions")
    count = 0
    while responders.remaining:
        responders.opaque(2, "responder_id")
        count += 1
    return {"status_type": status_type, "responder_ids": count, "request_extensions_length": len(ext)}


def _u8_value(key: str) -> Callable[[Cursor, str], dict]:
    def decode(c: Cursor, kind: str) -> dict:
        return {key: c.u8(key)}
    return decode


def _u16_value(key: str) -> Callable[[Cursor, str], dict]:
    def decode(c: Cursor, kind: str) -> dict:
        return {key: c.u16(key)}
    return decode


def _length_of(key: str, width: int) -> Callable[[Cursor, str], dict]:
    def decode(c: Cursor, kind: str) -> dict:
        return {key: len(c.opaque(width, key))}
    return decode


def _opaque_length(key: str) -> Callable[[Cursor, str], dict]:
    def decode(c: Cursor, kind: str) -> dict:
        return {key: len(c.rest())}
    return decode


def _padding(c: Cursor, kind: str) -> dict:
    body = c.rest()
    return {"padding_length": len(body), "all_zero": not any(body)}


def _renegotiation_info(c: Cursor, kind: str) -> dict:
    return {"renegotiated_connection_length": len(c.opaque(1, "renegotiated_connection"))}


def _ech(c: Cursor, kind: str) -> dict:
    if kind != CH:
        return {"length": c.remaining, "retry_configs": kind == EE}
    ech_type = c.u8("ech_type")
    if ech_type != 0:
        return {"ech_type": ech_type}
    kdf, aead, config_id = c.u16("kdf_id"), c.u16("aead_id"), c.u8("config_id")
    enc = c.opaque(2, "enc")
    payload = c.opaque(2, "payload")
    return {"ech_type": 0, "kdf_id": kdf, "aead_id": aead, "config_id": config_id,
            "enc_length": len(enc), "payload_length": len(payload)}


def _esni(c: Cursor, kind: str) -> dict:
    """draft-ietf-tls-esni-01..03 encrypted_server_name (the ancestor of ECH) in a ClientHello."""
    if kind != CH:
        return {"length": c.remaining}
    suite, group = c.u16("cipher_suite"), c.u16("group")
    key = c.skip_opaque(2, "key_exchange")
    digest = c.skip_opaque(2, "record_digest")
    return {"cipher_suite": suite, "group": group, "key_length": key, "record_digest_length": digest,
            "encrypted_sni_length": c.skip_opaque(2, "encrypted_sni")}


def _certificate_authorities(c: Cursor, kind: str) -> dict:
    lst = c.block(2, "authorities")
    n = 0
    while lst.remaining:
        lst.opaque(2, "distinguished_name")
        n += 1
    return {"authorities": n}


def _session_ticket(c: Cursor, kind: str) -> dict:
    return {"ticket_length": len(c.rest())}


def _connection_id(c: Cursor, kind: str) -> dict:
    """RFC 9146 (DTLS): the connection ID the sender wants its peer to put in records."""
    return {"cid": c.opaque(1, "cid").hex()}


# QUIC transport parameters (RFC 9000 18.2) whose value is one variable-length integer
QUIC_VARINT_PARAMETERS: Final = frozenset({0x01, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0E,
                                           0x20, 0x3127, 0xFF04DE1B, 0xFF04DE1A, 0xFF03DE1A, 0xDE1A})
QUIC_CID_PARAMETERS: Final = frozenset({0x00, 0x0F, 0x10})  # connection ids: shown as hex (not secrets)
QUIC_VERSION_INFORMATION: Final = frozenset({0x11, 0xFF73DB})


def _quic_varint(c: Cursor, what: str) -> int:
    value, c.pos = varint(c.buf, c.pos, c.end, what)
    return value


def _quic_parameter(pid: int, value: Cursor) -> dict:
    """One parameter: id, name, length, and its value where the registry says what it is."""
    out: dict[str, Any] = {"id": pid, "name": quic_registry.transport_parameter_name(pid), "length": value.remaining}
    try:
        if pid in QUIC_VARINT_PARAMETERS and value.remaining:
            out["value"] = _quic_varint(value, out["name"])
        elif pid in QUIC_CID_PARAMETERS:
            out["hex"] = value.rest().hex()
        elif pid in QUIC_VERSION_INFORMATION and value.remaining >= 4 and value.remaining % 4 == 0:
            out["chosen_version"] = value.u32("chosen_version")
            out["available_versions"] = [value.u32("available_version") for _ in range(value.remaining // 4)]
        else:
            value.rest()  # opaque (tokens, addresses, GREASE): the length says enough
        if value.remaining:
            out["malformed"] = f"{value.remaining} trailing bytes"
    except DecodeError as exc:
        out["malformed"] = exc.reason
    return out


def _quic_transport_parameters(c: Cursor, kind: str) -> dict:
    """quic_transport_parameters (0x39; 0xffa5 in the drafts): ids and lengths as varints; drafts
    before 27 wrote a 2-byte list length, then 2-byte ids and lengths (told by that list length)."""
    params = []
    if c.remaining >= 2 and ((c.buf[c.pos] << 8) | c.buf[c.pos + 1]) == c.remaining - 2:
        lst = c.block(2, "transport_parameters")
        while lst.remaining:
            pid = lst.u16("parameter id")
            params.append(_quic_parameter(pid, lst.block(2, "parameter value")))
        return {"parameters": params, "encoding": "draft"}
    while c.remaining:
        pid = _quic_varint(c, "parameter id")
        n = _quic_varint(c, "parameter length")
        if n > c.remaining:
            raise DecodeError(f"transport parameter 0x{pid:x}: length {n}, {c.remaining} bytes left", c.pos)
        params.append(_quic_parameter(pid, Cursor(c.buf, c.pos, c.pos + n)))
        c.pos += n
    return {"parameters": params}


DECODERS: Final[dict[int, Callable[[Cursor, str], dict]]] = {
    0: _server_name,
    1: _u8_value("max_fragment_length"),
    4: _empty,  # truncated_hmac
    5: _status_request,
    10: _u16_list("groups"),
    11: _u8_list("formats"),
    13: _u16_list("schemes"),
    15: _u8_value("mode"),  # heartbeat
    16: _protocols,
    17: _status_request,  # status_request_v2 (first fields alike)
    18: _opaque_length("sct_length"),
    21: _padding,
    22: _empty,  # encrypt_then_mac
    23: _empty,  # extended_master_secret
    27: _u16_list("algorithms", 1),  # compress_certificate
    28: _u16_value("record_size_limit"),
    35: _session_ticket,
    40: _key_share,  # key_share in TLS 1.3 drafts up to 22
    41: _pre_shared_key,
    42: _early_data,
    43: _supported_versions,
    44: _length_of("cookie_length", 2),
    45: _u8_list("modes"),
    47: _certificate_authorities,
    49: _empty,  # post_handshake_auth
    50: _u16_list("schemes"),
    51: _key_share,
    53: _connection_id,  # connection_id, draft code point
    54: _connection_id,
    0x39: _quic_transport_parameters,
    17513: _protocols,  # application_settings (ALPS), old code point
    17613: _protocols,  # application_settings (ALPS)
    0xFE0D: _ech,
    0xFFCE: _esni,
    0xFF01: _renegotiation_info,
    0xFFA5: _quic_transport_parameters,  # the QUIC drafts' code point
}


def decode_extensions(c: Cursor, kind: str, out: list[Extension] | None = None) -> list[Extension]:
    """Decode an extensions block (its 2-byte length already consumed into `c`).

    Extensions are appended to `out` as they are read, so when a length overruns the block the
    caller still holds every extension before the fault (the DecodeError says where).
    """
    out = [] if out is None else out
    interned = _INTERNED
    while c.remaining:
        etype = c.u16("extension_type")
        body = c.block(2, "extension_data")
        key = None
        if etype not in NOT_INTERNED:
            key = (etype, kind, bytes(body.buf[body.pos:body.end]))
            ext = interned.get(key)
            if ext is not None:
                out.append(ext)
                continue
        ext = Extension(etype, body.remaining)
        decoder = DECODERS.get(etype)
        if decoder is None:
            if registry.is_grease(etype):
                ext.fields = {"grease": True}
            elif ext.length:
                ext.fields = {"data": bytes(body.buf[body.pos:body.pos + min(ext.length, RAW_KEEP)]).hex()}
        else:
            try:
                ext.fields = decoder(body, kind)
                if body.remaining and etype not in (0xFE0D,):
                    ext.malformed = f"{body.remaining} trailing bytes"
            except DecodeError as exc:
                ext.malformed = exc.reason
        if key is not None:
            if len(interned) >= INTERN_MAX:
                interned.clear()
            interned[key] = ext
        out.append(ext)
    return out


# Clients repeat byte-identical extensions (groups, signature algorithms, ALPN, SNI) across
# connections: each distinct one is decoded once and shared. Per-connection values (key shares,
# PSK identities and binders, tickets, ECH payloads, cookies, DTLS connection ids, QUIC transport
# parameters with their connection ids) would only churn the table.
NOT_INTERNED: Final = frozenset({35, 40, 41, 44, 51, 53, 54, 0xFE0D, 0x39, 0xFFA5})
INTERN_MAX: Final = 4096
_INTERNED: dict[tuple[int, str, bytes], Extension] = {}
