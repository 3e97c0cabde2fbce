"""Record decryption with `cryptography` primitives only: the TLS 1.3 key schedule's traffic keys
(RFC 8446 7.3), the TLS 1.0-1.2 PRF and key block (RFC 2246/5246), and per-direction record ciphers
(AES-GCM, AES-CCM(_8), ChaCha20-Poly1305, AES/Camellia/SEED/IDEA/3DES/DES-CBC with HMAC,
MAC-then-encrypt or encrypt-then-MAC, RC4 with HMAC). A failure is a DecryptError with a reason and never a wrong plaintext.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from analyzer import registry

TLS13 = {0x1301: (AESGCM, 16, "SHA256"), 0x1302: (AESGCM, 32, "SHA384"), 0x1303: (ChaCha20Poly1305, 32, "SHA256"),
         0x1304: (AESCCM, 16, "SHA256"), 0x1305: (AESCCM, 16, "SHA256")}
HASHES: dict[str, Any] = {"SHA256": hashes.SHA256, "SHA384": hashes.SHA384, "SHA": hashes.SHA1, "SHA1": hashes.SHA1, "MD5": hashes.MD5}
DIGEST = {"SHA256": "sha256", "SHA384": "sha384", "SHA": "sha1", "SHA1": "sha1", "MD5": "md5"}


class DecryptError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


TLS13_LABEL = b"tls13 "
DTLS13_LABEL = b"dtls13"  # RFC 9147 5.9: DTLS 1.3 labels start with "dtls13" instead of "tls13 "


def hkdf_expand_label(secret: bytes, label: str, context: bytes, length: int, hash_name: str,
                      prefix: bytes = TLS13_LABEL) -> bytes:
    full = prefix + label.encode()
    info = struct.pack("!HB", length, len(full)) + full + bytes([len(context)]) + context
    return HKDFExpand(HASHES[hash_name](), length, info).derive(secret)


@dataclass
class RecordCipher:
    """One direction, one epoch. The sequence number advances only on success."""

    # "tls13", "aead12", "chacha12", "cbc", "null", "stream" (RC4: its keystream moves on even on failure)
    kind: str
    aead: object = field(default=None, repr=False)
    iv: bytes = field(default=b"", repr=False)
    mac_key: bytes = field(default=b"", repr=False)
    mac_name: str = ""
    block: object = field(default=None, repr=False)  # algorithms.AES/TripleDES key for CBC
    version: int = 0x0303
    encrypt_then_mac: bool = False
    tag: int = 16
    seq: int = 0
    sn_key: bytes = field(default=b"", repr=False)  # DTLS 1.3 record number key (RFC 9147 4.2.3)

    def decrypt(self, content_type: int, record_version: int, body: bytes) -> tuple[int, bytes]:
        result = getattr(self, "_" + self.kind)(content_type, record_version, body)
        self.seq += 1
        return result

    def _nonce(self) -> bytes:
        return bytes(a ^ b for a, b in zip(self.iv, b"\0" * (len(self.iv) - 8) + struct.pack("!Q", self.seq)))

    def _tls13(self, ct: int, version: int, body: bytes) -> tuple[int, bytes]:
        return self._open13(struct.pack("!BHH", ct, version, len(body)), body)

    def open13(self, aad: bytes, body: bytes, seq: int) -> tuple[int, bytes]:
        """DTLS 1.3 (RFC 9147 4): the AAD is the record's own header with the sequence number in
        the clear, the nonce takes the record's sequence number within its epoch."""
        self.seq = seq
        return self._open13(aad, body)

    def record_number_mask(self, sample: bytes) -> bytes:
        """RFC 9147 4.2.3: AES-ECB of the first 16 ciphertext bytes, or the ChaCha20 block they
        select (4-byte little-endian counter, 12-byte nonce: cryptography's 16-byte nonce)."""
        if isinstance(self.aead, ChaCha20Poly1305):
            return Cipher(algorithms.ChaCha20(self.sn_key, sample), mode=None).encryptor().update(b"\0" * 16)
        return Cipher(algorithms.AES(self.sn_key), modes.ECB()).encryptor().update(sample)  # noqa: S305

    def _open13(self, aad: bytes, body: bytes) -> tuple[int, bytes]:
        try:
            plain = self.aead.decrypt(self._nonce(), body, aad)  # type: ignore[attr-defined]
        except (InvalidTag, ValueError):
            raise DecryptError("authentication tag does not match (wrong key or lost records)") from None
        end = len(plain)
        while end and plain[end - 1] == 0:
            end -= 1
        if not end:
            raise DecryptError("TLS 1.3 record with no inner content type")
        return plain[end - 1], plain[:end - 1]

    def _aad12(self, ct: int, version: int, length: int) -> bytes:
        return struct.pack("!QBHH", self.seq, ct, version, length)

    def _aead12(self, ct: int, version: int, body: bytes) -> tuple[int, bytes]:
        if len(body) < 8 + self.tag:
            raise DecryptError("record too short for its explicit nonce and tag")
        nonce, data = self.iv + body[:8], body[8:]
        try:
            return ct, self.aead.decrypt(nonce, data, self._aad12(ct, version, len(data) - self.tag))  # type: ignore[attr-defined]
        except (InvalidTag, ValueError):
            raise DecryptError("authentication tag does not match (wrong key or lost records)") from None

    def _chacha12(self, ct: int, version: int, body: bytes) -> tuple[int, bytes]:
        if len(body) < 16:
            raise DecryptError("record too short for its tag")
        try:
            return ct, self.aead.decrypt(self._nonce(), body, self._aad12(ct, version, len(body) - 16))  # type: ignore[attr-defined]
        except (InvalidTag, ValueError):
            raise DecryptError("authentication tag does not match (wrong key or lost records)") from None

    def _cbc(self, ct: int, version: int, body: bytes) -> tuple[int, bytes]:
        bs = self.block.block_size // 8  # type: ignore[attr-defined]
        mac_len = len(self.mac_key)
        if self.encrypt_then_mac:
            if len(body) < mac_len:
                raise DecryptError("record shorter than its MAC")
            body, mac = body[:-mac_len], body[-mac_len:]
            if not hmac.compare_digest(mac, self._mac(ct, version, body)):
                raise DecryptError("record MAC does not match (wrong key or lost records)")
        if not body or len(body) % bs:
            raise DecryptError("CBC record is not a whole number of blocks")
        if self.version >= 0x0302:
            iv, body = body[:bs], body[bs:]
            if not body:
                raise DecryptError("CBC record holds an IV and nothing else")
        else:
            iv = self.iv  # SSLv3/TLS 1.0: the previous record's last block (the key block's IV first)
        dec = Cipher(self.block, modes.CBC(iv)).decryptor()  # type: ignore[arg-type]
        plain = dec.update(body) + dec.finalize()
        pad = plain[-1] + 1 if plain else 0
        if self.version == 0x0300:  # SSLv3 padding bytes are arbitrary; only their count is sent
            bad = not plain or pad > bs or pad > len(plain)
        else:
            bad = not plain or pad > len(plain) or any(b != plain[-1] for b in plain[-pad:])
        if bad:
            raise DecryptError("bad CBC padding (wrong key or lost records)")
        plain = plain[:-pad]
        if not self.encrypt_then_mac:
            plain = self._strip_mac(ct, version, plain)
        if self.version < 0x0302:
            self.iv = body[-bs:]  # chained only once the record proved good, like the sequence number
        return ct, plain

    def _null(self, ct: int, version: int, body: bytes) -> tuple[int, bytes]:
        """NULL cipher: the plaintext in the clear, followed by its MAC."""
        return ct, self._strip_mac(ct, version, body)

    def _stream(self, ct: int, version: int, body: bytes) -> tuple[int, bytes]:
        """RC4: one keystream for the whole direction, MAC-then-encrypt."""
        return ct, self._strip_mac(ct, version, self.block.update(body))  # type: ignore[attr-defined]

    def _strip_mac(self, ct: int, version: int, plain: bytes) -> bytes:
        """MAC-then-encrypt: check and remove the MAC that ends the plaintext."""
        mac_len = len(self.mac_key)
        if len(plain) < mac_len:
            raise DecryptError("record shorter than its MAC")
        plain, mac = plain[:-mac_len], plain[-mac_len:]
        if not hmac.compare_digest(mac, self._mac(ct, version, plain)):
            raise DecryptError("record MAC does not match (wrong key or lost records)")
        return plain

    def _mac(self, ct: int, version: int, data: bytes) -> bytes:
        if self.version == 0x0300:  # RFC 6101 5.2.3.1: the SSLv3 MAC, a pre-HMAC construction
            h = DIGEST[self.mac_name]
            pad = 48 if h == "md5" else 40
            inner = hashlib.new(h, self.mac_key + b"\x36" * pad + struct.pack("!QBH", self.seq, ct, len(data))
                                + data).digest()
            return hashlib.new(h, self.mac_key + b"\x5c" * pad + inner).digest()
        return hmac.new(self.mac_key, struct.pack("!QBHH", self.seq, ct, version, len(data)) + data,
                        DIGEST[self.mac_name]).digest()


def tls13_cipher(suite: int, traffic_secret: bytes, dtls: bool = False) -> RecordCipher:
    """TLS 1.3 record protection from a traffic secret; DTLS 1.3 labels and the record number key
    with `dtls`."""
    if suite not in TLS13:
        raise DecryptError(f"TLS 1.3 suite {registry.cipher_suite_name(suite)} is not supported")
    cls, key_len, hash_name = TLS13[suite]
    prefix = DTLS13_LABEL if dtls else TLS13_LABEL
    key = hkdf_expand_label(traffic_secret, "key", b"", key_len, hash_name, prefix)
    iv = hkdf_expand_label(traffic_secret, "iv", b"", 12, hash_name, prefix)
    aead = AESCCM(key, tag_length=8 if suite == 0x1305 else 16) if cls is AESCCM else cls(key)
    sn_key = hkdf_expand_label(traffic_secret, "sn", b"", key_len, hash_name, prefix) if dtls else b""
    return RecordCipher("tls13", aead=aead, iv=iv, sn_key=sn_key)


def tls13_next_secret(suite: int, traffic_secret: bytes, dtls: bool = False) -> bytes:
    """KeyUpdate (RFC 8446 7.2): the next application traffic secret of the side that sent it."""
    if suite not in TLS13:
        raise DecryptError(f"TLS 1.3 suite {registry.cipher_suite_name(suite)} is not supported")
    hash_name = TLS13[suite][2]
    return hkdf_expand_label(traffic_secret, "traffic upd", b"", HASHES[hash_name].digest_size, hash_name,
                             DTLS13_LABEL if dtls else TLS13_LABEL)


def _p_hash(name: str, secret: bytes, seed: bytes, length: int) -> bytes:
    out, a = b"", seed
    while len(out) < length:
        a = hmac.new(secret, a, name).digest()
        out += hmac.new(secret, a + seed, name).digest()
    return out[:length]


def _prf_hash(suite: int) -> str:
    return "sha384" if registry.cipher_suite_name(suite).endswith("SHA384") else "sha256"


def prf(version: int, suite: int, secret: bytes, label: bytes, seed: bytes, length: int) -> bytes:
    if version >= 0x0303:
        return _p_hash(_prf_hash(suite), secret, label + seed, length)
    half = (len(secret) + 1) // 2
    md5 = _p_hash("md5", secret[:half], label + seed, length)
    sha = _p_hash("sha1", secret[-half:], label + seed, length)
    return bytes(a ^ b for a, b in zip(md5, sha))


def session_hash(version: int, suite: int, transcript: bytes) -> bytes:
    """RFC 7627 session hash: the handshake so far under the PRF's hash (MD5||SHA-1 before TLS 1.2)."""
    if version >= 0x0303:
        return hashlib.new(_prf_hash(suite), transcript).digest()
    return hashlib.md5(transcript).digest() + hashlib.sha1(transcript).digest()


def _export_keys(version: int, suite: int, cipher: str, c_key: bytes, s_key: bytes, iv_len: int,
                 cr: bytes, sr: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    """Export-grade write keys and IVs (RFC 6101 6.2.2, RFC 2246 6.3) from the 5-byte secrets."""
    width = 8 if cipher == "DES" else 16
    if version == 0x0300:
        return (hashlib.md5(c_key + cr + sr).digest()[:width], hashlib.md5(s_key + sr + cr).digest()[:width],
                hashlib.md5(cr + sr).digest()[:iv_len], hashlib.md5(sr + cr).digest()[:iv_len])
    ivs = prf(version, suite, b"", b"IV block", cr + sr, 2 * iv_len)
    return (prf(version, suite, c_key, b"client write key", cr + sr, width),
            prf(version, suite, s_key, b"server write key", cr + sr, width), ivs[:iv_len], ivs[iv_len:])


def ssl3_key_block(master: bytes, randoms: bytes, length: int) -> bytes:
    """RFC 6101 6.2.2: MD5(master + SHA1('A' + master + randoms)) + MD5(... 'BB' ...) + ..."""
    out, i = b"", 0
    while len(out) < length:
        salt = bytes([ord("A") + i]) * (i + 1)
        out += hashlib.md5(master + hashlib.sha1(salt + master + randoms).digest()).digest()
        i += 1
    return out[:length]


def supported(suite: int, version: int | None) -> bool:
    """Whether records of this suite at this version (0x0300-0x0304, 0x7fxx drafts) can be decrypted."""
    info = registry.cipher_suite(suite)
    if info is None or version is None or version < 0x0300:
        return False
    tls13_version = registry.is_tls13(version)
    if tls13_version or info.tls13:
        return tls13_version and suite in TLS13
    if info.mode == "NULL":
        return info.cipher == "NULL" and info.mac in DIGEST  # integrity only: the MAC is checked
    if info.export and info.cipher not in ("RC4", "DES"):
        return False  # RC2-40 needs RC2's effective-key-bits parameter, which cryptography lacks
    return ((info.cipher, info.mode) in (("AES", "GCM"), ("AES", "CCM"), ("AES", "CCM_8"), ("CHACHA20", "POLY1305"),
                                         ("RC4", "STREAM"))
            or (info.mode == "CBC" and info.cipher in BLOCK_CIPHERS)) \
        and (info.mode not in ("CBC", "STREAM") or info.mac in DIGEST)


def tls12_master_secret(version: int, suite: int, premaster: bytes, client_random: bytes, server_random: bytes,
                        extended_master_secret_hash: bytes | None = None) -> bytes:
    """The 48-byte master secret from a premaster (RSA key-log lines): RFC 6101 6.1 for SSLv3,
    RFC 2246/5246 8.1 otherwise, RFC 7627 when the extended master secret was negotiated (pass
    the session hash: the hash of the handshake messages up to and including ClientKeyExchange)."""
    if version == 0x0300:
        return ssl3_key_block(premaster, client_random + server_random, 48)
    if extended_master_secret_hash is not None:
        return prf(version, suite, premaster, b"extended master secret", extended_master_secret_hash, 48)
    return prf(version, suite, premaster, b"master secret", client_random + server_random, 48)


def tls12_ciphers(version: int, suite: int, master: bytes, client_random: bytes, server_random: bytes,
                  encrypt_then_mac: bool = False) -> tuple[RecordCipher, RecordCipher]:
    """(client write, server write) ciphers from the key block."""
    info = registry.cipher_suite(suite)
    if info is None or not supported(suite, version):
        raise DecryptError(f"{registry.cipher_suite_name(suite)} is not supported for decryption")
    key_len = {"3DES": 24, "DES": 8}.get(info.cipher, info.bits // 8)
    if info.mode in ("STREAM", "NULL"):
        mac_len, iv_len = HASHES[info.mac].digest_size, 0
        key_len = 0 if info.mode == "NULL" else key_len
    elif info.mode == "CBC":
        mac_len, iv_len = HASHES[info.mac].digest_size, BLOCK_CIPHERS[info.cipher][1]
    else:
        mac_len, iv_len = 0, (12 if info.cipher == "CHACHA20" else 4)
    if info.export:
        key_len, iv_from_block = info.bits // 8, 0  # 5 secret bytes, widened below
    else:
        iv_from_block = iv_len
    need = 2 * (mac_len + key_len + iv_from_block)
    if version == 0x0300:
        kb = ssl3_key_block(master, server_random + client_random, need)
    else:
        kb = prf(version, suite, master, b"key expansion", server_random + client_random, need)
    c_mac, s_mac = kb[:mac_len], kb[mac_len:2 * mac_len]
    p = 2 * mac_len
    c_key, s_key = kb[p:p + key_len], kb[p + key_len:p + 2 * key_len]
    p += 2 * key_len
    c_iv, s_iv = kb[p:p + iv_len], kb[p + iv_len:p + 2 * iv_len]
    if info.export:
        c_key, s_key, c_iv, s_iv = _export_keys(version, suite, info.cipher, c_key, s_key, iv_len,
                                                client_random, server_random)

    def make(key: bytes, iv: bytes, mac_key: bytes) -> RecordCipher:
        if info.mode == "GCM":
            return RecordCipher("aead12", aead=AESGCM(key), iv=iv)
        if info.mode in ("CCM", "CCM_8"):
            tag = 8 if info.mode == "CCM_8" else 16
            return RecordCipher("aead12", aead=AESCCM(key, tag_length=tag), iv=iv, tag=tag)
        if info.mode == "POLY1305":
            return RecordCipher("chacha12", aead=ChaCha20Poly1305(key), iv=iv)
        if info.mode == "NULL":
            return RecordCipher("null", mac_key=mac_key, mac_name=info.mac, version=version)
        if info.mode == "STREAM":
            return RecordCipher("stream", mac_key=mac_key, mac_name=info.mac, block=_rc4(key), version=version)
        block = BLOCK_CIPHERS[info.cipher][0](key)
        return RecordCipher("cbc", iv=iv, mac_key=mac_key, mac_name=info.mac, block=block, version=version,
                            encrypt_then_mac=encrypt_then_mac)

    return make(c_key, c_iv, c_mac), make(s_key, s_iv, s_mac)


def _decrepit(name: str) -> type:
    """Old ciphers live in cryptography's `decrepit` module (in `algorithms` before 43)."""
    try:
        from cryptography.hazmat.decrepit.ciphers import algorithms as old
    except ImportError:
        old = algorithms  # type: ignore[assignment,misc]
    return getattr(old, name)


# cipher -> (key -> algorithm, block size); single DES is 3DES with one key three times
BLOCK_CIPHERS = {
    "AES": (algorithms.AES, 16),
    "CAMELLIA": (lambda key: _decrepit("Camellia")(key), 16),
    "3DES": (lambda key: _decrepit("TripleDES")(key), 8),
    "DES": (lambda key: _decrepit("TripleDES")(key * 3), 8),
    "SEED": (lambda key: _decrepit("SEED")(key), 16),
    "IDEA": (lambda key: _decrepit("IDEA")(key), 8),
}


def _rc4(key: bytes) -> object:
    try:
        from cryptography.hazmat.decrepit.ciphers.algorithms import ARC4
    except ImportError:  # older cryptography
        ARC4 = algorithms.ARC4  # type: ignore[attr-defined,misc]  # noqa: N806
    return Cipher(ARC4(key), mode=None).decryptor()
