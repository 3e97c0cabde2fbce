"""IANA TLS registry lookups: total (never raise for an int), O(1), import-cheap.

Every ``*_name`` function returns a string for any int: the IANA name, ``GREASE(0x1a1a)`` for
RFC 8701 values, else ``unknown(0x....)``.  The structured lookups (``cipher_suite``, ``group``,
``signature_scheme``) return ``None`` for codes they do not know.  The data lives in ``tables.py``,
generated from cryptodatahub by ``tools/gen_registry.py``; nothing here imports cryptodatahub or
scapy, so the analyzer starts fast.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from analyzer.registry import tables as _t

__all__ = [
    "DATA_VERSION", "GroupInfo", "SchemeInfo", "SuiteInfo", "alert_description_name",
    "alert_level_name", "certificate_compression_name", "cipher_suite", "cipher_suite_name", "code_for",
    "compression_method_name", "content_type_name", "ec_point_format_name", "extension_name", "group",
    "group_name", "handshake_type_name", "is_grease", "is_tls13", "psk_key_exchange_mode_name", "signature_scheme",
    "signature_scheme_name", "sslv2_cipher_name", "unknown", "version_name", "well_known_dh_prime",
]

DATA_VERSION: Final[str] = _t.CRYPTODATAHUB_VERSION  # cryptodatahub release the tables were generated from


@dataclass(frozen=True, slots=True)
class SuiteInfo:
    """Facts about one cipher suite, normalised so policy checks can compare plain strings.

    kx: ECDHE, DHE, RSA, DH, ECDH, PSK, ECDHE_PSK, DHE_PSK, RSA_PSK, KRB5, SRP, NULL, GOST, CECPQ1,
        FORTEZZA_KEA, SM9DHE, SM9, SCSV, or TLS13 (negotiated by key_share).  Anonymous DH/ECDH
        suites (DH_anon, ECDH_anon) are DHE/ECDHE with auth "anon": their ServerKeyExchange carries
        ephemeral parameters, just unsigned.
    auth: RSA, ECDSA, DSS, anon, PSK, KRB5, SRP, SM2, SM9, GOST, FORTEZZA, NULL, SCSV or TLS13.
    cipher: AES, CHACHA20, 3DES, DES, RC4, RC2, IDEA, CAMELLIA, ARIA, SEED, SM4, SALSA20, GOST,
        FORTEZZA, NULL or SCSV.  mode: GCM, CCM, CCM_8, CBC, POLY1305, STREAM, MGM, CTR, CNT, NULL,
        SCSV.  bits: effective key strength (3DES 112, export 40, NULL 0).  mac: SHA (SHA-1), SHA256,
        SHA384, MD5, SM3, AEAD, NULL, GOST28147, GOSTR3411, OMAC or SCSV.
    scsv: a signalling value (0x00FF, 0x5600), whose other fields all read "SCSV" so that no
        cipher-strength rule ever matches it.
    """

    code: int
    name: str
    kx: str
    auth: str
    cipher: str
    mode: str
    bits: int
    mac: str
    export: bool
    tls13: bool
    scsv: bool


@dataclass(frozen=True, slots=True)
class GroupInfo:
    """Facts about one supported group (named curve, FFDHE group, ML-KEM or hybrid).

    kind: "ec", "ff", "pq" (a KEM alone), "pq_hybrid" (classical + KEM) or "other".
    bits: ec -> field size (x25519 255, secp256r1 256); ff -> modulus size; pq and pq_hybrid -> the
        classical-equivalent strength of the NIST category of the post-quantum part (ML-KEM-768 192),
        which is how cryptodatahub grades a hybrid.  0 for "other".
    client_share_len / server_share_len: key_share key_exchange length each side sends
        (X9.62 uncompressed points, RFC 7748 keys, FFDHE padded to the modulus, KEM encapsulation
        key / ciphertext, hybrids the sum); None where the encoding is not computed (GOST curves).
    """

    code: int
    name: str
    kind: str
    bits: int
    client_share_len: int | None
    server_share_len: int | None
    pq: bool


@dataclass(frozen=True, slots=True)
class SchemeInfo:
    """A SignatureScheme (TLS 1.3) or hash/signature pair (TLS 1.2).

    sig: RSA_PKCS1, RSA_PSS, ECDSA, EDDSA, DSA, ANONYMOUS, ML_DSA, SLH_DSA, SM2, GOST, FALCON, MAYO,
        SNOVA, CROSS, MQOM, UOV or HYBRID (composite classical + PQ).
    hash: NONE, MD5, SHA1, SHA224, SHA256, SHA384, SHA512, SM3, GOSTR3411_*, or INTRINSIC where the
        algorithm hashes internally (EdDSA, ML-DSA, SLH-DSA, ...).
    """

    code: int
    name: str
    sig: str
    hash: str


def is_tls13(version: int | None) -> bool:
    """TLS 1.3 or one of its drafts (0x7fxx): the one test for "is this TLS 1.3"."""
    return version is not None and (version == 0x0304 or version >> 8 == 0x7F)


def is_grease(value: int) -> bool:
    """RFC 8701 GREASE for 16-bit fields: 0x?A?A with equal bytes (0x0a0a, 0x1a1a ... 0xfafa)."""
    return 0 <= value <= 0xFFFF and (value & 0x0F0F) == 0x0A0A and (value >> 8) == (value & 0xFF)


def unknown(value: int, width: int = 4) -> str:
    """Placeholder name that still shows the code: ``unknown(0x1234)``, or ``GREASE(0x1a1a)``."""
    if is_grease(value):
        return f"GREASE(0x{value:04x})"
    return f"unknown(0x{value:0{width}x})"


def _lookup(table: dict[int, str], code: int, width: int) -> str:
    name = table.get(code)
    return name if name is not None else unknown(code, width)


def _row_name(table: dict[int, str], code: int) -> str:
    """First field of a structured row ('name kx auth ...'), else the unknown/GREASE placeholder."""
    row = table.get(code)
    return row.partition(" ")[0] if row is not None else unknown(code)


def _opt_int(field: str) -> int | None:
    return None if field == "-" else int(field)


# ----------------------------------------------------------------------------- cipher suites
_suites: Final[dict[int, SuiteInfo]] = {}


def cipher_suite_name(code: int) -> str:
    """IANA name, e.g. TLS_AES_128_GCM_SHA256; non-IANA legacy code points end in _OLD."""
    return _row_name(_t.CIPHER_SUITES, code)


def cipher_suite(code: int) -> SuiteInfo | None:
    """Structured facts for a cipher suite or SCSV; None for unknown and GREASE codes."""
    info = _suites.get(code)
    if info is None:
        row = _t.CIPHER_SUITES.get(code)
        if row is None:
            return None
        n, kx, auth, cipher, mode, bits, mac, export, tls13, scsv = row.split()
        info = _suites[code] = SuiteInfo(code, n, kx, auth, cipher, mode, int(bits), mac,
                                         export == "1", tls13 == "1", scsv == "1")
    return info


def sslv2_cipher_name(code24: int) -> str:
    """SSLv2 CIPHER-SPEC (24-bit); 0x00XXXX specs in an SSLv2-format hello are TLS suite XXXX."""
    name = _t.SSLV2_CIPHER_KINDS.get(code24)
    if name is not None:
        return name
    if 0 <= code24 <= 0xFFFF:
        return cipher_suite_name(code24)
    return f"unknown(0x{code24:06x})"


# ----------------------------------------------------------------------------- groups
_groups: Final[dict[int, GroupInfo]] = {}


def group_name(code: int) -> str:
    """IANA supported-group name: x25519, secp256r1, ffdhe2048, X25519MLKEM768, ..."""
    return _row_name(_t.GROUPS, code)


def group(code: int) -> GroupInfo | None:
    """Structured facts for a supported group; None for unknown and GREASE codes."""
    info = _groups.get(code)
    if info is None:
        row = _t.GROUPS.get(code)
        if row is None:
            return None
        n, kind, bits, client_len, server_len, pq = row.split()
        info = _groups[code] = GroupInfo(code, n, kind, int(bits), _opt_int(client_len),
                                         _opt_int(server_len), pq == "1")
    return info


def post_quantum_groups() -> frozenset[int]:
    """Every group whose key exchange includes a post-quantum KEM (`pq` alone or `pq_hybrid`),
    by its structured `pq` property: for "is this traffic PQ?" without reading names."""
    if not _pq_groups:
        _pq_groups.append(frozenset(code for code in _t.GROUPS if (info := group(code)) is not None and info.pq))
    return _pq_groups[0]


_pq_groups: Final[list[frozenset[int]]] = []  # made on first use: most runs never ask


# ----------------------------------------------------------------------------- signature schemes
_schemes: Final[dict[int, SchemeInfo]] = {}


def signature_scheme_name(code: int) -> str:
    """IANA SignatureScheme name (rsa_pss_rsae_sha256), TLS 1.2 pairs as sig_hash (rsa_pkcs1_md5)."""
    return _row_name(_t.SIGNATURE_SCHEMES, code)


def signature_scheme(code: int) -> SchemeInfo | None:
    """Structured facts for a signature scheme; None for unknown and GREASE codes."""
    info = _schemes.get(code)
    if info is None:
        row = _t.SIGNATURE_SCHEMES.get(code)
        if row is None:
            return None
        info = _schemes[code] = SchemeInfo(code, *row.split())
    return info


# ----------------------------------------------------------------------------- plain name maps
def extension_name(code: int) -> str:
    """IANA ExtensionType name; 17513 and 17613 are both application_settings (ALPS)."""
    return _lookup(_t.EXTENSIONS, code, 4)


def alert_description_name(code: int) -> str:
    """AlertDescription, without IANA's _RESERVED marks (old peers still send those)."""
    return _lookup(_t.ALERT_DESCRIPTIONS, code, 2)


def alert_level_name(code: int) -> str:
    """warning or fatal."""
    return _lookup(_t.ALERT_LEVELS, code, 2)


def handshake_type_name(code: int) -> str:
    """HandshakeType by its RFC 8446 name (server_key_exchange, not server_key_exchange_RESERVED)."""
    return _lookup(_t.HANDSHAKE_TYPES, code, 2)


def content_type_name(code: int) -> str:
    """Record ContentType: change_cipher_spec, alert, handshake, application_data, heartbeat, ..."""
    return _lookup(_t.CONTENT_TYPES, code, 2)


def version_name(code: int) -> str:
    """SSLv2/SSLv3/TLSv1.0-1.3, TLSv1.3-draftNN (decimal), DTLSv1.0/1.2/1.3."""
    return _lookup(_t.VERSIONS, code, 4)


def ec_point_format_name(code: int) -> str:
    """uncompressed, ansiX962_compressed_prime, ansiX962_compressed_char2."""
    return _lookup(_t.EC_POINT_FORMATS, code, 2)


def psk_key_exchange_mode_name(code: int) -> str:
    """psk_ke or psk_dhe_ke; RFC 8701 one-byte GREASE values read GREASE(0x0b)."""
    name = _t.PSK_KEY_EXCHANGE_MODES.get(code)
    if name is not None:
        return name
    return f"GREASE(0x{code:02x})" if code in _t.GREASE_ONE_BYTE else unknown(code, 2)


def certificate_compression_name(code: int) -> str:
    """zlib, brotli, zstd (RFC 8879)."""
    return _lookup(_t.CERTIFICATE_COMPRESSION, code, 4)


def compression_method_name(code: int) -> str:
    """null, DEFLATE, LZS."""
    return _lookup(_t.COMPRESSION_METHODS, code, 2)


# ----------------------------------------------------------------------------- DH primes
def well_known_dh_prime(p: int) -> str | None:
    """Name of a published DH prime (RFC groups, server built-ins), for Logjam-style checks.

    The table holds SHA-256 of the big-endian minimal-length prime, not the primes themselves.
    """
    if p <= 0:
        return None
    from hashlib import sha256  # only needed when a DHE ServerKeyExchange is seen

    return _t.DH_PRIMES.get(sha256(p.to_bytes((p.bit_length() + 7) // 8, "big")).hexdigest())


# ----------------------------------------------------------------------------- names back to codes
_REVERSE_TABLES: Final = {"cipher_suite": "CIPHER_SUITES", "group": "GROUPS", "signature_scheme": "SIGNATURE_SCHEMES",
                   "version": "VERSIONS"}
_reverse: Final[dict[str, dict[str, int]]] = {}


def code_for(kind: str, name: str) -> int | None:
    """The code point of an IANA name (case-insensitive; "0x1301" also accepted), for policy files.

    `kind` is one of cipher_suite, group, signature_scheme, version; None when the name is unknown.
    """
    text = name.strip()
    if text.lower().startswith("0x"):
        try:
            return int(text, 16)
        except ValueError:
            return None
    index = _reverse.get(kind)
    if index is None:
        table = getattr(_t, _REVERSE_TABLES[kind])
        index = _reverse[kind] = {row.partition(" ")[0].lower(): code for code, row in table.items()}
    return index.get(text.lower())
