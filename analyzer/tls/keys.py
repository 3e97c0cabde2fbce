"""Which record key each side uses when, given a key log: the TLS key-schedule state machine.

Sans-IO like the rest of the core: the connection tells it what it saw (hellos, ChangeCipherSpec,
Finished, EndOfEarlyData, KeyUpdate, ClientKeyExchange) and asks it to decrypt records. Secrets
come from the key log; the ciphers are `analyzer.tls.decrypt` (only `cryptography` primitives).
The AEAD tag settles every ambiguity: 0-RTT data before the ServerHello is tried with each TLS 1.3
suite, and a client whose early data was refused moves to its handshake key on its own.
"""

from __future__ import annotations

from typing import Any

from analyzer import registry
from analyzer.registry.codes import EXT_EARLY_DATA, EXT_ENCRYPT_THEN_MAC, EXT_EXTENDED_MASTER_SECRET, HS_HELLO_REQUEST

CLIENT_EARLY = "CLIENT_EARLY_TRAFFIC_SECRET"
HANDSHAKE = ("CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET")
TRAFFIC_0 = ("CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0")
TLS13_SUITES = (0x1301, 0x1302, 0x1303, 0x1304, 0x1305)
EARLY_UNKEYED = "0-RTT data, and the key log has no CLIENT_EARLY_TRAFFIC_SECRET"
TRANSCRIPT_MAX = 4 << 20  # handshake bytes kept for an RFC 7627 session hash


def unsupported(suite: int, version: int) -> str:
    from analyzer import registry

    name = registry.cipher_suite_name(suite)
    named = f"{name} (0x{suite:04X})" if not name.startswith("unknown") else f"0x{suite:04X}"
    return f"cannot decrypt: cipher suite {named} is not supported for decryption at " \
           f"{registry.version_name(version)}; its records stay opaque"


def _tls13(version: int | None) -> bool:
    return registry.is_tls13(version)


class KeyState:
    """Per connection; sides are wire directions, `client_side` says which one is the client."""

    def __init__(self, keylog: Any) -> None:
        self.keylog = keylog
        self.client_random: bytes | None = None
        self.server_random: bytes | None = None
        self.secrets: dict[str, bytes] = {}
        self.suite: int | None = None
        self.version: int | None = None
        self.client_side = 0
        self.current: list[Any] = [None, None]  # the RecordCipher in force, per side
        self.fallback: list[Any] = [None, None]  # tried when `current` fails (refused 0-RTT)
        self.secret: list[bytes | None] = [None, None]  # TLS 1.3 secret of `current`, for KeyUpdate
        self.early: bytes | None = None  # client early traffic secret, suite not known yet
        self.early_unkeyed = False  # 0-RTT offered, its secret not in the key log: those records stay opaque
        self.tls12_pair: tuple[Any, Any] | None = None
        self.encrypt_then_mac = False
        self.extended_master_secret = False
        self.transcript: list[bytes] | None = None  # handshake so far, for RSA lines with EMS
        self.transcript_bytes = 0
        self.notes: list[str] = []  # what could not be done, for the connection to report once
        self.rsa_keyed = False  # the TLS <= 1.2 keys came from an RSA premaster line
        self.labels: set[str] = set()  # key-log labels found for any hello of the connection (renegotiation)

    # -- what the connection saw ----------------------------------------------------------------

    def client_hello(self, side: int, ch: Any) -> None:
        """A hello with a new random after a ServerHello is a renegotiation: new secrets from the
        key log, while the old keys stay in force until each side's next ChangeCipherSpec."""
        if self.client_random is not None and (self.server_random is None or ch.random == self.client_random):
            return  # the second hello after an HelloRetryRequest; SSLv2-format hellos key the same
        self.client_side = side
        self.client_random = ch.random
        self.server_random = self.suite = self.tls12_pair = None
        self.secrets = self.keylog.secrets_for(ch.random)
        self.labels.update(self.secrets)
        self.transcript = [] if self.keylog.rsa else None
        self.transcript_bytes = 0
        if ch.ext(EXT_EARLY_DATA) is not None:
            self.early = self.secrets.get(CLIENT_EARLY)
            self.early_unkeyed = self.early is None

    def handshake_message(self, htype: int, body: bytes, message_seq: int | None = None) -> None:
        """Every handshake message in wire order, kept only while an RSA key-log line may need the
        RFC 7627 session hash (ending with the ClientKeyExchange). DTLS gives `message_seq`: its
        transcript holds each message with the 12-byte header of one whole fragment (RFC 6347 4.2.6)."""
        if self.transcript is not None and htype != HS_HELLO_REQUEST:  # HelloRequest is not part of it
            n = len(body)
            self.transcript_bytes += 4 + n
            if self.transcript_bytes > TRANSCRIPT_MAX:  # no real handshake comes near: stop keeping it
                self.transcript = None
                self.notes.append(f"the handshake before the ClientKeyExchange is over {TRANSCRIPT_MAX} bytes: "
                                  "an RSA key-log line cannot be used with the extended master secret")
                return
            length = bytes((n >> 16, (n >> 8) & 0xFF, n & 0xFF))
            if message_seq is None:
                header = bytes((htype,)) + length
            else:
                header = bytes((htype,)) + length + message_seq.to_bytes(2, "big") + b"\0\0\0" + length
            self.transcript.append(header + body)

    def server_hello(self, sh: Any, version: int) -> None:
        if sh.hello_retry_request or self.client_random is None:
            return
        from analyzer.tls import decrypt

        self.server_random, self.suite, self.version = sh.random, sh.cipher_suite, version
        self.encrypt_then_mac = sh.ext(EXT_ENCRYPT_THEN_MAC) is not None
        self.extended_master_secret = sh.ext(EXT_EXTENDED_MASTER_SECRET) is not None
        if not decrypt.supported(sh.cipher_suite, version):
            if self.secrets:  # keys we would have used
                self.notes.append(unsupported(sh.cipher_suite, version))
            return
        if _tls13(version):
            c, s = self.client_side, 1 - self.client_side
            self._set13(s, HANDSHAKE[1])
            if self.current[c] is not None or self.early is not None or self.early_unkeyed:  # 0-RTT under way
                self.fallback[c] = self._cipher13(HANDSHAKE[0])
            else:
                self._set13(c, HANDSHAKE[0])
            return
        master = self.secrets.get("CLIENT_RANDOM")
        if master is not None:
            self._tls12(master)

    def client_key_exchange(self, body: bytes) -> None:
        """RSA key exchange: a key log may hold the premaster, named by its first encrypted bytes.
        Call after `handshake_message` has seen this ClientKeyExchange."""
        transcript, self.transcript = self.transcript, None
        if self.suite is None or self.version is None:
            return
        encrypted_premaster = body[:8] if self.version == 0x0300 else body[2:10]  # SSLv3: no length
        # looked up even when a CLIENT_RANDOM line keyed the session: the key log's summary counts it used
        premaster = self.keylog.rsa_premaster(encrypted_premaster, self.client_random)
        from analyzer.tls import decrypt

        if premaster is None or self.tls12_pair is not None:
            return
        if not decrypt.supported(self.suite, self.version):
            self.notes.append(unsupported(self.suite, self.version))
            return
        if self.client_random is None or self.server_random is None:
            return
        session_hash = None
        if self.extended_master_secret:
            if transcript is None:
                return
            session_hash = decrypt.session_hash(self.version, self.suite, b"".join(transcript))
        self._tls12(decrypt.tls12_master_secret(self.version, self.suite, premaster, self.client_random,
                                                self.server_random, session_hash))
        self.rsa_keyed = self.tls12_pair is not None

    def change_cipher_spec(self, side: int) -> bool:
        """TLS <= 1.2: this side protects its records from now on. True when we hold its key."""
        if self.tls12_pair is None:
            self.current[side] = None  # e.g. renegotiated to keys the log does not hold
            return False
        self.current[side] = self.tls12_pair[0 if side == self.client_side else 1]
        return True

    def finished(self, side: int) -> None:
        """TLS 1.3: after its Finished, a side moves to its application traffic secret (none in
        the key log: its records stay opaque from here)."""
        if _tls13(self.version):
            self.current[side] = None
            self._set13(side, TRAFFIC_0[0 if side == self.client_side else 1])

    def end_of_early_data(self, side: int) -> None:
        if self.fallback[side] is not None:
            self.current[side], self.fallback[side] = self.fallback[side], None

    def key_update(self, side: int) -> None:
        from analyzer.tls import decrypt

        old = self.secret[side]
        if _tls13(self.version) and old is not None and self.suite is not None:
            secret = decrypt.tls13_next_secret(self.suite, old)
            self.secret[side] = secret
            self.current[side] = decrypt.tls13_cipher(self.suite, secret)

    def facts(self, failures: tuple[tuple[int, int, str], ...]) -> Any:
        """The connection's KeyFacts (analyzer.tls.events), with the failures its records met."""
        from analyzer.tls import decrypt
        from analyzer.tls.events import KeyFacts

        supported = None if self.suite is None else decrypt.supported(self.suite, self.version)
        return KeyFacts(self.client_random is not None, tuple(sorted(self.labels)), self.rsa_keyed, self.suite,
                        supported, failures)

    # -- decrypting -------------------------------------------------------------------------------

    def can_decrypt(self, side: int) -> bool:
        return self.current[side] is not None or self.fallback[side] is not None or \
            (side == self.client_side and self.early is not None)

    def decrypt(self, side: int, content_type: int, version: int, body: bytes) -> tuple[int, bytes] | str:
        """(inner content type, plaintext), or the reason it could not be decrypted."""
        from analyzer.tls import decrypt

        if self.current[side] is None and side == self.client_side and self.early is not None:
            return self._early(content_type, version, body)
        reason = "no key for this record"
        for attempt in (self.current[side], self.fallback[side]):
            if attempt is None:
                continue
            try:
                result = attempt.decrypt(content_type, version, body)
            except decrypt.DecryptError as exc:
                reason = exc.reason
                continue
            if attempt is self.fallback[side]:
                self.current[side], self.fallback[side] = attempt, None
            return result
        if side == self.client_side and self.early_unkeyed and self.current[side] is None:
            return EARLY_UNKEYED  # 0-RTT data we hold no key for: the handshake key waits for the client's flight
        self.current[side] = self.fallback[side] = None  # back to opaque: one report, not one per record
        return reason

    def _early(self, content_type: int, version: int, body: bytes) -> tuple[int, bytes] | str:
        """0-RTT data: the suite is the resumed session's; the tag tells which one it is."""
        from analyzer.tls import decrypt

        secret, self.early = self.early, None
        if secret is None:
            return "no early traffic secret"
        for suite in ((self.suite,) if self.suite is not None else TLS13_SUITES):
            try:
                cipher = decrypt.tls13_cipher(suite, secret)
                result = cipher.decrypt(content_type, version, body)
            except (decrypt.DecryptError, ValueError):
                continue
            self.current[self.client_side] = cipher
            return result
        return "no TLS 1.3 suite decrypts the early data with the early traffic secret"

    def _cipher13(self, label: str) -> Any:
        from analyzer.tls import decrypt

        secret = self.secrets.get(label)
        return None if secret is None or self.suite is None else decrypt.tls13_cipher(self.suite, secret)

    def _set13(self, side: int, label: str) -> None:
        cipher = self._cipher13(label)
        if cipher is not None:
            self.current[side] = cipher
            self.secret[side] = self.secrets[label]

    def _tls12(self, master: bytes) -> None:
        from analyzer.tls import decrypt

        if self.version is None or self.suite is None or self.client_random is None or self.server_random is None:
            return
        self.tls12_pair = decrypt.tls12_ciphers(self.version, self.suite, master, self.client_random,
                                                self.server_random, self.encrypt_then_mac)
