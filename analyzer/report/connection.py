"""One connection judged: its facts beside the judgement on them, and the JSON the CLI prints.

The facts (`analyzer.model.Connection`, made by assemble) say what happened on the wire; the
judgement (findings under a policy, JA3/JA4 fingerprints, what X.509 says of each certificate)
is made by analyzer/report/build.py and kept here, beside the facts, never written into them.
`Report.to_json()` is the public contract `tls-analyzer/1` for one connection: exactly the
object `analyze --format json` prints.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from analyzer.analysis.decryption import Decryption
from analyzer.analysis.ech import Ech
from analyzer.analysis.failure import Failure
from analyzer.analysis.findings import Finding
from analyzer.analysis.retry import Retry
from analyzer.model import Connection, DataRun, Entry, GapInfo
from analyzer.report.messages import CONNECTION_NAMED, message_json, with_names


@dataclass(slots=True, init=False)
class Report:
    """A connection, its findings (worst first) and fingerprints. Treat as immutable."""

    connection: Connection
    findings: list[Finding]
    fingerprints: dict[str, str]  # the connection's: its first ClientHello's and negotiating ServerHello's
    hello_fingerprints: list[dict[str, str]]  # JA3/JA4 of each of connection.client_hellos, in order
    server_fingerprints: list[dict[str, str]]  # JA3S of each of connection.server_hellos (HRR too)
    certificates: list[dict[str, Any]]  # what X.509 says of each of connection.certificates
    client_certificates: list[dict[str, Any]]
    warnings: list[str]  # the connection's, then the judgement's own (a rule that failed)
    secrets: dict[str, str] | None  # the key-log secrets (hex), only when asked for (--show-secrets)
    decryption: Decryption | None  # why it did or did not decrypt (None: no key log given)
    failure: Failure | None  # why the handshake did not complete (None: it did)
    retry: Retry | None  # what a HelloRetryRequest changed between the two ClientHellos
    ech: Ech | None  # what the wire says of an Encrypted Client Hello offer

    def __init__(self, connection: Connection, findings: list[Finding] | None = None,
                 fingerprints: dict[str, str] | None = None, hello_fingerprints: list[dict[str, str]] | None = None,
                 server_fingerprints: list[dict[str, str]] | None = None,
                 certificates: list[dict[str, Any]] | None = None,
                 client_certificates: list[dict[str, Any]] | None = None, warnings: list[str] | None = None,
                 secrets: dict[str, str] | None = None) -> None:
        self.connection = connection
        self.findings = [] if findings is None else findings
        self.fingerprints = {} if fingerprints is None else fingerprints
        self.hello_fingerprints = [] if hello_fingerprints is None else hello_fingerprints
        self.server_fingerprints = [] if server_fingerprints is None else server_fingerprints
        self.certificates = [] if certificates is None else certificates
        self.client_certificates = [] if client_certificates is None else client_certificates
        self.warnings = list(connection.warnings) if warnings is None else warnings
        self.secrets = secrets
        self.decryption = None
        self.failure = None
        self.retry = None
        self.ech = None

    @property
    def worst(self) -> str | None:
        """The worst finding's severity, or None."""
        return self.findings[0].severity if self.findings else None

    def to_json(self) -> dict[str, Any]:
        """Exactly the connection object `analyze --format json` prints (schema tls-analyzer/1)."""
        return connection_json(self)


def _endpoint(e: Any) -> dict[str, Any]:
    return {"ip": e.ip, "port": e.port}


MessageRenderer = Callable[[Entry | DataRun, "dict[str, str] | None"], Any]


def messages(report: Report, render: MessageRenderer = message_json) -> list[Any]:
    """The ladder entries, each as `render(entry, fingerprints)` (a hello with its fingerprints,
    matched by identity, in order; None for the others)."""
    conn = report.connection
    hellos, servers = conn.client_hellos, conn.server_hellos
    i = j = 0
    out = []
    for e in conn.entries:
        if isinstance(e, GapInfo):
            continue
        fingerprints = None
        if isinstance(e, Entry):
            if i < len(hellos) and e.msg is hellos[i]:
                fingerprints = report.hello_fingerprints[i] if i < len(report.hello_fingerprints) else None
                i += 1
            elif j < len(servers) and e.msg is servers[j]:
                fingerprints = report.server_fingerprints[j] if j < len(report.server_fingerprints) else None
                j += 1
        out.append(render(e, fingerprints))
    return out


def connection_json(report: Report, render_messages: Callable[[Report], Any] = messages) -> dict[str, Any]:
    """The connection object; its "messages" are `render_messages(report)` (the JSON renderer hands
    them over already encoded: analyzer/render/json.py)."""
    conn = report.connection
    d: dict[str, Any] = {
        "id": conn.id, "transport": conn.transport, "client": _endpoint(conn.client),
        "server": _endpoint(conn.server), "roles_from": conn.role_source,
        "first_frame": conn.first_frame, "last_frame": conn.last_frame, "packets": conn.packets,
        "bytes": {"client": conn.bytes_client, "server": conn.bytes_server},
        "end": conn.end_reason or None,
        "gaps": [{"from": g.side, "offset": g.offset, "length": g.length, "frame": g.frame} for g in conn.gaps],
        "tls": conn.tls, "warnings": list(report.warnings),
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
        "certificates": report.certificates,
        "client_certificates": report.client_certificates,
        "alerts": [with_names({"from": a.side, "frame": a.frame, "level": a.level,
                               "description": a.description}) for a in conn.alerts],
        "downgrade_sentinel": conn.downgrade_sentinel, "fallback_scsv": conn.fallback_scsv,
        "renegotiation": conn.renegotiation, "complete": conn.complete, "history": conn.history,
        "messages": render_messages(report),
        "fingerprints": report.fingerprints,
        "findings": [f.to_json() for f in report.findings],
    })
    if report.secrets is not None:
        d["secrets"] = report.secrets
    if report.failure is not None:
        d["failure"] = report.failure.to_json()
    if report.retry is not None:
        d["retry"] = report.retry.to_json()
    if report.ech is not None:
        d["ech"] = report.ech.to_json()
    if report.decryption is not None and conn.decryption is not None:
        d["decryption"] = report.decryption.to_json(conn.decryption)
    if conn.udp is not None:  # QUIC or DTLS: what only that transport has, under its name
        d[conn.transport] = with_names(dict(conn.udp), ("version",)) if conn.transport == "dtls" else conn.udp
    return with_names(d, CONNECTION_NAMED)
