"""What the summary asks of one connection, read from its public JSON (`tls-analyzer/1`).

Every function takes the connection dict exactly as `analyze --format json` prints it, so the
summary depends on the published contract only, never on internal objects: whatever produces
that JSON (today's pipeline, a library API, a QUIC or DTLS transport) can be summarised.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

Conn = dict[str, Any]

STRING_MAX: Final = 255  # characters of a wire string (SNI, ALPN) kept as a key; certificate names come capped alike

# Post-quantum status of a TLS connection (one each): see `pq_status`
NEGOTIATED: Final = "negotiated"
OFFERED_NOT_NEGOTIATED: Final = "offered_not_negotiated"
OFFERED_UNANSWERED: Final = "offered_unanswered"
NOT_OFFERED: Final = "not_offered"
NO_CLIENT_HELLO: Final = "no_client_hello"
PQ_STATUSES: Final = (NEGOTIATED, OFFERED_NOT_NEGOTIATED, OFFERED_UNANSWERED, NOT_OFFERED, NO_CLIENT_HELLO)
# what a HelloRetryRequest did to it
HRR_TO_PQ: Final = "to_pq"
HRR_AWAY_FROM_PQ: Final = "away_from_pq"

# versions by age; DTLS ranks as the TLS version it is based on, TLS 1.3 drafts just below 1.3
_VERSION_ORDER: Final = ("SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3")
_DTLS_AS_TLS: Final = {"DTLSv1.0": "TLSv1.1", "DTLSv1.2": "TLSv1.2", "DTLSv1.3": "TLSv1.3"}
LEGACY_NEWEST: Final = "TLSv1.1"  # this and older are deprecated (RFC 8996)


def capped(value: str) -> str:
    """A wire string as a key: at most STRING_MAX characters (a name longer than DNS allows is
    kept recognisable, not whole: its bytes are the sender's to choose)."""
    return value if len(value) <= STRING_MAX else value[:STRING_MAX - 1] + "\u2026"


def version_rank(name: str) -> float | None:
    """Orders versions by age (None for unknown and GREASE values, which rank nowhere)."""
    name = _DTLS_AS_TLS.get(name, name)
    if name in _VERSION_ORDER:
        return float(_VERSION_ORDER.index(name))
    if name.startswith("TLSv1.3-"):  # drafts and experiments
        return _VERSION_ORDER.index("TLSv1.3") - 0.5
    return None


def is_legacy(name: str) -> bool:
    rank = version_rank(name)
    return rank is not None and rank <= _VERSION_ORDER.index(LEGACY_NEWEST)


def highest_version(names: list[str]) -> str | None:
    best: tuple[float, str] | None = None
    for name in names:
        rank = version_rank(name)
        if rank is not None and (best is None or rank > best[0]):
            best = (rank, name)
    return best[1] if best else None


def pq_status(conn: Conn, pq_groups: frozenset[int]) -> tuple[str, str | None]:
    """(status, what a HelloRetryRequest did) for a TLS connection.

    negotiated: the group the server chose is post-quantum (alone or hybrid), whether or not the
        ClientHello was captured;
    offered_not_negotiated: the client offered one (supported_groups or key_share) and the
        server's ServerHello chose otherwise: a classical group, or no group at all (TLS 1.2
        with RSA key transport, a resumption without key exchange);
    offered_unanswered: offered, but no ServerHello was seen (failed, or cut from the capture);
    not_offered / no_client_hello.
    The HelloRetryRequest: to_pq when it asked for a PQ group, away_from_pq when it asked for a
    classical one from a client that had offered PQ."""
    hrr = conn.get("hrr_group") if conn.get("hello_retry_request") else None
    if conn.get("group") in pq_groups:  # (also when the ClientHello was not captured)
        return NEGOTIATED, HRR_TO_PQ if hrr in pq_groups else None
    if not conn.get("versions_offered"):
        return NO_CLIENT_HELLO, None
    if pq_groups.isdisjoint(conn.get("groups_offered") or ()) and pq_groups.isdisjoint(conn.get("key_share_groups") or ()):
        return NOT_OFFERED, None
    away = HRR_AWAY_FROM_PQ if hrr is not None and hrr not in pq_groups else None
    if conn.get("version") is None:
        return OFFERED_UNANSWERED, away
    return OFFERED_NOT_NEGOTIATED, away


def pq_offered_names(conn: Conn, pq_groups: frozenset[int]) -> list[str]:
    """Names of the PQ groups the client offered, supported_groups order, then key-share-only ones."""
    names: list[str] = []
    for key, names_key in (("groups_offered", "groups_offered_names"), ("key_share_groups", "key_share_group_names")):
        for code, name in zip(conn.get(key) or (), conn.get(names_key) or ()):
            if code in pq_groups and name not in names:
                names.append(name)
    return names


def failure_reason(conn: Conn) -> str:
    """Why a TLS handshake did not complete, in words: the `failure` cause when the analyzer
    gives one, else the first fatal alert (else any alert), else how far it got and how the
    connection ended."""
    failure = conn.get("failure")
    if isinstance(failure, dict) and failure.get("cause"):
        return capped(str(failure["cause"]))
    alerts = conn.get("alerts") or []
    alert = next((a for a in alerts if a.get("level_name") == "fatal"), alerts[0] if alerts else None)
    if alert is not None:
        if alert.get("description_name"):
            return f"alert {alert['description_name']} from {alert.get('from')}"
        return f"encrypted alert from {alert.get('from')}"
    end = conn.get("end") or "capture end"
    if not conn.get("versions_offered"):
        return f"no ClientHello ({end})"
    if conn.get("version") is None:
        return f"no ServerHello ({end})"
    return f"handshake not finished ({end})"


def server_side(conn: Conn) -> tuple[str | None, float | None]:
    """One pass over the messages: the signature scheme of the server's ServerKeyExchange or
    CertificateVerify, and the moment of the capture its certificate is judged at (the message
    that carried it, else the connection's first)."""
    scheme: str | None = None
    leaf_ts: float | None = None
    messages = conn.get("messages") or ()
    for m in messages:
        if "signature_scheme_name" in m or "certificates" in m:
            if m.get("from") != "server":
                continue
            if scheme is None:
                scheme = m.get("signature_scheme_name")
            if leaf_ts is None and m.get("certificates"):
                leaf_ts = m.get("ts")
    if leaf_ts is None and messages:
        leaf_ts = messages[0].get("ts")
    return scheme, leaf_ts


def days_left(not_after: str | None, ts: float | None) -> int | None:
    """Whole days from a moment of the capture to a certificate's notAfter (negative: expired)."""
    if not not_after or ts is None:
        return None
    try:
        expires = datetime.fromisoformat(not_after.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
    return int((expires - ts) // 86400)


def endpoint(e: dict[str, Any]) -> str:
    ip, port = e.get("ip"), e.get("port")
    return f"[{ip}]:{port}" if ":" in str(ip) else f"{ip}:{port}"
