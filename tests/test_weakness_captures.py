"""Every weakness rule on a real capture of our own (issue #6).

The weak-*.pcap captures come from captures/scripts/make_weak_captures.py: real stacks on 127.0.0.1
(openssl s_server/s_client, gnutls-serv/gnutls-cli, tlslite-ng, scapy's TLS automata), never
hand-typed bytes. A few rules are proven on older fixtures of ours (tls13.pcap, keyed-*.pcap).
Each case says which connection of which capture must carry which rule in which scope; where the
weak thing was actually used the scope is "negotiated" (or "behaviour") at the rule's own severity,
and what a client merely offered is "offered", capped at "low".

Rules without a capture of their own, because no stack on this machine can speak them:
  EXT-TRUNCATED-HMAC  truncated_hmac: OpenSSL never had it, GnuTLS 3.6+ dropped it, tlslite-ng and
                      scapy do not implement 10-byte MACs. No corpus capture has it either.
  BEHAV-HRR-CHANGED   a second ClientHello changed beyond RFC 8446 4.1.2: every stack here retries
                      by the rules; proven on the real HRR captures' hellos with one field altered
                      (tests/test_explain_retry.py).
KX-NO-PQ has no negative case: no stack here offers a post-quantum hybrid group (OpenSSL 3.0,
GnuTLS 3.7; tlslite-ng would need kyber-py).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import NamedTuple

import pytest

from analyzer.analysis.case import Case
from analyzer.api import load_keylog
from analyzer.analysis.weakness import RULES, offers_modern

from conftest import CAPTURES, reports

SEVERITY = {r.id: r.severity for r in RULES}
FAMILIES = ("PROTO-", "SUITE-", "KX-", "EXT-", "BEHAV-")
NO_CAPTURE = {"EXT-TRUNCATED-HMAC", "BEHAV-HRR-CHANGED"}  # see the module docstring


@cache
def _connections(capture: str) -> tuple:
    keys = CAPTURES / "keys" / (Path(capture).stem + ".keys")
    keylog = load_keylog(str(keys)) if keys.exists() else None  # heartbeats and 0-RTT need it
    return tuple(reports(str(CAPTURES / capture), keylog=keylog))


def _conn(capture: str, index: int):  # noqa: ANN202
    conns = _connections(capture)
    assert len(conns) > index, f"{capture} has {len(conns)} connection(s)"
    return conns[index]


LEGACY = {"PROTO-TLS10-11", "SUITE-3DES", "SUITE-CBC", "SUITE-STATIC-RSA", "SUITE-WEAK-MAC"}  # old, not broken


def _offered(rule: str, conn) -> str:  # noqa: ANN001
    """What a client merely offers: info for a legacy option beside modern ones, else at most low."""
    if rule in LEGACY and offers_modern(conn, Case()):
        return "info"
    return "info" if SEVERITY[rule] == "info" else "low"


class Fires(NamedTuple):
    capture: str
    conn: int  # index among the capture's connections
    rule: str
    scope: str  # "negotiated", "behaviour" or "offered"
    version: int | None = None  # what must have been negotiated, where it matters
    suite: int | None = None


TLS10, TLS11, TLS12, TLS13, SSL3 = 0x0301, 0x0302, 0x0303, 0x0304, 0x0300

FIRES = [
    # PROTO-*
    Fires("weak-sslv2.pcap", 0, "PROTO-SSLV2", "negotiated", 0x0002),  # from the SSLv2 SERVER-HELLO
    Fires("weak-sslv3.pcap", 0, "PROTO-SSLV3", "negotiated", SSL3, 0x002F),
    Fires("weak-tls11-no-ems.pcap", 0, "PROTO-TLS10-11", "negotiated", TLS11, 0xC013),
    Fires("weak-export.pcap", 0, "PROTO-TLS10-11", "negotiated", TLS10),
    Fires("weak-psk-ke.pcap", 0, "PROTO-TLS10-11", "offered", TLS13),  # tlslite-ng offers 1.0-1.3, gets 1.3
    Fires("weak-tls13-downgrade.pcap", 0, "PROTO-NO-TLS13", "negotiated", TLS12),
    Fires("weak-null-md5.pcap", 0, "PROTO-NO-TLS13", "offered", TLS12),
    # SUITE-*
    Fires("weak-null-md5.pcap", 0, "SUITE-NULL", "negotiated", TLS12, 0x0001),
    Fires("weak-null-md5.pcap", 0, "SUITE-WEAK-MAC", "negotiated", TLS12, 0x0001),
    Fires("weak-null-md5.pcap", 0, "SUITE-STATIC-RSA", "negotiated", TLS12, 0x0001),
    Fires("weak-export.pcap", 0, "SUITE-EXPORT", "negotiated", TLS10, 0x0003),
    Fires("weak-export.pcap", 0, "SUITE-RC4", "negotiated", TLS10, 0x0003),
    Fires("weak-export.pcap", 1, "SUITE-EXPORT", "negotiated", TLS10, 0x0008),
    Fires("weak-export.pcap", 1, "SUITE-DES", "negotiated", TLS10, 0x0008),
    Fires("weak-anon.pcap", 0, "SUITE-ANON", "negotiated", TLS12, 0x00A6),
    Fires("weak-rc4.pcap", 0, "SUITE-RC4", "negotiated", TLS12, 0x0004),
    Fires("weak-rc4.pcap", 0, "SUITE-WEAK-MAC", "negotiated", TLS12, 0x0004),
    Fires("weak-rc4.pcap", 1, "SUITE-RC4", "offered", TLS12, 0xC02F),  # s_server has no RC4: offered only
    Fires("weak-des-idea.pcap", 0, "SUITE-DES", "negotiated", TLS10, 0x0009),
    Fires("weak-des-idea.pcap", 1, "SUITE-DES", "negotiated", TLS10, 0x0007),  # IDEA
    Fires("keyed-tls12-3des-mte.pcap", 0, "SUITE-3DES", "negotiated", TLS12, 0xC012),  # gnutls both sides
    Fires("weak-sslv3.pcap", 0, "SUITE-CBC", "negotiated", SSL3, 0x002F),
    Fires("weak-sslv3.pcap", 0, "SUITE-CBC-BEAST", "negotiated", SSL3, 0x002F),
    Fires("keyed-tls10-cbc.pcap", 0, "SUITE-CBC-BEAST", "negotiated", TLS10, 0xC013),
    Fires("keyed-tls12-cbc-sha1-mte.pcap", 0, "SUITE-WEAK-MAC", "negotiated", TLS12, 0x0035),  # HMAC-SHA1
    # KX-*
    Fires("weak-dhe-1024.pcap", 0, "KX-DH-WEAK", "negotiated", TLS12, 0x009E),  # a fresh 1024-bit prime
    Fires("weak-dhe-1024.pcap", 1, "KX-DH-WEAK", "negotiated", TLS12, 0x009E),  # RFC 5114's 1024-bit prime
    Fires("weak-dhe-modp2048.pcap", 0, "KX-DH-WEAK", "negotiated", TLS12, 0x009E),  # RFC 3526 group 14
    Fires("weak-kx-signatures.pcap", 0, "KX-WEAK-SIGNATURE", "negotiated", TLS12, 0xC02F),  # rsa_pkcs1_sha1
    Fires("weak-kx-signatures.pcap", 1, "KX-WEAK-SIGNATURE", "negotiated", TLS12, 0x00A2),  # dsa_sha256
    Fires("weak-tls11-no-ems.pcap", 0, "KX-WEAK-SIGNATURE", "negotiated", TLS11, 0xC013),  # MD5+SHA-1, fixed
    Fires("weak-small-curve.pcap", 0, "KX-SMALL-CURVE", "negotiated", TLS12, 0xC02F),  # secp224r1
    Fires("weak-explicit-curve.pcap", 0, "KX-EXPLICIT-CURVE", "negotiated", TLS12, 0xC02F),  # P-256 explicit_prime
    Fires("tls13.pcap", 0, "KX-NO-PQ", "offered", TLS13),
    Fires("weak-psk-ke.pcap", 1, "KX-NO-PQ", "offered", TLS13),
    # EXT-*
    Fires("weak-compression.pcap", 0, "EXT-COMPRESSION", "negotiated", TLS10, 0x002F),
    Fires("weak-heartbeat.pcap", 1, "EXT-HEARTBEAT", "behaviour", TLS12),  # Heartbleed-shaped request
    Fires("weak-heartbeat.pcap", 0, "EXT-HEARTBEAT", "negotiated", TLS12),  # in the ServerHello too
    Fires("weak-rc4.pcap", 1, "EXT-HEARTBEAT", "offered", TLS12),  # s_server does not answer it
    Fires("weak-no-secure-reneg.pcap", 0, "EXT-NO-SECURE-RENEG", "negotiated", TLS12),
    Fires("weak-no-secure-reneg.pcap", 1, "EXT-NO-SECURE-RENEG", "offered", TLS12),
    Fires("weak-insecure-renegotiation.pcap", 0, "EXT-NO-SECURE-RENEG", "offered", TLS12),
    Fires("weak-no-ems.pcap", 0, "EXT-NO-EMS", "negotiated", TLS12),
    Fires("weak-tls11-no-ems.pcap", 0, "EXT-NO-EMS", "negotiated", TLS11),  # RFC 7627 covers TLS 1.0-1.2
    # BEHAV-*
    Fires("weak-tls13-downgrade.pcap", 0, "BEHAV-DOWNGRADE-SENTINEL", "behaviour", TLS12),
    Fires("weak-fallback-scsv.pcap", 0, "BEHAV-FALLBACK-SCSV", "behaviour"),
    Fires("weak-fallback-scsv.pcap", 1, "BEHAV-FALLBACK-SCSV", "behaviour", TLS12),
    Fires("weak-fallback-scsv.pcap", 0, "BEHAV-FATAL-ALERT", "behaviour"),
    Fires("weak-tls13-downgrade.pcap", 0, "BEHAV-FATAL-ALERT", "behaviour"),
    Fires("weak-psk-ke.pcap", 0, "BEHAV-PSK-KE", "offered", TLS13),
    Fires("weak-psk-ke.pcap", 1, "BEHAV-PSK-KE", "negotiated", TLS13),  # psk_ke only offered, and accepted
    Fires("weak-psk-ke-chosen.pcap", 1, "BEHAV-PSK-KE", "negotiated", TLS13),  # both offered, psk_ke chosen
    Fires("tls13-0rtt.pcap", 1, "BEHAV-0RTT-ACCEPTED", "negotiated", TLS13),  # needs its key log
    Fires("weak-insecure-renegotiation.pcap", 0, "BEHAV-RENEGOTIATION", "behaviour", TLS12),
    Fires("keyed-tls12-renegotiation.pcap", 0, "BEHAV-RENEGOTIATION", "behaviour", TLS12),
]


@pytest.mark.parametrize("capture, conn, rule, scope, version, suite", FIRES)
def test_rule_fires_on_real_traffic(capture: str, conn: int, rule: str, scope: str, version: int | None,
                                    suite: int | None) -> None:
    c = _conn(capture, conn)
    if version is not None:
        assert c.connection.version == version
    if suite is not None:
        assert c.connection.cipher_suite == suite
    hits = [f for f in c.findings if f.id == rule and f.scope == scope]
    assert hits, f"{rule} ({scope}) not in {sorted((f.id, f.scope) for f in c.findings)}"
    expected = _offered(rule, c.connection) if scope == "offered" else SEVERITY[rule]
    assert {f.severity for f in hits} == {expected}


class Quiet(NamedTuple):
    capture: str
    conn: int
    rule: str
    scope: str | None  # None: no finding of that rule at all


QUIET = [
    # what a client merely offered is never "negotiated"
    Quiet("weak-rc4.pcap", 1, "SUITE-RC4", "negotiated"),
    Quiet("weak-rc4.pcap", 1, "SUITE-WEAK-MAC", "negotiated"),
    Quiet("weak-psk-ke.pcap", 0, "PROTO-TLS10-11", "negotiated"),
    # KX: RFC 7919 ffdhe2048 is fine; rsa_pss_rsae_sha256 is fine
    Quiet("tls12-dhe.pcap", 0, "KX-DH-WEAK", None),
    Quiet("tls12-ecdhe.pcap", 0, "KX-WEAK-SIGNATURE", None),
    Quiet("tls12-ecdhe.pcap", 0, "KX-SMALL-CURVE", None),  # x25519 counts as 256 bits
    Quiet("keyed-tls11-cbc-mte.pcap", 0, "SUITE-CBC-BEAST", None),  # TLS 1.1: explicit IVs
    Quiet("tls12-ecdhe.pcap", 0, "SUITE-WEAK-MAC", "negotiated"),  # AEAD: no HMAC
    Quiet("tls13-hrr.pcap", 0, "KX-SMALL-CURVE", None),  # secp256r1
    # EXT: DEFLATE offered and declined; EMS used; RFC 5746 renegotiation
    Quiet("weak-compression.pcap", 1, "EXT-COMPRESSION", None),
    Quiet("tls12-ecdhe.pcap", 0, "EXT-NO-EMS", None),
    Quiet("keyed-tls12-renegotiation.pcap", 0, "EXT-NO-SECURE-RENEG", None),
    Quiet("weak-no-secure-reneg.pcap", 0, "EXT-NO-SECURE-RENEG", "offered"),  # s_client signalled it
    # RFC 5746 3.6: a server answers renegotiation_info only to a client that signalled it; this one did not
    Quiet("weak-no-secure-reneg.pcap", 1, "EXT-NO-SECURE-RENEG", "negotiated"),
    Quiet("weak-insecure-renegotiation.pcap", 0, "EXT-NO-SECURE-RENEG", "negotiated"),
    Quiet("weak-sslv2.pcap", 0, "PROTO-SSLV2", "offered"),  # negotiated replaces offered
    Quiet("weak-heartbeat.pcap", 1, "EXT-HEARTBEAT", "offered"),  # the Heartbleed finding replaces it
    Quiet("weak-heartbeat.pcap", 0, "EXT-HEARTBEAT", "offered"),  # negotiated replaces offered
    # BEHAV: OpenSSL marks DOWNGRD01 whenever it could have spoken TLS 1.3, even to a 1.2-only client
    Quiet("weak-tls13-downgrade.pcap", 1, "BEHAV-DOWNGRADE-SENTINEL", None),
    Quiet("weak-fallback-scsv.pcap", 1, "BEHAV-FATAL-ALERT", None),
    Quiet("tls13-psk-resumption.pcap", 1, "BEHAV-PSK-KE", None),
    Quiet("weak-no-secure-reneg.pcap", 0, "BEHAV-RENEGOTIATION", None),
]


@pytest.mark.parametrize("capture, conn, rule, scope", QUIET)
def test_rule_stays_quiet(capture: str, conn: int, rule: str, scope: str | None) -> None:
    c = _conn(capture, conn)
    assert not [f for f in c.findings if f.id == rule and scope in (None, f.scope)]


def _finding(capture: str, conn: int, rule: str):  # noqa: ANN202
    (hit,) = [f for f in _conn(capture, conn).findings if f.id == rule]
    return hit


def test_heartbleed_evidence() -> None:
    # tlslite-ng's own Heartbeat message, serialised with payload_length 16384 over 1 byte + 16 padding
    assert _finding("weak-heartbeat.pcap", 1, "EXT-HEARTBEAT").evidence == {"claimed": 16384, "record": 20,
                                                                           "from": "client"}


def test_dh_evidence_names_the_group() -> None:
    assert _finding("weak-dhe-1024.pcap", 0, "KX-DH-WEAK").evidence == {"dh_bits": 1024, "well_known": None}
    assert _finding("weak-dhe-1024.pcap", 1, "KX-DH-WEAK").evidence["well_known"] == "rfc5114/modp1024-160"
    shared = _finding("weak-dhe-modp2048.pcap", 0, "KX-DH-WEAK")
    assert shared.evidence == {"dh_bits": 2048, "well_known": "rfc3526/modp2048"} and "widely shared" in shared.title


def test_fallback_and_downgrade_evidence() -> None:
    assert _finding("weak-fallback-scsv.pcap", 0, "BEHAV-FALLBACK-SCSV").evidence == {"inappropriate_fallback": True}
    assert _finding("weak-fallback-scsv.pcap", 1, "BEHAV-FALLBACK-SCSV").evidence == {"inappropriate_fallback": False}
    assert _finding("weak-fallback-scsv.pcap", 0, "BEHAV-FATAL-ALERT").evidence["description"] == "inappropriate_fallback"
    assert _finding("weak-tls13-downgrade.pcap", 0, "BEHAV-DOWNGRADE-SENTINEL").evidence == {"sentinel": "TLS1.2"}
    assert _finding("weak-tls13-downgrade.pcap", 0, "BEHAV-FATAL-ALERT").evidence == {
        "description": "illegal_parameter", "from": "client"}
    assert _conn("weak-tls13-downgrade.pcap", 1).connection.downgrade_sentinel == "TLS1.2"  # there, but no 1.3 was offered


def test_weak_signature_names_the_scheme() -> None:
    assert _finding("weak-kx-signatures.pcap", 0, "KX-WEAK-SIGNATURE").evidence == {"scheme": "rsa_pkcs1_sha1"}
    assert _finding("weak-kx-signatures.pcap", 1, "KX-WEAK-SIGNATURE").evidence == {"scheme": "dsa_sha256"}


def test_every_rule_has_a_real_capture() -> None:
    proven = {case.rule for case in FIRES}
    rules = {r.id for r in RULES if r.id.startswith(FAMILIES)}
    assert rules - NO_CAPTURE <= proven, f"rules without a capture: {sorted(rules - NO_CAPTURE - proven)}"
    assert NO_CAPTURE <= rules  # drop an entry here once its rule goes or gets a capture
