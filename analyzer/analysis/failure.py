"""Why a handshake did not complete: a connection's facts -> where it stopped, the evidence, and one
cause by id.

The ids are a public contract (the JSON schema lists them; README "Why a handshake failed" gives
each one's evidence rule). The cause is read from the first thing that ended the handshake, in
frame order: a fatal alert, an RST or a FIN (what follows, like a client's decode_error alert after
the server closed, is evidence, not the cause); with none of those, the capture ended first. An
alert we cannot read (encrypted, no key log) is evidence only. A TLS 1.3 alert without the key log
is an opaque application-data record: such a handshake looks complete until it is decrypted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from analyzer import registry
from analyzer.model import Connection, Entry
from analyzer.registry.codes import CT_HANDSHAKE
from analyzer.wording import ends, plural

# alerts by their IANA names (RFC 8446 6.2, RFC 7507, RFC 6066)
CERTIFICATE_ALERTS: Final = frozenset({"bad_certificate", "unsupported_certificate", "certificate_revoked",
                                       "certificate_expired", "certificate_unknown", "unknown_ca"})
REFUSALS: Final = frozenset({"handshake_failure", "insufficient_security"})

CAUSES: Final = {
    "version_mismatch": "the {side} refused the protocol version (alert protocol_version): the two sides have no "
                        "version in common (the client offered {offered})",
    "no_shared_parameters": "the server refused the ClientHello (alert {alert}) before any ServerHello: nothing "
                            "it accepts among the client's {suites}, groups or signature algorithms",
    "certificate_rejected": "the {side} rejected the {whose} certificate (alert {alert})",
    "sni_not_recognised": "the server does not serve the name the client asked for (alert unrecognized_name; "
                          "SNI {sni})",
    "inappropriate_fallback": "the server refused a fallback connection (alert inappropriate_fallback): the client "
                              "retried with a lower version while the server supports a higher one",
    "fatal_alert": "the {side} ended the handshake with a fatal alert {alert}",
    "connection_reset": "the {side} reset the connection (TCP RST) before the handshake finished (a middlebox "
                        "can send one in the {side}'s name)",
    "closed_by_peer": "the {side} closed the connection (FIN) before the handshake finished, without an alert",
    "capture_incomplete": "the capture does not hold the rest of the handshake: {how}",
}


@dataclass(frozen=True, slots=True)
class Failure:
    """A handshake that did not complete, judged: its cause id and words, where it stopped, the evidence."""

    cause: str
    text: str
    stopped_after: dict[str, Any] | None  # {"message", "from", "frame"}: the last handshake message seen
    evidence: list[dict[str, Any]] = field(default_factory=list)  # {"kind", "from", "frame", "text"}, by frame

    def to_json(self) -> dict[str, Any]:
        return {"cause": self.cause, "text": self.text, "stopped_after": self.stopped_after,
                "evidence": self.evidence}


def _evidence(conn: Connection) -> list[dict[str, Any]]:
    """Alerts, resets, closes, capture ends and gaps, in frame order."""
    out: list[dict[str, Any]] = []
    for a in conn.alerts:
        if a.level is None:
            out.append({"kind": "alert", "from": a.side, "frame": a.frame, "text": "encrypted alert"})
        else:
            out.append({"kind": "alert", "from": a.side, "frame": a.frame,
                        "text": f"{registry.alert_level_name(a.level)} alert "
                                f"{registry.alert_description_name(a.description or 0)}"})
    if conn.reset_by is not None:
        frame = min((f for how, f in conn.ends.values() if how == "rst"), default=conn.last_frame)
        out.append({"kind": "rst", "from": conn.reset_by, "frame": frame, "text": "TCP RST"})
    for side, (how, frame) in conn.ends.items():
        if how == "fin":
            out.append({"kind": "fin", "from": side, "frame": frame, "text": "TCP FIN"})
    for g in conn.gaps:
        out.append({"kind": "gap", "from": g.side, "frame": g.frame,
                    "text": f"{plural(g.length, 'byte')} lost in a capture gap"})
    if conn.end_reason not in ("fin", "rst", "") or not conn.ends:
        out.append({"kind": "end", "from": None, "frame": conn.last_frame, "text": ends(conn.end_reason or "capture end")})
    out.sort(key=lambda e: (e["frame"], e["kind"] != "alert"))
    return out


def _stopped_after(conn: Connection) -> dict[str, Any] | None:
    last = None
    for e in conn.entries:
        if isinstance(e, Entry) and e.msg.content_type == CT_HANDSHAKE:
            last = e
    if last is None:
        return None
    name = "encrypted handshake message" if last.msg.type is None else last.msg.name
    return {"message": name, "from": last.side, "frame": last.msg.frame}


def _other(side: str) -> str:
    return "server" if side == "client" else "client"


def _alert_cause(conn: Connection, side: str, description: int) -> tuple[str, dict[str, object]]:
    alert = registry.alert_description_name(description)
    if alert == "protocol_version":
        offered = ", ".join(registry.version_name(v) for v in conn.versions_offered) or "nothing readable"
        return "version_mismatch", {"side": side, "offered": offered}
    if alert == "inappropriate_fallback":
        return "inappropriate_fallback", {}
    if alert == "unrecognized_name":
        return "sni_not_recognised", {"sni": repr(conn.sni) if conn.sni is not None else "none sent"}
    if alert in CERTIFICATE_ALERTS:
        return "certificate_rejected", {"side": side, "whose": f"{_other(side)}'s", "alert": alert}
    if alert in REFUSALS and side == "server" and conn.server_hello is None:
        suites = len(conn.client_hellos[0].body.cipher_suites) if conn.client_hellos else 0
        return "no_shared_parameters", {"alert": alert, "suites": plural(suites, "cipher suite")}
    return "fatal_alert", {"side": side, "alert": alert}


def diagnose_failure(conn: Connection) -> Failure | None:
    """Why the connection's handshake did not complete; None when it did (or it is not TLS)."""
    if not conn.tls or conn.complete:
        return None
    evidence = _evidence(conn)
    cause = "capture_incomplete"
    fields: dict[str, object] = {"how": ""}
    for e in evidence:
        kind, side = e["kind"], e["from"]
        if kind == "alert" and e["text"].startswith("fatal"):
            alert = next(a for a in conn.alerts if a.frame == e["frame"] and a.side == side)
            cause, fields = _alert_cause(conn, side, alert.description or 0)
            break
        if kind == "rst":
            cause, fields = "connection_reset", {"side": side}
            break
        if kind == "fin":
            cause, fields = "closed_by_peer", {"side": side}
            break
    if cause == "capture_incomplete":
        gaps = [e for e in evidence if e["kind"] == "gap"]
        fields["how"] = (f"{gaps[0]['text']} (frame {gaps[0]['frame']})" if gaps
                         else f"{ends(conn.end_reason or 'capture end')} at frame {conn.last_frame}")
    return Failure(cause, CAUSES[cause].format(**fields), _stopped_after(conn), evidence)
