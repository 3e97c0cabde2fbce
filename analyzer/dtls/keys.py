"""Which key opens which DTLS record, given a key log: ciphers by (sender, epoch).

DTLS records say their epoch, so unlike TLS over TCP no "current key" is followed: a record
retransmitted from an older epoch, or arriving before the message that changed keys, still finds
its key. The key schedules and ciphers are TLS's (analyzer.tls.keys / decrypt); what differs:
- DTLS 1.0/1.2: the 64-bit sequence number in the nonce and MAC is epoch(16) || sequence(48)
  (RFC 6347 4.1.2.1). Epoch 1 is the first handshake's key block, each renegotiation the next epoch.
- DTLS 1.3 (RFC 9147): epochs 1 early data, 2 handshake, 3 application traffic, 4+ after each
  KeyUpdate; labels start "dtls13"; the header carries only the epoch's low two bits and 8/16 bits of
  an encrypted sequence number: the record number key unmasks it, the epoch and the full number are
  those nearest to what the sender used last (RFC 9147 4.2.2), and the AEAD tag settles the choice.
"""

from __future__ import annotations

from typing import Any, Final

from analyzer import registry
from analyzer.dtls.records import DtlsRecord
from analyzer.dtls.versions import DTLS13, tls_equivalent
from analyzer.registry.codes import HS_HELLO_VERIFY_REQUEST
from analyzer.tls import decrypt
from analyzer.tls.keys import CLIENT_EARLY, HANDSHAKE, TRAFFIC_0, KeyState

MAX_EPOCH: Final = 3 + 32  # KeyUpdates followed per side; later epochs stay opaque
EPOCH_CANDIDATES: Final = 3  # epochs with the same low bits tried per record
SAMPLE: Final = 16  # RFC 9147 4.2.3: the mask is computed from the first 16 ciphertext bytes


class DtlsKeys:
    """Per connection; sides are wire directions, the client's is learnt from its ClientHello."""

    def __init__(self, keylog: Any) -> None:
        self.state = KeyState(keylog)  # the TLS 1.0-1.2 key block (CLIENT_RANDOM, RSA lines, EMS)
        self.version: int | None = None  # negotiated DTLS version
        self.suite: int | None = None
        self.client_side = 0
        self.ciphers: dict[tuple[int, int], decrypt.RecordCipher] = {}  # (role 0 client/1 server, epoch)
        self.ciphers13: dict[tuple[int, int], decrypt.RecordCipher] = {}  # the same, DTLS 1.3 (unified headers)
        self.pair: tuple[Any, Any] | None = None  # the TLS 1.2 pair already given an epoch
        self.next_epoch = 1
        self.secrets13: dict[tuple[int, int], bytes] = {}  # (role, epoch) -> traffic secret
        self.next_seq: dict[tuple[int, int], int] = {}  # (role, epoch) -> one past the last opened
        self.latest = [0, 0]  # per role: the newest epoch that opened a record

    # -- what the connection saw ----------------------------------------------------------------

    def client_hello(self, side: int, ch: Any) -> None:
        self.client_side = side
        self.state.client_hello(side, ch)

    def handshake_message(self, htype: int, body: bytes, message_seq: int) -> None:
        if htype == HS_HELLO_VERIFY_REQUEST:  # RFC 6347 4.2.6: the first ClientHello and HelloVerifyRequest are not hashed
            if self.state.transcript is not None:
                self.state.transcript = []
            return
        self.state.handshake_message(htype, body, message_seq)

    def server_hello(self, sh: Any, version: int) -> None:
        if sh.hello_retry_request:
            return
        self.version, self.suite = version, sh.cipher_suite
        tls = tls_equivalent(version) or 0
        if version == DTLS13:
            secrets = self.state.secrets
            self.secrets13 = {}
            for role in (0, 1):
                for epoch, label in ((2, HANDSHAKE[role]), (3, TRAFFIC_0[role])):
                    if label in secrets:
                        self.secrets13[(role, epoch)] = secrets[label]
            if CLIENT_EARLY in secrets:
                self.secrets13[(0, 1)] = secrets[CLIENT_EARLY]
            return
        info = registry.cipher_suite(sh.cipher_suite)
        if info is not None and info.mode == "STREAM":
            return  # RC4 cannot be used in DTLS (RFC 6347 4.1.2.2)
        self.state.server_hello(sh, tls)
        self._take_pair()

    def client_key_exchange(self, body: bytes) -> None:
        self.state.client_key_exchange(body)
        self._take_pair()

    def _take_pair(self) -> None:
        pair = self.state.tls12_pair
        if pair is not None and pair is not self.pair:
            self.pair = pair
            self.ciphers[(0, self.next_epoch)], self.ciphers[(1, self.next_epoch)] = pair
            self.next_epoch += 1

    # -- opening records --------------------------------------------------------------------------

    def role(self, side: int) -> int:
        return 0 if side == self.client_side else 1

    def can_open(self, side: int, rec: DtlsRecord) -> bool:
        """Do we hold a key this record may be under? (Without one it stays opaque, silently, as
        over TCP when the key log lacks a connection.)"""
        role = self.role(side)
        if rec.unified:
            return self.version == DTLS13 and any(self._cipher13(role, e) is not None
                                                  for e in self._epochs(role, rec.epoch))
        return (role, rec.epoch) in self.ciphers

    def open12(self, side: int, rec: DtlsRecord) -> tuple[int, bytes] | str:
        """(content type, plaintext) of a DTLS 1.0/1.2 record, or why not."""
        cipher = self.ciphers.get((self.role(side), rec.epoch))
        if cipher is None:
            return f"no key for epoch {rec.epoch}"
        cipher.seq = (rec.epoch << 48) | rec.seq
        try:
            return cipher.decrypt(rec.content_type or 0, rec.version, rec.body)
        except decrypt.DecryptError as exc:
            return exc.reason

    def open13(self, side: int, rec: DtlsRecord) -> tuple[int, int, int, bytes] | str:
        """(epoch, sequence number, inner content type, plaintext) of a unified-header record."""
        if len(rec.body) < SAMPLE:
            return f"record of {len(rec.body)} bytes, shorter than the 16-byte record number sample"
        role = self.role(side)
        reason = f"no key for an epoch ending in bits {rec.epoch}"
        for epoch in self._epochs(role, rec.epoch):
            cipher = self._cipher13(role, epoch)
            if cipher is None:
                continue
            width = rec.seq_bits // 8
            mask = int.from_bytes(cipher.record_number_mask(rec.body[:SAMPLE])[:width], "big")
            low = rec.seq ^ mask
            seq = _nearest(self.next_seq.get((role, epoch), 0), low, rec.seq_bits)
            at = 1 + len(rec.cid)  # the sequence number follows the first byte and the CID
            aad = rec.header[:at] + low.to_bytes(width, "big") + rec.header[at + width:]
            try:
                ct, plain = cipher.open13(aad, rec.body, seq)
            except decrypt.DecryptError as exc:
                reason = exc.reason
                continue
            key = (role, epoch)
            self.next_seq[key] = max(self.next_seq.get(key, 0), seq + 1)
            self.latest[role] = max(self.latest[role], epoch)
            return epoch, seq, ct, plain
        return reason

    def _epochs(self, role: int, bits: int) -> list[int]:
        """Epochs with these low bits we may hold keys for, nearest the sender's latest first."""
        top = min(MAX_EPOCH, max(3, self.latest[role] + 1))
        known = [e for e in range(1, top + 1) if e & 3 == bits]
        return sorted(known, key=lambda e: (abs(e - self.latest[role]), -e))[:EPOCH_CANDIDATES]

    def _cipher13(self, role: int, epoch: int) -> decrypt.RecordCipher | None:
        cipher = self.ciphers13.get((role, epoch))
        if cipher is not None or self.suite is None:
            return cipher
        secret = self.secrets13.get((role, epoch))
        if secret is None and epoch > 3 and self._cipher13(role, epoch - 1) is not None:
            # each KeyUpdate: the next secret from the one before (which that call derived)
            secret = self.secrets13[(role, epoch)] = decrypt.tls13_next_secret(
                self.suite, self.secrets13[(role, epoch - 1)], dtls=True)
        if secret is None:
            return None
        try:
            cipher = decrypt.tls13_cipher(self.suite, secret, dtls=True)
        except decrypt.DecryptError:
            return None
        self.ciphers13[(role, epoch)] = cipher
        return cipher


def _nearest(expected: int, low: int, bits: int) -> int:
    """The full sequence number ending in `low` closest to `expected` (RFC 9147 4.2.2)."""
    window = 1 << bits
    base = expected - expected % window + low
    candidates = (c for c in (base - window, base, base + window) if c >= 0)
    return min(candidates, key=lambda c: abs(c - expected))
