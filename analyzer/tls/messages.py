"""The typed handshake messages (one dataclass per handshake type), the decoding `Context`, and
their names. The decoders that make them from bytes are in analyzer/tls/decoders.py.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Final

from analyzer import registry
from analyzer.registry.codes import EXT_SUPPORTED_VERSIONS, HS_SERVER_HELLO
from analyzer.tls.extensions import Extension

HRR_RANDOM: Final = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")
DOWNGRADE_TLS12: Final = b"DOWNGRD\x01"
DOWNGRADE_TLS11: Final = b"DOWNGRD\x00"
TLS13: Final = 0x0304


@dataclass(slots=True, init=False)
class Context:
    """What a decoder must know that the message does not say itself."""

    version: int | None = None  # negotiated version (from ServerHello / supported_versions)
    kx: str | None = None  # key exchange of the negotiated suite (registry SuiteInfo.kx)
    dtls: bool = False  # DTLS: the ClientHello has a cookie field (RFC 6347 4.2.1); give the TLS
    # version DTLS builds on in `version` (analyzer.dtls.versions.tls_equivalent)
    max_certificates: int = 64  # Limits.max_certificates: certificates kept from one message

    def __init__(self, version: int | None = None, kx: str | None = None, dtls: bool = False,
                 max_certificates: int = 64) -> None:
        self.version, self.kx, self.dtls, self.max_certificates = version, kx, dtls, max_certificates

    @property
    def tls13(self) -> bool:
        return registry.is_tls13(self.version)


@dataclass(slots=True, init=False)
class ClientHello:
    """"""

    legacy_version: int
    random: bytes
    session_id: bytes
    cipher_suites: list[int]
    compression_methods: list[int]
    extensions: list[Extension] | None  # None: no extensions block at all
    sslv2: bool = False
    malformed: str | None = None  # set when decoding stopped early; fields hold what was read
    cookie: bytes | None = None  # DTLS only (empty in a first hello): None for TLS

    def __init__(self, legacy_version: int, random: bytes, session_id: bytes, cipher_suites: list[int],
                 compression_methods: list[int], extensions: list[Extension] | None, sslv2: bool = False,
                 malformed: str | None = None, cookie: bytes | None = None) -> None:
        self.legacy_version, self.random, self.session_id = legacy_version, random, session_id
        self.cipher_suites, self.compression_methods, self.extensions = cipher_suites, compression_methods, extensions
        self.sslv2, self.malformed, self.cookie = sslv2, malformed, cookie

    def ext(self, etype: int) -> Extension | None:
        return find_extension(self.extensions, etype)


@dataclass(slots=True, init=False)
class ServerHello:
    """"""

    legacy_version: int
    random: bytes
    session_id: bytes
    cipher_suite: int
    compression_method: int
    extensions: list[Extension] | None
    hello_retry_request: bool = False
    malformed: str | None = None

    def __init__(self, legacy_version: int, random: bytes, session_id: bytes, cipher_suite: int,
                 compression_method: int, extensions: list[Extension] | None, hello_retry_request: bool = False,
                 malformed: str | None = None) -> None:
        self.legacy_version, self.random, self.session_id = legacy_version, random, session_id
        self.cipher_suite, self.compression_method, self.extensions = cipher_suite, compression_method, extensions
        self.hello_retry_request, self.malformed = hello_retry_request, malformed

    def ext(self, etype: int) -> Extension | None:
        return find_extension(self.extensions, etype)

    @property
    def negotiated_version(self) -> int:
        """The version this ServerHello picks: supported_versions' selected_version (TLS 1.3), else
        the legacy version field."""
        sv = self.ext(EXT_SUPPORTED_VERSIONS)
        selected = sv.fields.get("selected_version") if sv is not None else None
        return selected if isinstance(selected, int) else self.legacy_version

    @property
    def downgrade_sentinel(self) -> str | None:
        tail = self.random[-8:]
        if tail == DOWNGRADE_TLS12:
            return "TLS1.2"
        if tail == DOWNGRADE_TLS11:
            return "TLS1.1"
        return None


@dataclass(slots=True)
class CertificateEntry:
    der: bytes
    extensions: list[Extension] = field(default_factory=list)


@dataclass(slots=True)
class Certificate:
    entries: list[CertificateEntry]
    request_context: bytes | None = None  # TLS 1.3 form only
    omitted: int = 0  # certificates past Context.max_certificates: length-checked and counted, not kept


NAMED_CURVE: Final = 3  # ECCurveType named_curve (RFC 8422 5.4)
EXPLICIT_CURVES: Final = (1, 2)  # ECCurveType explicit_prime, explicit_char2 (deprecated by RFC 8422)


@dataclass(slots=True)
class ServerKeyExchange:
    kx: str
    curve_type: int | None = None  # NAMED_CURVE, or one of EXPLICIT_CURVES
    named_curve: int | None = None
    public_key_length: int | None = None
    dh_p: bytes | None = None  # DHE prime, kept for group checks (bounded by the record cap)
    dh_g: bytes | None = None
    signature_scheme: int | None = None
    signature_length: int | None = None
    psk_identity_hint_length: int | None = None

    @property
    def dh_bits(self) -> int | None:
        return None if self.dh_p is None else int.from_bytes(self.dh_p, "big").bit_length()


@dataclass(slots=True)
class ClientKeyExchange:
    kx: str
    public_key_length: int | None = None
    encrypted_premaster_length: int | None = None
    psk_identity_length: int | None = None


@dataclass(slots=True)
class CertificateRequest:
    certificate_types: list[int] = field(default_factory=list)
    schemes: list[int] = field(default_factory=list)
    authorities: int = 0
    request_context: bytes | None = None
    extensions: list[Extension] | None = None


@dataclass(slots=True)
class CertificateVerify:
    signature_scheme: int | None
    signature_length: int


@dataclass(slots=True)
class NewSessionTicket:
    lifetime: int
    ticket_length: int
    age_add: int | None = None
    nonce_length: int | None = None
    extensions: list[Extension] | None = None


@dataclass(slots=True)
class EncryptedExtensions:
    extensions: list[Extension]


@dataclass(slots=True)
class Finished:
    verify_data_length: int


@dataclass(slots=True)
class CertificateStatus:
    status_type: int
    response_length: int


@dataclass(slots=True)
class KeyUpdate:
    request_update: int


@dataclass(slots=True)
class CompressedCertificate:
    algorithm: int
    uncompressed_length: int
    compressed_length: int


@dataclass(slots=True)
class Empty:
    """HelloRequest, ServerHelloDone, EndOfEarlyData: no body."""


@dataclass(slots=True)
class Raw:
    """A handshake type we do not decode: its length and first bytes."""

    data: bytes


def find_extension(exts: list[Extension] | None, etype: int) -> Extension | None:
    """The first extension of that type in a list (None: not there, or no extensions block)."""
    for e in exts or ():
        if e.type == etype:
            return e
    return None


def message_name(htype: int, body: Any) -> str:
    """The RFC's name for a message ("ClientHello", "HelloRetryRequest"); unknown types as unknown(0x..)."""
    if htype == HS_SERVER_HELLO and isinstance(body, ServerHello) and body.hello_retry_request:
        return "HelloRetryRequest"
    return camel(registry.handshake_type_name(htype))


@functools.cache
def camel(snake: str) -> str:
    """client_hello -> ClientHello; names that are not snake_case words pass unchanged."""
    if "(" in snake:
        return snake
    return "".join(w[:1].upper() + w[1:] for w in snake.split("_"))
