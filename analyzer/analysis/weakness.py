"""Protocol, suite, key-exchange, extension and behaviour rules: pure functions over facts.

Judgement only: every rule reads `Connection` facts and the registry's structured properties
(never a regex on a suite's name); severities are the `default` (RFC 9325) ones, which a policy
may change (analyzer/analysis/policy.py). Certificate rules live in certificates.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from analyzer import registry
from analyzer.analysis.case import Case
from analyzer.analysis.findings import Hit, Rule
from analyzer.analysis.retry import explain_retry
from analyzer.cache import LruCache
from analyzer.model import Connection, Entry
from analyzer.registry.codes import (
    CT_HEARTBEAT,
    EXT_EXTENDED_MASTER_SECRET,
    EXT_HEARTBEAT,
    EXT_KEY_SHARE,
    EXT_PRE_SHARED_KEY,
    EXT_PSK_KEY_EXCHANGE_MODES,
    EXT_RENEGOTIATION_INFO,
    EXT_TRUNCATED_HMAC,
    TLS12,
)
from analyzer.tls.events import Heartbeat, Message
from analyzer.tls.messages import EXPLICIT_CURVES

RFC9325: Final = "RFC 9325"


# --- facts the rules share -----------------------------------------------------------------------

def _hello_frame(conn: Connection, server: bool = False) -> int | None:
    if server:
        sh = conn.server_hello
        return sh.frame if sh is not None else conn.sslv2_server_hello_frame
    return conn.client_hellos[0].frame if conn.client_hellos else None


# offered suites (wire order) -> (their facts, SCSVs and unknown codes left out; {test: matching names})
Offered = tuple[tuple[registry.SuiteInfo, ...], dict[Any, list[str]]]
_OFFERED: Final = LruCache[Offered](1024)  # clients repeat the same few lists


def _offered(conn: Connection, case: Case) -> Offered | None:
    """What the suite rules need of the first ClientHello's suites (they ask in turn: kept in the case)."""
    if "offered" in case.memo:
        found: Offered | None = case.memo["offered"]
        return found
    entry = None
    if conn.client_hellos and not conn.client_hellos[0].body.sslv2:
        key = tuple(conn.client_hellos[0].body.cipher_suites)
        entry = _OFFERED.get(key)
        if entry is None:
            infos = (registry.cipher_suite(s) for s in key)
            entry = _OFFERED.put(key, (tuple(i for i in infos if i is not None and not i.scsv), {}))
    case.memo["offered"] = entry
    return entry


def _offered_matching(conn: Connection, case: Case, test: Callable[[registry.SuiteInfo], bool]) -> list[str]:
    entry = _offered(conn, case)
    if entry is None:
        return []
    infos, matches = entry
    names = matches.get(test)
    if names is None:
        names = matches[test] = [i.name for i in infos if test(i)]
    return list(names)


def _suite_rule(test: Callable[[registry.SuiteInfo], bool], what: str):  # noqa: ANN202
    """The negotiated suite matching `test`, else the offered ones: one finding either way (what
    was used says more than what was offered beside it)."""
    def check(conn: Connection, case: Case) -> list[Hit]:
        chosen = registry.cipher_suite(conn.cipher_suite) if conn.cipher_suite is not None else None
        if chosen is not None and test(chosen):
            return [(f"{what} negotiated", "negotiated", _hello_frame(conn, server=True), {"cipher_suite": chosen.name})]
        names = _offered_matching(conn, case, test)
        if names:
            return [(f"{what} offered", "offered", _hello_frame(conn), {"cipher_suites": names})]
        return []
    return check


_MODERN_KX: Final = frozenset({"TLS13", "ECDHE", "DHE", "ECDHE_PSK", "DHE_PSK"})


def _modern_suite(s: registry.SuiteInfo) -> bool:
    """Forward secret and authenticated encryption: any TLS 1.3 suite, (EC)DHE with an AEAD."""
    return s.mac == "AEAD" and s.kx in _MODERN_KX and s.auth != "anon"


def offers_modern(conn: Connection, case: Case) -> bool:
    """Does the first ClientHello offer TLS 1.2 or newer and a forward-secret AEAD suite? Then
    legacy options offered beside them are a fallback the server need not take."""
    if not any(v == TLS12 or registry.is_tls13(v) for v in conn.versions_offered):
        return False
    return bool(_offered_matching(conn, case, _modern_suite))


def _beast(conn: Connection, case: Case) -> list[Hit]:
    info = registry.cipher_suite(conn.cipher_suite) if conn.cipher_suite is not None else None
    if info is not None and info.mode == "CBC" and conn.version in (0x0300, 0x0301):
        return [(f"CBC suite on {registry.version_name(conn.version)}: IVs are chained, predictable (BEAST)",
                 "negotiated", _hello_frame(conn, True), {"cipher_suite": info.name,
                                                          "version": registry.version_name(conn.version)})]
    return []


def _version_rule(versions: set[int], what: str):  # noqa: ANN202
    def check(conn: Connection, case: Case) -> list[Hit]:
        if conn.version in versions:
            return [(f"{what} negotiated", "negotiated", _hello_frame(conn, True),
                     {"version": registry.version_name(conn.version)})]
        offered = [v for v in conn.versions_offered if v in versions]
        if offered:
            return [(f"{what} offered", "offered", _hello_frame(conn),
                     {"versions": [registry.version_name(v) for v in offered]})]
        return []
    return check


def _no_tls13(conn: Connection, case: Case) -> list[Hit]:
    if conn.client_hellos and not any(registry.is_tls13(v) for v in conn.versions_offered):
        return [("TLS 1.3 not offered", "offered", _hello_frame(conn),
                 {"versions": [registry.version_name(v) for v in conn.versions_offered]})]
    if conn.version is not None and not conn.tls13 and conn.server_hellos:
        return [("TLS 1.3 not negotiated", "negotiated", _hello_frame(conn, True),
                 {"version": registry.version_name(conn.version)})]
    return []


def _weak_dh(conn: Connection, case: Case) -> list[Hit]:
    ske = conn.server_key_exchange
    if ske is None or ske.dh_p is None:
        return []
    bits = ske.dh_bits or 0
    known = registry.well_known_dh_prime(int.from_bytes(ske.dh_p, "big"))
    if bits < case.policy.min_dh_bits:
        return [(f"DHE group of {bits} bits", "negotiated", None, {"dh_bits": bits, "well_known": known})]
    if known and "rfc7919" not in known.lower():
        return [("DHE prime is a widely shared one", "negotiated", None, {"dh_bits": bits, "well_known": known})]
    return []


def _small_curve(conn: Connection, case: Case) -> list[Hit]:
    group = registry.group(conn.group) if conn.group is not None else None
    # sizes compared in whole bytes: x25519's 255-bit field counts as the 256-bit curve it is used as
    if group is not None and group.kind == "ec" and (group.bits + 7) // 8 * 8 < case.policy.min_ec_bits:
        return [(f"ECDHE over {group.name} ({group.bits} bits)", "negotiated", _hello_frame(conn, True),
                 {"group": group.name, "bits": group.bits})]
    return []


def _explicit_curve(conn: Connection, case: Case) -> list[Hit]:
    ske = conn.server_key_exchange
    if ske is not None and ske.curve_type in EXPLICIT_CURVES:
        return [("explicit elliptic-curve parameters", "negotiated", None, {"curve_type": ske.curve_type})]
    return []


def _weak_signature(conn: Connection, case: Case) -> list[Hit]:
    ske = conn.server_key_exchange
    if ske is None or not ske.signature_length:
        return []
    if ske.signature_scheme is None and conn.version is not None and conn.version < 0x0303:
        # before TLS 1.2 the hash is fixed: MD5+SHA-1 for RSA, SHA-1 for DSA and ECDSA (RFC 4346 7.4.3)
        return [("ServerKeyExchange signed over MD5+SHA-1 / SHA-1 (fixed before TLS 1.2)", "negotiated", None,
                 {"version": registry.version_name(conn.version)})]
    scheme = registry.signature_scheme(ske.signature_scheme) if ske.signature_scheme is not None else None
    if scheme is not None and (scheme.hash in ("MD5", "SHA1") or scheme.sig == "DSA"):
        return [(f"ServerKeyExchange signed with {scheme.name}", "negotiated", None, {"scheme": scheme.name})]
    return []


def _no_pq(conn: Connection, case: Case) -> list[Hit]:
    if conn.client_hellos and conn.tls13 and not any((g := registry.group(x)) is not None and g.pq
                                                     for x in conn.groups_offered + conn.key_share_groups):
        return [("no post-quantum hybrid group offered", "offered", _hello_frame(conn), {})]
    return []


def _compression(conn: Connection, case: Case) -> list[Hit]:
    sh = conn.server_hello
    if sh is not None and sh.body.compression_method != 0:
        return [("TLS compression negotiated (CRIME)", "negotiated", sh.frame, {"method": sh.body.compression_method})]
    return []


def _heartbeat(conn: Connection, case: Case) -> list[Hit]:
    for e in conn.entries:
        if not isinstance(e, Entry):
            continue
        m: Message = e.msg
        if m.content_type == CT_HEARTBEAT and isinstance(m.body, Heartbeat) and m.body.overclaimed:
            return [("heartbeat claims more payload than its record holds (Heartbleed)", "behaviour", m.frame,
                     {"claimed": m.body.payload_length, "record": m.body.record_length, "from": e.side})]
    sh = conn.server_hello
    if sh is not None and sh.body.ext(EXT_HEARTBEAT) is not None:
        return [("heartbeat extension negotiated", "negotiated", sh.frame, {})]
    if conn.client_hellos and conn.client_hellos[0].body.ext(EXT_HEARTBEAT) is not None:
        return [("heartbeat extension offered", "offered", _hello_frame(conn), {})]
    return []


def _secure_renegotiation(conn: Connection, case: Case) -> list[Hit]:
    if not conn.client_hellos or conn.tls13 or conn.client_hellos[0].body.sslv2:
        return []
    ch = conn.client_hellos[0].body
    if ch.ext(EXT_RENEGOTIATION_INFO) is None and 0x00FF not in ch.cipher_suites:
        # RFC 5746 3.6: a server must not answer a client that did not signal, so it says nothing of the server
        return [("client does not signal secure renegotiation", "offered", _hello_frame(conn), {})]
    sh = conn.server_hello
    if sh is not None and sh.body.ext(EXT_RENEGOTIATION_INFO) is None:
        return [("server does not support secure renegotiation", "negotiated", sh.frame, {})]
    return []


def _ems(conn: Connection, case: Case) -> list[Hit]:
    sh = conn.server_hello
    if conn.version in (0x0301, 0x0302, 0x0303) and sh is not None and sh.body.ext(EXT_EXTENDED_MASTER_SECRET) is None:  # RFC 7627: TLS 1.0-1.2
        return [(f"extended_master_secret not negotiated on {registry.version_name(conn.version)}", "negotiated",
                 sh.frame, {"version": registry.version_name(conn.version)})]
    return []


def _truncated_hmac(conn: Connection, case: Case) -> list[Hit]:
    sh = conn.server_hello
    if sh is not None and sh.body.ext(EXT_TRUNCATED_HMAC) is not None:
        return [("truncated_hmac negotiated", "negotiated", sh.frame, {})]
    return []


def _downgrade(conn: Connection, case: Case) -> list[Hit]:
    # A TLS 1.3-capable server marks every older handshake; it is a downgrade only when the
    # client offered TLS 1.3 (so something between them removed it, or the server lied).
    if conn.downgrade_sentinel and any(v == 0x0304 for v in conn.versions_offered):
        return [(f"TLS 1.3 downgrade sentinel ({conn.downgrade_sentinel}) in ServerHello.random", "behaviour",
                 _hello_frame(conn, True), {"sentinel": conn.downgrade_sentinel})]
    return []


def _fallback(conn: Connection, case: Case) -> list[Hit]:
    if conn.fallback_scsv:
        refused = any(a.description == 86 for a in conn.alerts)
        return [("TLS_FALLBACK_SCSV: client retried with a lower version"
                 + (", server refused (inappropriate_fallback)" if refused else ""), "behaviour", _hello_frame(conn),
                 {"inappropriate_fallback": refused})]
    return []


def _hrr_changed(conn: Connection, case: Case) -> list[Hit]:
    retry = explain_retry(conn)
    if retry is None or not retry.unexpected:
        return []
    return [("second ClientHello changed beyond the retry: " + "; ".join(retry.unexpected), "behaviour",
             retry.frame, {"unexpected": retry.unexpected})]


def _fatal_alerts(conn: Connection, case: Case) -> list[Hit]:
    return [(f"fatal alert {registry.alert_description_name(a.description)} from {a.side}", "behaviour", a.frame,
             {"description": registry.alert_description_name(a.description), "from": a.side})
            for a in conn.alerts if a.level == 2 and a.description is not None]


def _psk_ke(conn: Connection, case: Case) -> list[Hit]:
    sh = conn.server_hello
    if conn.tls13 and sh is not None and sh.body.ext(EXT_PRE_SHARED_KEY) is not None and sh.body.ext(EXT_KEY_SHARE) is None:
        return [("PSK resumption without (EC)DHE negotiated: no forward secrecy", "negotiated", sh.frame,
                 {"key_share": False})]
    ext = conn.client_hellos[0].body.ext(EXT_PSK_KEY_EXCHANGE_MODES) if conn.client_hellos else None
    modes = ext.fields.get("modes", []) if ext is not None else []
    if modes and 1 not in modes:
        return [("PSK resumption without (EC)DHE (psk_ke only): no forward secrecy", "offered", _hello_frame(conn),
                 {"modes": modes})]
    return []


def _zero_rtt(conn: Connection, case: Case) -> list[Hit]:
    if conn.early_data_accepted:
        return [("0-RTT data accepted: replayable", "negotiated", None, {})]
    return []


def _renegotiation(conn: Connection, case: Case) -> list[Hit]:
    if conn.renegotiation:
        return [("renegotiation inside the connection", "behaviour", None, {})]
    return []


RULES: Final[tuple[Rule, ...]] = (
    Rule("PROTO-SSLV2", "critical", "RFC 6176", "SSL 2.0 is broken and prohibited.", _version_rule({0x0002}, "SSLv2")),
    Rule("PROTO-SSLV3", "critical", "RFC 7568", "SSL 3.0 is broken (POODLE) and prohibited.", _version_rule({0x0300}, "SSLv3")),
    Rule("PROTO-TLS10-11", "high", "RFC 8996", "TLS 1.0 and 1.1 are deprecated.", _version_rule({0x0301, 0x0302}, "TLS 1.0/1.1"),
         legacy=True),
    Rule("PROTO-NO-TLS13", "info", RFC9325 + " 3.1.1", "TLS 1.3 should be offered and preferred.", _no_tls13),
    Rule("SUITE-NULL", "critical", RFC9325 + " 4.1", "NULL encryption sends data in the clear.",
         _suite_rule(lambda s: s.cipher == "NULL", "NULL cipher")),
    Rule("SUITE-EXPORT", "critical", RFC9325 + " 4.1", "Export-grade suites are trivially breakable (FREAK, Logjam).",
         _suite_rule(lambda s: s.export, "export-grade suite")),
    Rule("SUITE-ANON", "critical", RFC9325 + " 4.1", "Anonymous key exchange has no server authentication.",
         _suite_rule(lambda s: s.auth == "anon", "anonymous suite")),
    Rule("SUITE-RC4", "high", "RFC 7465", "RC4 is prohibited.", _suite_rule(lambda s: s.cipher == "RC4", "RC4")),
    Rule("SUITE-DES", "high", RFC9325 + " 4.1", "Single DES and IDEA have 56/64-bit blocks or keys.",
         _suite_rule(lambda s: s.cipher in ("DES", "IDEA", "RC2"), "DES/IDEA/RC2")),
    Rule("SUITE-3DES", "medium", "SWEET32, " + RFC9325 + " 4.1", "3DES's 64-bit block allows birthday attacks.",
         _suite_rule(lambda s: s.cipher == "3DES", "3DES"), legacy=True),
    Rule("SUITE-CBC-BEAST", "medium", "BEAST (CVE-2011-3389), RFC 8996",
         "CBC with a predictable IV: CBC suites negotiated on SSLv3 or TLS 1.0.", _beast),
    Rule("SUITE-CBC", "low", RFC9325 + " 4.2", "CBC with MAC-then-encrypt invites padding oracles; prefer AEAD.",
         _suite_rule(lambda s: s.mode == "CBC", "CBC-mode suite"), legacy=True),
    Rule("SUITE-STATIC-RSA", "medium", RFC9325 + " 4.1", "Static RSA key transport has no forward secrecy.",
         _suite_rule(lambda s: s.kx == "RSA", "static RSA key exchange"), legacy=True),
    Rule("SUITE-WEAK-MAC", "low", RFC9325 + " 4.2", "MD5 and SHA-1 HMACs are legacy (AEAD suites have none).",
         _suite_rule(lambda s: s.mac in ("MD5", "SHA"), "MD5/SHA-1 MAC"), legacy=True),
    Rule("KX-DH-WEAK", "high", "Logjam, " + RFC9325 + " 4.3", "DHE groups under the policy's minimum (2048 bits by default) or widely shared primes.", _weak_dh),
    Rule("KX-SMALL-CURVE", "medium", RFC9325 + " 4.3",
         "Elliptic curves under the policy's minimum (256 bits by default).", _small_curve),
    Rule("KX-EXPLICIT-CURVE", "medium", "RFC 8422 5.1.1", "Explicit curve parameters are deprecated and risky.", _explicit_curve),
    Rule("KX-WEAK-SIGNATURE", "medium", RFC9325 + " 4.2",
         "MD5/SHA-1 or DSA signatures on the key exchange (always so before TLS 1.2).", _weak_signature),
    Rule("KX-NO-PQ", "info", "draft-ietf-tls-ecdhe-mlkem", "No post-quantum hybrid group (e.g. X25519MLKEM768) offered.", _no_pq),
    Rule("EXT-COMPRESSION", "high", "CRIME, " + RFC9325 + " 3.3", "TLS-level compression leaks secrets.", _compression),
    Rule("EXT-HEARTBEAT", "medium", "Heartbleed, RFC 6520", "Heartbeats; an overclaimed one is Heartbleed-shaped.", _heartbeat),
    Rule("EXT-NO-SECURE-RENEG", "medium", "RFC 5746", "Without renegotiation_info, renegotiation can be spliced.", _secure_renegotiation),
    Rule("EXT-NO-EMS", "low", "RFC 7627", "Without extended_master_secret (TLS 1.0-1.2), triple-handshake attacks.", _ems),
    Rule("EXT-TRUNCATED-HMAC", "medium", RFC9325 + " 3.6", "truncated_hmac weakens integrity.", _truncated_hmac),
    Rule("BEHAV-DOWNGRADE-SENTINEL", "high", "RFC 8446 4.1.3", "A TLS 1.3 server marked a downgrade in its random.", _downgrade),
    Rule("BEHAV-FALLBACK-SCSV", "low", "RFC 7507", "The client retried with a lower version (fallback).", _fallback),
    Rule("BEHAV-FATAL-ALERT", "info", "RFC 8446 6.2", "A fatal alert ended the handshake.", _fatal_alerts),
    Rule("BEHAV-PSK-KE", "medium", "RFC 8446 4.2.9", "psk_ke resumption has no forward secrecy.", _psk_ke),
    Rule("BEHAV-0RTT-ACCEPTED", "medium", "RFC 8446 8", "0-RTT data can be replayed.", _zero_rtt),
    Rule("BEHAV-RENEGOTIATION", "low", "RFC 5746", "Renegotiation inside a connection.", _renegotiation),
    Rule("BEHAV-HRR-CHANGED", "medium", "RFC 8446 4.1.2",
         "The second ClientHello changed more than a HelloRetryRequest allows.", _hrr_changed),
)
