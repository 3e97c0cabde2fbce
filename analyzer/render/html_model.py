"""What the HTML report shows of a connection, built from its public JSON (`tls-analyzer/1`).

The report is a renderer over the JSON contract, not over internal objects: a connection dict as
`analyze --format json` prints it goes in, and two small plain values come out, a list row (the
columns the list sorts and filters on) and a detail (the ladder rows, facts, findings and
certificates its section draws). Every string that came from the wire goes through
`sanitize.text` here, so control and bidi characters arrive in the page as visible escapes; the
page then only ever puts strings into text nodes and attributes.

Keys that a connection does not have (older or newer producers, QUIC/DTLS, a TCP-only row) are
simply not shown: nothing here may fail on a missing or unexpected value.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any, Final

from analyzer import registry
from analyzer.analysis.findings import SEVERITIES  # a row's severity rank is index + 1; 0: no finding
from analyzer.render.sanitize import text

HEARTBEAT_REQUEST: Final = 1  # HeartbeatMessageType heartbeat_request (RFC 6520)
NOTE_LIMIT: Final = 160  # characters of a ladder note; the full value is in the row's tooltip
EVIDENCE_ITEMS: Final = 64  # items of one evidence list shown; the rest are counted

# Row columns, in order; the page finds each by name (the meta block carries this list)
ROW_COLUMNS: Final = ("capture", "id", "transport", "client", "server", "sni", "version", "suite", "group", "alpn",
                      "severity", "findings", "ja4", "state", "tags")


def _s(value: Any) -> str:
    if value.__class__ is str and value.isprintable():  # no control or format character: nothing to escape
        return value
    return "" if value is None else text(value)


def _cut(s: str, limit: int = NOTE_LIMIT) -> str:
    return s if len(s) <= limit else s[:limit - 1] + "…"


def endpoint(e: Any) -> str:
    if not isinstance(e, dict):
        return ""
    ip, port = _s(e.get("ip")), e.get("port")
    if port is None:
        return ip
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def severity_rank(severity: Any) -> int:
    return SEVERITIES.index(severity) + 1 if severity in SEVERITIES else 0


def _findings(conn: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in conn.get("findings") or () if isinstance(f, dict)]


def state(conn: dict[str, Any]) -> str:
    """complete, failed (a fatal alert), incomplete, or not TLS."""
    if conn.get("tls") is False:
        return "not TLS"
    if conn.get("complete"):
        return "complete"
    if any(isinstance(a, dict) and a.get("level_name") == "fatal" for a in conn.get("alerts") or ()):
        return "failed"
    return "incomplete"


def _fingerprints(conn: dict[str, Any]) -> dict[str, Any]:
    fp = conn.get("fingerprints")
    return fp if isinstance(fp, dict) else {}


def _tags(conn: dict[str, Any]) -> list[str]:
    tags = []
    if conn.get("hello_retry_request"):
        tags.append("HRR")
    if conn.get("resumed"):
        tags.append("resumed")
    if conn.get("early_data_offered"):
        tags.append("0-RTT")
    if conn.get("gaps"):
        tags.append("gap")
    if any(isinstance(m, dict) and m.get("decrypted") for m in conn.get("messages") or ()):
        tags.append("decrypted")
    if conn.get("renegotiation"):
        tags.append("reneg")
    if conn.get("warnings"):
        tags.append("warnings")
    return tags


def row(conn: dict[str, Any], capture: str = "") -> list[Any]:
    """The list row of a connection, in ROW_COLUMNS order."""
    findings = _findings(conn)
    fp = _fingerprints(conn)
    return [
        _s(capture), conn.get("id"), _s(conn.get("transport") or "tcp"), endpoint(conn.get("client")),
        endpoint(conn.get("server")), _s(conn.get("sni")), _s(conn.get("version_name")),
        _s(conn.get("cipher_suite_name")), _s(conn.get("group_name")), _s(conn.get("alpn")),
        max((severity_rank(f.get("severity")) for f in findings), default=0), len(findings),
        _s(fp.get("ja4")), state(conn), " ".join(_tags(conn)),
    ]


# ---------------------------------------------------------------------------------------------- ladder


def _ext(msg: dict[str, Any], name: str) -> dict[str, Any]:
    for e in msg.get("extensions") or ():
        if isinstance(e, dict) and e.get("name") == name:
            return e
    return {}


def _short_version(name: Any) -> str:
    s = _s(name)
    return s[4:] if s.startswith("TLSv") else s


def _names(values: Any) -> list[str]:
    return [_s(v) for v in values or () if not str(v).startswith("GREASE")]


def message_notes(m: dict[str, Any]) -> list[str]:
    """Key facts of one message, most important first (the JSON twin of render/facts.entry_facts)."""
    name = m.get("name")
    out: list[str] = []
    if m.get("malformed"):
        out.append(f"MALFORMED: {_s(m['malformed'])}")
    if m.get("records") is not None:  # a run of opaque records
        role = str(m.get("role"))
        if m.get("decrypted"):
            what = {"early_data": "0-RTT early data", "handshake": "handshake flight"}.get(role, "application data")
            return out + [f"decrypted {what}, {m.get('length')} bytes"]
        what = {"early_data": "0-RTT early data", "handshake": "encrypted handshake flight"}.get(role, "encrypted")
        return out + [f"{what}, {m.get('length')} bytes"]
    if name == "ClientHello":
        sni = _ext(m, "server_name").get("host_name")
        if sni is not None:
            out.append(f"SNI {_s(sni)}")
        versions = _ext(m, "supported_versions").get("version_names") or [m.get("legacy_version_name")]
        out.append("versions " + ",".join(_short_version(v) for v in _names(versions)))
        shares = _ext(m, "key_share").get("group_names")
        if shares:
            out.append("key_share " + ",".join(_names(shares)))
        alpn = _ext(m, "application_layer_protocol_negotiation").get("protocols")
        if alpn:
            out.append("ALPN " + ",".join(_s(p) for p in alpn))
        if _ext(m, "pre_shared_key"):
            out.append("PSK offered")
        if _ext(m, "early_data"):
            out.append("early_data")
        if "TLS_FALLBACK_SCSV" in (m.get("cipher_suite_names") or ()):
            out.append("TLS_FALLBACK_SCSV")
        if m.get("sslv2"):
            out.append("SSLv2-format hello")
    elif name == "HelloRetryRequest" or m.get("hello_retry_request"):
        group = _ext(m, "key_share").get("selected_group_name")
        out.append(f"retry with {_s(group)}" if group else "retry")
    elif name == "ServerHello":
        selected = _ext(m, "supported_versions").get("selected_version_name") or m.get("legacy_version_name")
        out += [_short_version(selected), _s(m.get("cipher_suite_name"))]
        group = _ext(m, "key_share").get("group_name")
        if group:
            out.append(_s(group))
        alpn = _ext(m, "application_layer_protocol_negotiation").get("protocols")
        if alpn:
            out.append("ALPN " + _s(alpn[0]))
        if _ext(m, "pre_shared_key"):
            out.append("PSK accepted")
        if m.get("downgrade_sentinel"):
            out.append(f"DOWNGRADE SENTINEL ({_s(m['downgrade_sentinel'])})")
    elif name == "EncryptedExtensions":
        alpn = _ext(m, "application_layer_protocol_negotiation").get("protocols")
        if alpn:
            out.append("ALPN " + _s(alpn[0]))
    elif name == "Certificate" and isinstance(m.get("certificates"), list):
        out.append(f"chain of {len(m['certificates'])}")
    elif name == "ServerKeyExchange":
        if m.get("named_curve_name"):
            out.append(_s(m["named_curve_name"]))
        if m.get("dh_bits"):
            out.append(f"DH {m['dh_bits']} bits")
        if m.get("signature_scheme_name"):
            out.append(_s(m["signature_scheme_name"]))
    elif name == "NewSessionTicket" and m.get("lifetime") is not None:
        out.append(f"lifetime {m['lifetime']}s, ticket {m.get('ticket_length')} bytes")
    elif _is_alert(m) and m.get("level_name"):
        out.append(f"{_s(m['level_name'])} {_s(m.get('description_name'))}")
    elif m.get("heartbeat_type") is not None:
        kind = "request" if m["heartbeat_type"] == HEARTBEAT_REQUEST else "response"
        out.append(f"{kind}, claims {m.get('payload_length')} bytes")
        if m.get("overclaimed"):
            out.append("HEARTBLEED-SHAPED")
    elif m.get("encrypted") and m.get("type") is None:
        out.append(f"{m.get('length')} bytes")
    return out


def _is_alert(m: dict[str, Any]) -> bool:
    ct = m.get("content_type")
    return m.get("name") in ("Alert", "EncryptedAlert") or (
        isinstance(ct, int) and registry.content_type_name(ct) == "alert")


def _retransmissions(m: dict[str, Any]) -> int:
    """How often a message was seen again (DTLS flights, QUIC CRYPTO): `retransmissions` or a
    `retransmission` flag, whichever the producer wrote."""
    count = m.get("retransmissions")
    if isinstance(count, int) and not isinstance(count, bool):
        return count
    flag = m.get("retransmission")
    return int(flag) if isinstance(flag, (bool, int)) else 0


def _classes(m: dict[str, Any]) -> list[str]:
    name = m.get("name")
    cls = []
    if m.get("records") is not None:
        cls.append("run")
    if m.get("decrypted"):
        cls.append("dec")
    elif m.get("encrypted"):
        cls.append("enc")
    if name == "HelloRetryRequest" or m.get("hello_retry_request"):
        cls.append("hrr")
    if _is_alert(m):
        cls.append("alert")
        if m.get("level_name") == "fatal":
            cls.append("fatal")
    if m.get("malformed") or m.get("downgrade_sentinel"):
        cls.append("warn")
    if m.get("role") == "early_data":
        cls.append("early")
    if _retransmissions(m):
        cls.append("retrans")
    return cls


def _frames(m: dict[str, Any]) -> str:
    first, last = m.get("frame"), m.get("last_frame")
    if last is not None and last != first:
        return f"{first}-{last}"
    return "" if first is None else str(first)


def _about_certificates(rule_id: str) -> bool:
    """Certificate findings are marked on the Certificate row, the others on their frame's first row."""
    return rule_id.startswith("CERT-") or rule_id == "POLICY-CERT"


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) else None


def start_time(conn: dict[str, Any]) -> float | None:
    """Capture time of the connection's first message (what the ladder's times count from)."""
    times = [t for t in (_number(m.get("ts")) for m in conn.get("messages") or () if isinstance(m, dict)) if t is not None]
    return min(times) if times else None


def ladder(conn: dict[str, Any], t0: float | None = None) -> list[dict[str, Any]]:
    """One row per message (a run of opaque records is one row), gaps where their frame falls.

    Row keys: `kind` (msg, gap), `from` (client, server), `label`, `frame`, `t` (seconds since the
    first message), `note` (cut to NOTE_LIMIT; `full` holds the whole when cut), `cls`, `marks`
    ([finding id, severity] pointing at this row), `retrans`."""
    messages = [m for m in conn.get("messages") or () if isinstance(m, dict)]
    if t0 is None:
        t0 = start_time(conn) or 0.0
    marks: dict[Any, list[tuple[str, str]]] = {}
    for f in _findings(conn):
        if f.get("frame") is not None and f.get("severity") != "info":
            marks.setdefault(f["frame"], []).append((_s(f.get("id")), _s(f.get("severity"))))
    placed: set[tuple[Any, str]] = set()
    rows: list[tuple[float, int, dict[str, Any]]] = []
    for i, m in enumerate(messages):
        name = _s(m.get("name") or "?")
        records = m.get("records")
        label = f"{name} ×{records}" if isinstance(records, int) and records > 1 else name
        notes = message_notes(m)
        ts = _number(m.get("ts"))
        row_: dict[str, Any] = {"kind": "msg", "from": "client" if m.get("from") == "client" else "server",
                                "label": label, "frame": _frames(m), "t": "" if ts is None else f"{ts - t0:.6f}",
                                "cls": _classes(m)}
        if m.get("decrypted") and m.get("records") is None:
            notes.insert(0, "decrypted")
        retrans = _retransmissions(m)
        if retrans:
            row_["retrans"] = retrans
            notes.append("retransmitted" + (f" ×{retrans}" if retrans > 1 else ""))
        frame = m.get("frame")
        cert_row = name == "Certificate"
        here = [(fid, sev) for fid, sev in marks.get(frame, ()) if _about_certificates(fid) == cert_row
                and (frame, fid) not in placed]
        placed.update((frame, fid) for fid, _ in here)
        if here:
            row_["marks"] = [list(x) for x in here]
        note = "; ".join(notes)
        row_["note"] = _cut(note)
        if len(note) > NOTE_LIMIT:
            row_["full"] = note
        rows.append((frame if isinstance(frame, (int, float)) else math.inf, i, row_))
    for j, g in enumerate(conn.get("gaps") or ()):
        if not isinstance(g, dict):
            continue
        side = "client" if g.get("from") == "client" else "server"
        frame = g.get("frame")
        rows.append((frame if isinstance(frame, (int, float)) else math.inf, -1, {
            "kind": "gap", "from": side, "label": "TCP gap", "frame": "" if frame is None else str(frame), "t": "",
            "cls": ["gap"], "note": f"{g.get('length')} bytes from {side} never captured"}))
    rows.sort(key=lambda r: (r[0], r[1]))  # a gap goes before the messages of the frame that resumed the stream
    return [r for _, _, r in rows]


def utc(ts: float | None, fmt: str = "%Y-%m-%d %H:%M:%S.%f UTC") -> str:
    if ts is None:
        return ""
    try:
        return datetime.fromtimestamp(ts, timezone.utc).strftime(fmt)
    except (OverflowError, OSError, ValueError):
        return ""


# ----------------------------------------------------------------------------------------- facts


def _yes(value: Any) -> str:
    return "yes" if value is True else "no" if value is False else _s(value)


def _list(values: Any) -> str:
    return ", ".join(_s(v) for v in values) if isinstance(values, list) else _s(values)


def facts(conn: dict[str, Any]) -> list[list[str]]:
    """[label, value] pairs, in reading order; absent facts are left out."""
    out: list[list[str]] = []

    def add(label: str, value: Any) -> None:
        if value not in (None, "", []):
            out.append([label, value if isinstance(value, str) else _s(value)])

    add("transport", _s(conn.get("transport")))
    add("client", endpoint(conn.get("client")))
    add("server", endpoint(conn.get("server")))
    add("roles from", _s(conn.get("roles_from")))
    add("SNI", _s(conn.get("sni")))
    add("version", _s(conn.get("version_name")))
    add("versions offered", _list(conn.get("versions_offered_names")))
    add("cipher suite", _s(conn.get("cipher_suite_name")))
    add("group", _s(conn.get("group_name")))
    add("key shares offered", _list(conn.get("key_share_group_names")))
    add("groups offered", _list(conn.get("groups_offered_names")))
    add("ALPN", _s(conn.get("alpn")))
    add("ALPN offered", _list(conn.get("alpn_offered")))
    if conn.get("hello_retry_request"):
        add("HelloRetryRequest", "yes" + (f", for {_s(conn.get('hrr_group_name'))}" if conn.get("hrr_group_name") else ""))
    if "resumption_offered" in conn:
        add("resumption offered", _list(conn.get("resumption_offered")) or "no")
    if "resumed" in conn:
        add("resumed", _s(conn.get("resumed")) or "no")
    if conn.get("early_data_offered"):
        accepted = conn.get("early_data_accepted")
        add("0-RTT early data", "offered, " + ("acceptance unknown" if accepted is None
                                               else "accepted" if accepted else "rejected"))
    add("downgrade sentinel", _s(conn.get("downgrade_sentinel")))
    if conn.get("fallback_scsv"):
        add("TLS_FALLBACK_SCSV", "offered")
    if conn.get("renegotiation"):
        add("renegotiation", _s(conn.get("renegotiation")))
    add("state", state(conn))
    add("connection end", _s(conn.get("end")))
    add("history", _s(conn.get("history")))
    first, last = conn.get("first_frame"), conn.get("last_frame")
    if first is not None:
        add("frames", f"{first}-{last}" + (f" ({conn.get('packets')} packets)" if conn.get("packets") is not None else ""))
    b = conn.get("bytes")
    if isinstance(b, dict):
        add("bytes", f"client {b.get('client')}, server {b.get('server')}")
    fp = _fingerprints(conn)
    for key in ("ja4", "ja4_r", "ja3", "ja3_string", "ja3s", "ja3s_string"):
        add(key.upper().replace("_STRING", " string").replace("_R", "_r"), _s(fp.get(key)))
    return out


def footer_notes(conn: dict[str, Any]) -> list[str]:
    """What must stand out under the ladder: an unfinished handshake, anomalies, warnings."""
    notes = []
    failure, decryption = conn.get("failure"), conn.get("decryption")
    if isinstance(failure, dict):
        notes.append(f"handshake failed [{_s(failure.get('cause'))}]: {_s(failure.get('text'))}")
    elif conn.get("tls") is not False and not conn.get("complete"):
        notes.append(f"handshake not complete (connection ended: {_s(conn.get('end')) or 'capture end'})")
    if isinstance(decryption, dict):
        notes.append(f"decryption {_s(decryption.get('status'))} [{_s(decryption.get('reason'))}]: "
                     f"{_s(decryption.get('text'))}")
    if conn.get("downgrade_sentinel"):
        notes.append(f"downgrade sentinel {_s(conn['downgrade_sentinel'])} in ServerHello.random")
    notes += [_s(w) for w in conn.get("warnings") or ()]
    return notes


# -------------------------------------------------------------------------------- findings, certificates


def _evidence_value(value: Any) -> str:
    if isinstance(value, list):
        shown = ", ".join(_evidence_value(v) for v in value[:EVIDENCE_ITEMS])
        return shown + (f" (+{len(value) - EVIDENCE_ITEMS} more)" if len(value) > EVIDENCE_ITEMS else "")
    if isinstance(value, dict):
        return ", ".join(f"{_s(k)}: {_evidence_value(v)}" for k, v in value.items())
    return _yes(value)


def finding(f: dict[str, Any]) -> dict[str, Any]:
    ev = f.get("evidence")
    return {"severity": _s(f.get("severity")), "id": _s(f.get("id")), "title": _s(f.get("title")),
            "scope": _s(f.get("scope")), "frame": _s(f.get("frame")), "source": _s(f.get("source")),
            "evidence": [[_s(k), _evidence_value(v)] for k, v in ev.items()] if isinstance(ev, dict) else []}


def certificate(c: dict[str, Any], side: str, position: int, at: float | None) -> dict[str, Any]:
    """One certificate as the chain table shows it; `at` (capture time) judges its validity."""
    key = " ".join(x for x in (_s(c.get("key_type")), _s(c.get("key_bits")) + " bits" if c.get("key_bits") else "",
                               f"({_s(c.get('curve'))})" if c.get("curve") else "") if x)
    flags = [label for label, on in (("CA", c.get("ca")), ("self-signed", c.get("self_signed"))) if on]
    validity = ""
    stamp = utc(at, "%Y-%m-%dT%H:%M:%SZ")  # the form of not_before/not_after: compared as text
    if stamp and isinstance(c.get("not_after"), str) and c["not_after"] < stamp:
        validity = "expired at capture time"
    elif stamp and isinstance(c.get("not_before"), str) and c["not_before"] > stamp:
        validity = "not yet valid at capture time"
    return {"side": side, "position": position, "subject": _s(c.get("subject")), "issuer": _s(c.get("issuer")),
            "not_before": _s(c.get("not_before")), "not_after": _s(c.get("not_after")), "validity": validity,
            "key": key, "signature": _s(c.get("signature_algorithm")),
            "sans": [_s(x) for x in (c.get("san_dns") or []) + (c.get("san_ip") or [])],
            "sha256": _s(c.get("sha256")), "length": _s(c.get("length")), "flags": flags}


def certificates(conn: dict[str, Any], at: float | None) -> list[dict[str, Any]]:
    """Server then client chains, leaf first, judged at `at` (the capture's time)."""
    out = []
    for side, key in (("server", "certificates"), ("client", "client_certificates")):
        for i, c in enumerate(conn.get(key) or ()):
            if isinstance(c, dict):
                out.append(certificate(c, side, i, at))
    return out


def certificates_note(conn: dict[str, Any]) -> str:
    """Why a connection shows no certificate, when that is expected."""
    if conn.get("certificates") or conn.get("tls") is False:
        return ""
    if conn.get("version_name") in ("TLSv1.3", "DTLSv1.3") or conn.get("transport") == "quic":
        return "The certificate travels encrypted in TLS 1.3: give --keylog to see it."
    if conn.get("resumed"):
        return "A resumed session sends no certificate."
    return "No certificate was seen."


def detail(conn: dict[str, Any], capture: str = "") -> dict[str, Any]:
    """Everything the connection's section shows."""
    t0 = start_time(conn)
    client, server = endpoint(conn.get("client")), endpoint(conn.get("server"))
    head = [x for x in (_s(conn.get("sni")) and f"SNI {_s(conn.get('sni'))}", _s(conn.get("version_name")),
                        _s(conn.get("cipher_suite_name")), "HRR" if conn.get("hello_retry_request") else "",
                        _s(conn.get("resumed")) and f"resumed ({_s(conn.get('resumed'))})",
                        f"history {_s(conn.get('history')) or '-'}") if x]
    return {
        "capture": _s(capture), "id": conn.get("id"), "client": client, "server": server,
        "title": f"#{_s(conn.get('id'))}  {client} ⇄ {server}",
        "head": head, "start": utc(t0), "ladder": ladder(conn, t0), "notes": footer_notes(conn),
        "facts": facts(conn), "findings": [finding(f) for f in _findings(conn)],
        "certificates": certificates(conn, t0), "certificates_note": certificates_note(conn),
    }
