"""Judgement added to a connection's facts: fingerprints and weakness findings.

Runs once per finished connection (the pipeline calls it), so every output sees the same report.
"""

from __future__ import annotations

from typing import Any, Final

from analyzer.analysis import fingerprints, rulebook
from analyzer.analysis.certinfo import certificate_summary
from analyzer.cache import LruCache
from analyzer.model import Connection
from analyzer.tls.messages import ClientHello

CACHE_MAX: Final = 4096  # distinct client fingerprints kept (a capture has a few clients, a busy one thousands)
_CLIENT_CACHE: Final = LruCache[dict[str, str]](CACHE_MAX)


def cached_client_fingerprints(cache: LruCache[dict[str, str]], ch: ClientHello, transport: str) -> dict[str, str]:
    """JA3/JA4 of a hello; hellos alike (same suites, extension types and the content of the
    extensions the fingerprints read) share one result in `cache`."""
    key = fingerprints.client_key(ch, transport)
    fp = cache.get(key)
    if fp is None:
        fp = cache.put(key, fingerprints.client_fingerprints(ch, transport))
    return fp


def _client(ch: ClientHello, transport: str) -> dict[str, str]:
    return cached_client_fingerprints(_CLIENT_CACHE, ch, transport)


def enrich(conn: Connection, policy: Any = None) -> Connection:
    if not conn.tls:
        return conn
    transport = "t" if conn.transport == "tcp" else "q"
    for m in conn.client_hellos:
        conn.message_fingerprints[id(m)] = _client(m.body, transport)
    for m in conn.server_hellos:  # a HelloRetryRequest too: on the wire it is a ServerHello (tshark agrees)
        conn.message_fingerprints[id(m)] = fingerprints.server_fingerprints(m.body)
    first = {}
    if conn.client_hellos:
        first.update(conn.message_fingerprints[id(conn.client_hellos[0])])
    # the connection's JA3S: the ServerHello that negotiated, else (the handshake stopped there) the HRR
    sh = conn.server_hello or (conn.server_hellos[0] if conn.server_hellos else None)
    if sh is not None:
        first.update(conn.message_fingerprints[id(sh)])
    conn.fingerprints = first
    conn.findings = rulebook.evaluate(conn, policy)
    for key, chain in (("certificates", conn.certificates), ("client_certificates", conn.client_certificates)):
        if chain:  # what X.509 says of each certificate (parsed once, cached), in place of length + SHA-256
            conn.extra[key] = [certificate_summary(der) for der in chain]
    return conn
