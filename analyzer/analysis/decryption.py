"""Why a connection did or did not decrypt: its decryption facts -> a status and one reason, by id.

The ids are a public contract (the JSON schema lists them as enums; README "Why it did not
decrypt" documents each with its evidence rule). Rules are tried in the order of REASONS: the
first that holds is the answer, so a cause that hides the others comes first (no ClientHello
means no random to look up; no line for the random means nothing else can be said).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from analyzer import registry
from analyzer.model import Connection, DataRun, DecryptionFacts
from analyzer.registry.codes import EXT_ENCRYPTED_CLIENT_HELLO
from analyzer.tls.keys import CLIENT_EARLY, EARLY_UNKEYED, HANDSHAKE, TRAFFIC_0
from analyzer.wording import plural

STATUSES: Final = ("decrypted", "partial", "failed", "no_keys", "not_needed")
TLS12_LABELS: Final = frozenset({"CLIENT_RANDOM"})

# id -> (status when it is the answer, the words; {fields} filled in by `diagnose`)
REASONS: Final = {
    "nothing_encrypted": ("not_needed", "no protected record was sent: there was nothing to decrypt"),
    "handshake_not_captured": ("no_keys", "the handshake before the keys was not captured: {what}"),
    "no_keylog_line": ("no_keys", "the key log has no line for this client random ({random})"),
    "ech_inner_random": ("no_keys", "the key log has no line for this client random ({random}), and the "
                                    "ClientHello offered ECH: a client logs the random of its inner ClientHello, "
                                    "which travels encrypted (--explain-keylog lists the randoms no connection used)"),
    "other_version_labels": ("no_keys", "the key log has only {have} lines for this client random, and this "
                                        "connection is {version}: it needs {need}"),
    "unsupported_suite": ("failed", "cipher suite {suite} cannot be decrypted: its records stay opaque"),
    "early_secret_missing": ("partial", "the client's 0-RTT data needs CLIENT_EARLY_TRAFFIC_SECRET, which the key "
                                        "log lacks: {count} stay opaque"),
    "decrypt_failed": ("failed", "the {side}'s record in frame {at} does not decrypt: {why}; no gap before it, "
                                 "so the key does not fit (a key log from another session?)"),
    "decrypt_failed_after_gap": ("failed", "the {side}'s record in frame {at} does not decrypt: {why}; bytes of "
                                           "the {side} were lost in a capture gap before it"),
    "handshake_secrets_missing": ("failed", "the key log has the traffic secrets but not "
                                            "{missing}: the encrypted handshake stays opaque, and with it "
                                            "the switch to the traffic keys"),
    "traffic_secrets_missing": ("partial", "the handshake decrypted, but the key log lacks {missing}: "
                                           "the application data stays opaque"),
    "records_opaque": ("partial", "{count} from the {side} stayed opaque: the key log has "
                                  "no secret for them"),
    "all_decrypted": ("decrypted", "every protected record decrypted"),
}


@dataclass(frozen=True, slots=True)
class Decryption:
    """A connection's decryption, judged: status, reason id, the reason in words, and the frame
    it points at (a record that failed), if any."""

    status: str
    reason: str
    text: str
    frame: int | None = None

    def to_json(self, facts: DecryptionFacts) -> dict[str, object]:
        return {"status": self.status, "reason": self.reason, "text": self.text, "frame": self.frame,
                "labels": facts.labels, "decrypted": facts.decrypted, "opaque": facts.opaque}


def _answer(reason: str, frame: int | None = None, decrypted: int = 0, **fields: object) -> Decryption:
    """The reason's status and words; a reason that leaves records opaque is `partial` when some
    others did decrypt, `failed` when none did."""
    status, words = REASONS[reason]
    if status in ("partial", "failed"):
        status = "partial" if decrypted else "failed"
    return Decryption(status, reason, words.format(**fields), frame)


def diagnose(conn: Connection) -> Decryption | None:
    """The connection's decryption status and reason; None when no key log was given."""
    facts = conn.decryption
    if facts is None:
        return None
    decrypted = sum(facts.decrypted.values())
    opaque = sum(facts.opaque.values())
    if not decrypted and not opaque:
        return _answer("nothing_encrypted")
    if not facts.client_random or not conn.client_hellos:
        return _answer("handshake_not_captured", what="no ClientHello, so no client random to find the keys by")
    labels = set(facts.labels)
    if not labels and not facts.rsa_premaster:
        hello = conn.client_hellos[0].body
        reason = "ech_inner_random" if hello.ext(EXT_ENCRYPTED_CLIENT_HELLO) is not None else "no_keylog_line"
        return _answer(reason, random=hello.random.hex())
    if conn.server_hello is None:
        return _answer("handshake_not_captured", what="no ServerHello, so no cipher suite and no server random "
                                                      "to derive the keys with")
    tls13 = registry.is_tls13(conn.version)
    if conn.version is not None and not facts.rsa_premaster and not (labels - TLS12_LABELS if tls13
                                                                     else labels & TLS12_LABELS):
        return _answer("other_version_labels", have="TLS 1.2" if labels <= TLS12_LABELS else "TLS 1.3",
                       version=registry.version_name(conn.version),
                       need="the TLS 1.3 traffic secrets" if tls13 else "a CLIENT_RANDOM or RSA line")
    if facts.suite_supported is False and facts.suite is not None:
        return _answer("unsupported_suite", None, decrypted, suite=registry.cipher_suite_name(facts.suite))
    early_opaque = sum(1 for e in conn.entries if isinstance(e, DataRun) and e.role == "early_data" and not e.decrypted)
    if early_opaque and CLIENT_EARLY not in labels:
        return _answer("early_secret_missing", None, decrypted, count=plural(early_opaque, "early record"))
    failures = [f for f in facts.failures if f.reason != EARLY_UNKEYED]
    if failures:
        first = min(failures, key=lambda f: f.frame)
        reason = "decrypt_failed_after_gap" if first.after_gap else "decrypt_failed"
        return _answer(reason, first.frame, decrypted, side=first.side, at=first.frame, why=first.reason)
    if tls13:
        missing_hs = [label for label in HANDSHAKE if label not in labels]
        missing_app = [label for label in TRAFFIC_0 if label not in labels]
        if missing_hs and not decrypted:
            return _answer("handshake_secrets_missing", missing=" and ".join(missing_hs))
        if missing_app and opaque:
            return _answer("traffic_secrets_missing", None, decrypted, missing=" and ".join(missing_app))
    if opaque:
        side = max(facts.opaque, key=lambda s: facts.opaque[s])
        return _answer("records_opaque", None, decrypted, count=plural(facts.opaque[side], "protected record"), side=side)
    return _answer("all_decrypted")
