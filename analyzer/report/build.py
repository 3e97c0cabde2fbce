"""Judge one connection: its facts in, a `Report` out (fingerprints, findings, certificates).

Runs once per finished connection (the pipeline calls it), so every output sees the same report.
"""

from __future__ import annotations

from typing import Final

from analyzer.analysis import decryption, ech, failure, fingerprints, retry, rulebook
from analyzer.analysis.certinfo import certificate_summary
from analyzer.analysis.findings import Finding
from analyzer.cache import LruCache
from analyzer.model import Connection
from analyzer.report.connection import Report
from analyzer.tls.messages import ClientHello

TLS13: Final = 0x0304
JA4_TRANSPORT: Final = {"tcp": "t", "quic": "q", "dtls": "d"}  # JA4's first character
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


def judge(conn: Connection, judge: rulebook.Judge) -> Report:
    """The connection's report, judged under `judge`'s policy (rulebook.Judge: one per run)."""
    report = Report(conn)
    if not conn.tls:
        return report
    transport = JA4_TRANSPORT.get(conn.transport, "t")
    report.hello_fingerprints = [cached_client_fingerprints(_CLIENT_CACHE, m.body, transport)
                                 for m in conn.client_hellos]
    # a HelloRetryRequest too: on the wire it is a ServerHello (tshark agrees)
    report.server_fingerprints = [fingerprints.server_fingerprints(m.body) for m in conn.server_hellos]
    first: dict[str, str] = {}
    if conn.client_hellos:
        first.update(report.hello_fingerprints[0])
    # the connection's JA3S: the ServerHello that negotiated, else (the handshake stopped there) the HRR
    negotiating = next((k for k, m in enumerate(conn.server_hellos) if not m.body.hello_retry_request), 0)
    if conn.server_hellos:
        first.update(report.server_fingerprints[negotiating])
    report.fingerprints = first
    report.findings = _evaluate(conn, judge, report.warnings)
    report.decryption = decryption.diagnose(conn)
    report.failure = failure.diagnose_failure(conn)
    report.retry = retry.explain_retry(conn)
    report.ech = ech.explain_ech(conn)
    report.certificates = [certificate_summary(der) for der in conn.certificates]
    report.client_certificates = [certificate_summary(der) for der in conn.client_certificates]
    return report


def _evaluate(conn: Connection, judge: rulebook.Judge, warnings: list[str]) -> list[Finding]:
    """The findings. DTLS is judged by the TLS version it is built on (DTLS 1.0 as TLS 1.1, RFC 6347
    1.1), QUIC as TLS 1.3 even before a ServerHello is seen (RFC 9001 4.2: nothing older exists
    over QUIC): the rules see those versions while they run; the facts keep the wire's."""
    if conn.transport == "tcp" or conn.transport == "quic" and conn.version is not None:
        return judge.evaluate(conn, warnings)
    shown = conn.version, conn.versions_offered
    if conn.transport == "quic":
        conn.version = TLS13
    else:
        from analyzer.dtls.versions import tls_equivalent  # (loaded with the UDP stack: no cost per connection)
        conn.version = tls_equivalent(conn.version) if conn.version is not None else None
        conn.versions_offered = [tls_equivalent(v) or v for v in conn.versions_offered]
    try:
        return judge.evaluate(conn, warnings)
    finally:
        conn.version, conn.versions_offered = shown
