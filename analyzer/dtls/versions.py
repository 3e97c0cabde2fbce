"""DTLS version numbers: which are DTLS, and the TLS version each one is built on.

The key schedules, PRFs and message formats of DTLS are those of a TLS version (RFC 6347 1.1,
RFC 9147 1): DTLS 1.0 is TLS 1.1, DTLS 1.2 is TLS 1.2, DTLS 1.3 is TLS 1.3. The decoders and the
decryption code take that TLS version; only the record layer and the handshake header differ.
Names come from the registry (`registry.version_name`).
"""

from __future__ import annotations

from typing import Final

DTLS10: Final = 0xFEFF  # RFC 4347
DTLS12: Final = 0xFEFD  # RFC 6347
DTLS13: Final = 0xFEFC  # RFC 9147
DTLS10_OPENSSL_PRE: Final = 0x0100  # OpenSSL before 0.9.8f (DTLS1_BAD_VER), still sent by Cisco AnyConnect

_TLS_EQUIVALENT: Final = {DTLS10: 0x0302, DTLS10_OPENSSL_PRE: 0x0302, DTLS12: 0x0303, DTLS13: 0x0304}
RECORD_VERSIONS: Final = frozenset(_TLS_EQUIVALENT)


def is_dtls(version: int) -> bool:
    return version in _TLS_EQUIVALENT


def tls_equivalent(version: int | None) -> int | None:
    """The TLS version whose key schedule and message formats a DTLS version uses (None if unknown)."""
    if version is None:
        return None
    return _TLS_EQUIVALENT.get(version)


def newer(a: int, b: int) -> bool:
    """Is DTLS version `a` newer than `b`? DTLS numbers count down (0xfefc is newer than 0xfefd)."""
    return (tls_equivalent(a) or 0) > (tls_equivalent(b) or 0)
