"""Encrypted Client Hello, judged from what the wire shows (RFC 9849): offered, real or GREASE, accepted.

With ECH the ClientHello on the wire is the outer one: its SNI is the client-facing server's public
name, never the destination. What can be told apart without the client's ECH secrets:
- the server's HelloRetryRequest carries an encrypted_client_hello confirmation only when it
  accepted ECH (GREASE ECH is never accepted): kind `real`, accepted;
- a ClientHello whose encrypted_client_hello is of type inner is an inner hello (the backend side
  of split mode): kind `real`, and its SNI is the destination;
- the server's EncryptedExtensions (decrypted with the key log) carry retry_configs only when it
  did not accept the offer: accepted false (a GREASE offer gets them too, so the kind stays open).
GREASE ECH is built to look exactly like a real offer (random config_id, enc and payload of the
usual sizes), so otherwise the kind is `unknown`. Decrypting the inner hello needs the HPKE
secrets some clients log (ECH_SECRET, ECH_CONFIG): not done yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from analyzer.model import Connection, Entry
from analyzer.registry.codes import EXT_ENCRYPTED_CLIENT_HELLO
from analyzer.tls.messages import EncryptedExtensions

OUTER: Final = 0
INNER: Final = 1
KINDS: Final = ("real", "grease", "unknown")


@dataclass(frozen=True, slots=True)
class Ech:
    kind: str
    accepted: bool | None  # None: the wire does not say
    outer_sni: bool  # the connection's SNI is the public (outer) name, not the destination
    offer: dict[str, Any]  # what the ClientHello's extension shows: config_id, kdf_id, aead_id, sizes
    evidence: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"offered": True, "kind": self.kind, "accepted": self.accepted, "outer_sni": self.outer_sni,
                "offer": self.offer, "evidence": self.evidence}


def explain_ech(conn: Connection) -> Ech | None:
    """The connection's ECH, when its (first) ClientHello offered it; None otherwise."""
    if not conn.client_hellos:
        return None
    ext = conn.client_hellos[0].body.ext(EXT_ENCRYPTED_CLIENT_HELLO)
    if ext is None:
        return None
    fields = dict(ext.fields)
    if fields.get("ech_type") == INNER:
        return Ech("real", None, False, fields, [
            "the ClientHello's encrypted_client_hello is of type inner: this is an inner hello (the backend "
            "side of split mode), so its SNI is the destination"])
    evidence = [f"ClientHello offers ECH (config_id {fields.get('config_id')}, KDF {fields.get('kdf_id')}, "
                f"AEAD {fields.get('aead_id')}, {fields.get('enc_length')}-byte enc, "
                f"{fields.get('payload_length')}-byte payload): the SNI is the outer (public) name"]
    kind, accepted = "unknown", None
    hrr = next((m for m in conn.server_hellos if m.body.hello_retry_request), None)
    if hrr is not None and hrr.body.ext(EXT_ENCRYPTED_CLIENT_HELLO) is not None:
        kind, accepted = "real", True
        evidence.append(f"the HelloRetryRequest (frame {hrr.frame}) carries an ECH confirmation: the server "
                        "accepted ECH, which it never does for GREASE")
    for e in conn.entries:
        if isinstance(e, Entry) and e.side == "server" and isinstance(e.msg.body, EncryptedExtensions):
            retry = next((x for x in e.msg.body.extensions if x.type == EXT_ENCRYPTED_CLIENT_HELLO), None)
            if retry is not None:
                accepted = False
                evidence.append(f"EncryptedExtensions (frame {e.msg.frame}) carry retry_configs: the server did "
                                "not accept the offer (real with a stale config, or GREASE)")
            elif accepted is None and conn.complete:
                evidence.append(f"EncryptedExtensions (frame {e.msg.frame}) carry no retry_configs")
    if kind == "unknown":
        evidence.append("GREASE ECH looks like a real offer on the wire: the kind stays unknown")
    return Ech(kind, accepted, True, fields, evidence)
