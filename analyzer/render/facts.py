"""The few facts worth showing beside each message on a ladder, as plain (unsanitised) strings.

Shared by the text ladder and Mermaid; each renderer sanitises for its own medium.
"""

from __future__ import annotations

from typing import Any

from analyzer import registry
from analyzer.model import (
    CloseRow,
    DataRun,
    Entry,
    FragmentRow,
    GapInfo,
    RetransmissionRow,
    RetryRow,
    VersionNegotiationRow,
)
from analyzer.registry.codes import EXT_EARLY_DATA, EXT_PRE_SHARED_KEY
from analyzer.report.connection import Report
from analyzer.tls.events import HEARTBEAT_REQUEST, Alert, Heartbeat
from analyzer.tls.messages import Certificate, ClientHello, NewSessionTicket, ServerHello, ServerKeyExchange
from analyzer.wording import article, plural


def short_version(v: int) -> str:
    name = registry.version_name(v)
    return name.replace("TLSv", "") if name.startswith("TLSv") else name


def _ext_field(body: ClientHello | ServerHello, etype: int, key: str) -> Any:
    ext = body.ext(etype)
    return ext.fields.get(key) if ext is not None else None


def entry_label(e: Entry | DataRun | GapInfo, times: str = "×") -> str:
    """The message name as the ladder shows it; a run of records says how many."""
    if isinstance(e, GapInfo):
        return "TCP gap"
    if isinstance(e, DataRun):
        return f"{e.name} {times}{e.records}" if e.records > 1 else e.name
    return e.msg.name


def entry_facts(e: Entry | DataRun | GapInfo, report: Report) -> list[str]:
    """Key facts of one ladder row, most important first."""
    if isinstance(e, GapInfo):
        return [f"{plural(e.length, 'byte')} from {e.side} never captured"]
    if isinstance(e, DataRun):
        what = {"early_data": "0-RTT early data", "handshake": "encrypted handshake flight"}.get(e.role, "encrypted")
        if e.decrypted:
            what = {"early_data": "0-RTT early data", "handshake": "handshake flight"}.get(e.role, "application data")
            return [f"decrypted {what}, {plural(e.length, 'byte')}"]
        return [f"{what}, {plural(e.length, 'byte')}"]
    m, body = e.msg, e.msg.body
    out: list[str] = ["decrypted"] if m.decrypted else []
    if m.malformed:
        out.append(f"MALFORMED: {m.malformed}")
    if isinstance(body, ClientHello):
        hellos = report.connection.client_hellos
        if report.retry is not None and len(hellos) > 1 and m is hellos[1]:
            out.append(report.retry.summary())  # the second hello: what the retry changed comes first
        sni = _ext_field(body, 0, "host_name")
        if sni is not None:
            out.append(f"SNI {sni}")
        versions = _ext_field(body, 43, "versions")
        offered = [v for v in (versions or [body.legacy_version]) if not registry.is_grease(v)]
        out.append("versions " + ",".join(short_version(v) for v in offered))
        ks = _ext_field(body, 51, "groups") or _ext_field(body, 40, "groups")
        if ks:
            out.append("key_share " + ",".join(registry.group_name(g) for g in ks if not registry.is_grease(g)))
        alpn = _ext_field(body, 16, "protocols")
        if alpn:
            out.append("ALPN " + ",".join(alpn))
        if body.ext(EXT_PRE_SHARED_KEY) is not None:
            out.append("PSK offered")
        if body.ext(EXT_EARLY_DATA) is not None:
            out.append("early_data")
        if 0x5600 in body.cipher_suites:
            out.append("TLS_FALLBACK_SCSV")
        if body.sslv2:
            out.append("SSLv2-format hello")
    elif isinstance(body, ServerHello):
        if body.hello_retry_request:
            group = _ext_field(body, 51, "selected_group") or _ext_field(body, 40, "selected_group")
            out.append(f"retry with {registry.group_name(group)}" if isinstance(group, int) else "retry")
        else:
            selected = _ext_field(body, 43, "selected_version")
            out.append(short_version(selected if isinstance(selected, int) else body.legacy_version))
            out.append(registry.cipher_suite_name(body.cipher_suite))
            group = _ext_field(body, 51, "group") or _ext_field(body, 40, "group")
            if isinstance(group, int):
                out.append(registry.group_name(group))
            alpn = _ext_field(body, 16, "protocols")
            if alpn:
                out.append("ALPN " + alpn[0])
            if body.ext(EXT_PRE_SHARED_KEY) is not None:
                out.append("PSK accepted")
            if body.downgrade_sentinel:  # a fact; a downgrade only when the client offered TLS 1.3 (a finding then)
                out.append(f"downgrade sentinel {body.downgrade_sentinel}")
    elif isinstance(body, Certificate):
        out.append(f"chain of {len(body.entries)}")
        if body.entries:
            out.append(_leaf(body.entries[0].der, report))
    elif isinstance(body, ServerKeyExchange):
        if body.named_curve is not None:
            out.append(registry.group_name(body.named_curve))
        if body.dh_bits:
            out.append(f"DH {body.dh_bits} bits")
        if body.signature_scheme is not None:
            out.append(registry.signature_scheme_name(body.signature_scheme))
    elif isinstance(body, NewSessionTicket):
        out.append(f"lifetime {body.lifetime}s, ticket {plural(body.ticket_length, 'byte')}")
    elif isinstance(body, Alert):
        out.append(f"{registry.alert_level_name(body.level)} {registry.alert_description_name(body.description)}")
    elif isinstance(body, Heartbeat):
        kind = "request" if body.heartbeat_type == HEARTBEAT_REQUEST else "response"
        out.append(f"{kind}, claims {plural(body.payload_length, 'byte')} in {article(body.record_length)} "
                   f"{body.record_length}-byte record")
        if body.overclaimed:
            out.append("HEARTBLEED-SHAPED")
    elif m.encrypted and m.type is None:
        out.append(plural(m.length, "byte"))
    else:
        out += _udp_row_facts(m.name, body)
    return out


def _udp_row_facts(name: str, body: Any) -> list[str]:
    """The rows only QUIC and DTLS have."""
    if isinstance(body, FragmentRow):
        end = body.fragment_offset + body.fragment_length
        return [f"fragment, bytes {body.fragment_offset}-{end} of {body.message_length}"]
    if isinstance(body, RetransmissionRow):
        return [f"retransmission of frame {body.first_frame}"]
    if isinstance(body, CloseRow):
        out = [body.error_name]
        if body.reason:
            out.append(f"reason {body.reason!r}")
        return out
    if isinstance(body, RetryRow):
        return [f"token {plural(body.token_length, 'byte')}", f"integrity {body.integrity}"] + \
            ([] if body.accepted else ["ignored by the client"])
    if isinstance(body, VersionNegotiationRow):
        return ["offers " + ",".join(body.offered_names)]
    if name == "HelloVerifyRequest":
        return [f"cookie {plural(len(getattr(body, 'cookie', b'')), 'byte')}"]
    return []


def transport_label(report: Report) -> str | None:
    """What a connection runs over when it is not TCP: "QUICv1", "DTLS"."""
    conn = report.connection
    if conn.transport == "quic":
        return (conn.udp or {}).get("version_name") or "QUIC"
    return "DTLS" if conn.transport == "dtls" else None


def _leaf(der: bytes, report: Report) -> str:
    """The leaf's subject, as the report's certificate summary says it (the chain the connection
    settled on, server or client); other chains (a renegotiation's) by their size."""
    conn = report.connection
    for chain, summaries in ((conn.certificates, report.certificates),
                             (conn.client_certificates, report.client_certificates)):
        if chain and chain[0] == der and summaries:
            subject = summaries[0].get("subject")
            return f"leaf {subject}" if subject is not None else f"leaf of {plural(len(der), 'byte')} (not parseable)"
    return f"leaf of {plural(len(der), 'byte')}"


def header_facts(report: Report) -> list[str]:
    conn = report.connection
    out = []
    label = transport_label(report)
    if label is not None and not registry.version_name(conn.version or 0).startswith("DTLS"):
        out.append(label)  # (a DTLS version's name says it already)
    if conn.sni:
        out.append(f"SNI {conn.sni}" + (" (ECH outer name)" if report.ech is not None and report.ech.outer_sni else ""))
    if report.ech is not None:
        out.append(f"ECH {report.ech.kind}" + {True: ", accepted", False: ", not accepted", None: ""}[report.ech.accepted])
    if conn.version is not None:
        out.append(registry.version_name(conn.version))
    if conn.cipher_suite is not None:
        out.append(registry.cipher_suite_name(conn.cipher_suite))
    if conn.hello_retry_request:
        out.append("HRR")
    if conn.resumed:
        out.append(f"resumed ({conn.resumed})")
    if conn.early_data_offered:
        out.append("0-RTT offered")
    out.append(f"history {conn.history or '-'}")
    if report.fingerprints.get("ja4"):
        out.append(f"JA4 {report.fingerprints['ja4']}")
    return out


def footer_notes(report: Report) -> list[str]:
    """What must stand out: unfinished handshakes, gaps, anomalies. (A downgrade sentinel is a
    fact on its ServerHello row; a real downgrade is a finding, listed with the findings.)"""
    conn, notes = report.connection, []
    if not conn.complete and report.failure is None:
        end = conn.end_reason or "capture end"
        notes.append(f"handshake not complete (connection ended: {end})")
    notes.extend(report.warnings)
    return notes


def explanations(report: Report) -> list[str]:
    """Why the handshake failed and why it did (not) decrypt, in words: shown whole, before the notes."""
    notes = []
    if report.failure is not None:
        notes.append(f"handshake failed [{report.failure.cause}]: {report.failure.text}")
    if report.decryption is not None:
        notes.append(f"decryption {report.decryption.status} [{report.decryption.reason}]: {report.decryption.text}")
    return notes
