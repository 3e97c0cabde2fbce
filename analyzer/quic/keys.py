"""QUIC packet protection keys (RFC 9001 5, RFC 9369 3.3): HKDF-Expand-Label, the Initial secrets
from the client's Destination Connection ID, key/iv/hp from a TLS traffic secret, header
protection masks (AES-ECB or ChaCha20), AEAD open, key update, and the Retry integrity tag.

Only `cryptography` primitives. Nothing here keeps state beyond one key set; key material is
never in a repr.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305

from analyzer.quic.versions import Version

INITIAL_SUITE: Final = 0x1301  # Initial packets: AES-128-GCM with SHA-256 (RFC 9001 5.2)
CHACHA_SUITE: Final = 0x1303
# TLS 1.3 suite -> (hash, AEAD key length); hp keys are as long as the AEAD key
SUITES: Final[dict[int, tuple[str, int]]] = {0x1301: ("sha256", 16), 0x1302: ("sha384", 32),
                                            0x1303: ("sha256", 32), 0x1304: ("sha256", 16)}
TAG: Final = 16
SAMPLE: Final = 16


class OpenError(Exception):
    """The AEAD tag did not verify (wrong key, damaged packet, or not this packet type)."""


def hkdf_extract(salt: bytes, ikm: bytes, hash_name: str = "sha256") -> bytes:
    return hmac.new(salt, ikm, hash_name).digest()


def hkdf_expand_label(secret: bytes, label: str, context: bytes, length: int, hash_name: str = "sha256") -> bytes:
    """RFC 8446 7.1: HKDF-Expand(secret, HkdfLabel(length, "tls13 " + label, context), length)."""
    full = b"tls13 " + label.encode()
    info = length.to_bytes(2, "big") + bytes((len(full),)) + full + bytes((len(context),)) + context
    out = b""
    block = b""
    counter = 1
    while len(out) < length:
        block = hmac.new(secret, block + info + bytes((counter,)), hash_name).digest()
        out += block
        counter += 1
    return out[:length]


class PacketKeys:
    """One direction's packet protection for one key phase: AEAD key and IV, header protection key."""

    __slots__ = ("suite", "secret", "iv", "aead", "_hp_ecb", "_hp_key", "labels")

    def __init__(self, suite: int, secret: bytes, labels: str) -> None:
        hash_name, key_len = SUITES[suite]
        self.suite = suite
        self.labels = labels
        self.secret = secret  # kept for a key update
        key = hkdf_expand_label(secret, labels + "key", b"", key_len, hash_name)
        self.iv = hkdf_expand_label(secret, labels + "iv", b"", 12, hash_name)
        hp = hkdf_expand_label(secret, labels + "hp", b"", key_len, hash_name)
        self._hp_key = hp
        self.aead: Any = ChaCha20Poly1305(key) if suite == CHACHA_SUITE else \
            AESCCM(key) if suite == 0x1304 else AESGCM(key)
        self._hp_ecb: Any = None if suite == CHACHA_SUITE else Cipher(algorithms.AES(hp), modes.ECB()).encryptor()

    def __repr__(self) -> str:
        return f"PacketKeys(suite=0x{self.suite:04x})"

    def mask(self, sample: bytes) -> bytes:
        """RFC 9001 5.4.3/5.4.4: the 5-byte header protection mask for a 16-byte sample."""
        if self._hp_ecb is not None:
            return bytes(self._hp_ecb.update(sample)[:5])
        enc = Cipher(algorithms.ChaCha20(self._hp_key, sample), mode=None).encryptor()
        return bytes(enc.update(b"\x00" * 5))

    def open(self, pn: int, header: bytes, ciphertext: bytes) -> bytes:
        nonce = (int.from_bytes(self.iv, "big") ^ pn).to_bytes(12, "big")
        try:
            return bytes(self.aead.decrypt(nonce, ciphertext, header))
        except (InvalidTag, ValueError):
            raise OpenError("AEAD tag does not verify") from None

    def next_phase(self) -> PacketKeys:
        """RFC 9001 6.1: the keys after a key update (same header protection key)."""
        hash_name, _ = SUITES[self.suite]
        size = hashlib.new(hash_name).digest_size
        nxt = PacketKeys(self.suite, hkdf_expand_label(self.secret, self.labels + "ku", b"", size, hash_name),
                         self.labels)
        nxt._hp_key, nxt._hp_ecb = self._hp_key, self._hp_ecb
        return nxt


def initial_keys(version: Version, dcid: bytes) -> tuple[PacketKeys, PacketKeys]:
    """(client, server) Initial keys from the Destination Connection ID of the client's Initial."""
    initial = hkdf_extract(version.salt, dcid)
    client = hkdf_expand_label(initial, "client in", b"", 32)
    server = hkdf_expand_label(initial, "server in", b"", 32)
    return PacketKeys(INITIAL_SUITE, client, version.labels), PacketKeys(INITIAL_SUITE, server, version.labels)


def retry_tag(version: Version, odcid: bytes, packet_without_tag: bytes) -> bytes | None:
    """RFC 9001 5.8: the Retry integrity tag over the pseudo-packet; None when the version has none."""
    if version.retry is None:
        return None
    key, nonce = version.retry
    pseudo = bytes((len(odcid),)) + odcid + packet_without_tag
    return bytes(AESGCM(key).encrypt(nonce, b"", pseudo))
