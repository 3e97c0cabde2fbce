"""Handshake message bodies -> typed dataclasses, one decoder per handshake type.

Decoders are pure: `decode_message(type, body, ctx)`. The context says what the bytes alone do
not (negotiated version, key exchange of the chosen suite) and is passed in explicitly.
A decoder only reads inside its own body; a wrong length raises `DecodeError`.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass, field
from typing import Any, Final

from analyzer import registry
from analyzer.cache import LruCache
from analyzer.errors import DecodeError
from analyzer.registry.codes import (
    EXT_SUPPORTED_VERSIONS,
    HS_CERTIFICATE,
    HS_CERTIFICATE_REQUEST,
    HS_CERTIFICATE_STATUS,
    HS_CLIENT_HELLO,
    HS_COMPRESSED_CERTIFICATE,
    HS_ENCRYPTED_EXTENSIONS,
    HS_SERVER_HELLO,
)
from analyzer.tls import extensions as X
from analyzer.tls.extensions import Extension, decode_extensions
from analyzer.tls.reader import Cursor

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
        return _find(self.extensions, etype)


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
        return _find(self.extensions, etype)

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


@dataclass(slots=True)
class ServerKeyExchange:
    kx: str
    curve_type: int | None = None  # 3 named_curve; 1, 2 explicit curves
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


def _find(exts: list[Extension] | None, etype: int) -> Extension | None:
    for e in exts or ():
        if e.type == etype:
            return e
    return None


def _extensions(c: Cursor, kind: str) -> list[Extension] | None:
    if not c.remaining:
        return None
    block = c.block(2, "extensions")
    return decode_extensions(block, kind)


def _suites_leniently(c: Cursor) -> list[int]:
    """The cipher suites a hello offers; when the length overruns, keep those that fit, then fail."""
    n = c.u16("cipher_suites length")
    fits = min(n, c.remaining) & ~1
    suites = list(struct.unpack_from(f"!{fits // 2}H", c.buf, c.pos))
    if fits != n:
        c.pos += fits
        raise PartialDecode(suites, f"cipher_suites: length {n} with {c.remaining + fits} bytes left", c.pos)
    c.pos += n
    return suites


class PartialDecode(DecodeError):
    """A decode error that still carries the value read up to the fault."""

    def __init__(self, value: Any, reason: str, offset: int) -> None:
        super().__init__(reason, offset)
        self.value = value


def client_hello(c: Cursor, ctx: Context) -> ClientHello:
    version = c.u16("legacy_version")
    random = c.take(32, "random")
    ch = ClientHello(version, random, b"", [], [], None)
    try:  # a hello cut short keeps every field read before the fault
        ch.session_id = c.opaque(1, "session_id")
        if ctx.dtls:
            ch.cookie = c.opaque(1, "cookie")
        ch.cipher_suites = _suites_leniently(c)
        ch.compression_methods = c.u8_list(1, "compression_methods")
        if c.remaining:
            ch.extensions = []
            decode_extensions(c.block(2, "extensions"), X.CH, ch.extensions)
        c.expect_end("client_hello")
    except PartialDecode as partial:  # (one name per clause: mypyc types the name by the first)
        ch.cipher_suites = partial.value
        ch.malformed = f"{partial.reason} at offset {partial.offset}"
    except DecodeError as exc:
        ch.malformed = f"{exc.reason} at offset {exc.offset}"
    return ch


def server_hello(c: Cursor, ctx: Context) -> ServerHello:
    version = c.u16("legacy_version")
    random = c.take(32, "random")
    hrr = random == HRR_RANDOM
    if version >> 8 == 0x7F and (version & 0xFF) < 22:
        # TLS 1.3 drafts before 22 dropped session_id and compression from the ServerHello
        sh = ServerHello(version, random, b"", c.u16("cipher_suite"), 0, None, hrr)
    else:
        sid = c.opaque(1, "session_id")
        sh = ServerHello(version, random, sid, c.u16("cipher_suite"), c.u8("compression_method"), None, hrr)
    try:
        if c.remaining:
            sh.extensions = []
            decode_extensions(c.block(2, "extensions"), X.HRR if hrr else X.SH, sh.extensions)
        c.expect_end("server_hello")
    except DecodeError as exc:
        sh.malformed = f"{exc.reason} at offset {exc.offset}"
    return sh


def certificate(c: Cursor, ctx: Context) -> Certificate:
    context = c.opaque(1, "certificate_request_context") if ctx.tls13 else None
    lst = c.block(3, "certificate_list")
    entries: list[CertificateEntry] = []
    omitted = 0
    while lst.remaining:
        if len(entries) >= ctx.max_certificates:  # the rest: checked, counted, neither copied nor decoded
            lst.skip_opaque(3, "certificate")
            if ctx.tls13:
                lst.skip_opaque(2, "extensions")
            omitted += 1
            continue
        der = lst.opaque(3, "certificate")
        exts = decode_extensions(lst.block(2, "extensions"), X.CT) if ctx.tls13 else []
        entries.append(CertificateEntry(der, exts))
    c.expect_end("certificate")
    return Certificate(entries, context, omitted)


def _signature(c: Cursor, ctx: Context) -> tuple[int | None, int]:
    """A digitally-signed element: scheme (TLS 1.2+) and signature length."""
    if not c.remaining:
        return None, 0
    scheme = c.u16("signature_scheme") if ctx.version is None or ctx.version >= 0x0303 else None
    return scheme, len(c.opaque(2, "signature"))


def server_key_exchange(c: Cursor, ctx: Context) -> ServerKeyExchange:
    kx = ctx.kx or "unknown"
    ske = ServerKeyExchange(kx)
    if kx in ("PSK", "DHE_PSK", "ECDHE_PSK", "RSA_PSK"):
        ske.psk_identity_hint_length = len(c.opaque(2, "psk_identity_hint"))
    if kx.startswith("ECDH"):
        ske.curve_type = c.u8("curve_type")
        if ske.curve_type == 3:
            ske.named_curve = c.u16("named_curve")
        else:  # explicit curve parameters: length-checked but not modelled
            return ske
        ske.public_key_length = len(c.opaque(1, "public"))
    elif kx.startswith("DH"):
        ske.dh_p = c.opaque(2, "dh_p")
        ske.dh_g = c.opaque(2, "dh_g")
        ske.public_key_length = len(c.opaque(2, "dh_Ys"))
    elif kx in ("RSA", "RSA_EXPORT"):  # export RSA: temporary key
        ske.public_key_length = len(c.opaque(2, "modulus"))
        c.opaque(2, "exponent")
    elif kx not in ("PSK",):
        return ske  # unknown key exchange: nothing more we can say
    if "anon" not in kx and c.remaining and kx not in ("PSK", "DHE_PSK", "ECDHE_PSK", "RSA_PSK"):
        ske.signature_scheme, ske.signature_length = _signature(c, ctx)
    return ske


def client_key_exchange(c: Cursor, ctx: Context) -> ClientKeyExchange:
    kx = ctx.kx or "unknown"
    cke = ClientKeyExchange(kx)
    if kx in ("PSK", "DHE_PSK", "ECDHE_PSK", "RSA_PSK"):
        cke.psk_identity_length = len(c.opaque(2, "psk_identity"))
    if kx.startswith("ECDH"):
        cke.public_key_length = len(c.opaque(1, "ecdh_Yc")) if c.remaining else 0
    elif kx.startswith("DH"):
        cke.public_key_length = len(c.opaque(2, "dh_Yc")) if c.remaining else 0
    elif "RSA" in kx:
        if ctx.version == 0x0300:  # SSLv3: no length prefix
            cke.encrypted_premaster_length = len(c.rest())
        else:
            cke.encrypted_premaster_length = len(c.opaque(2, "encrypted_premaster"))
    else:
        c.rest()
    return cke


def certificate_request(c: Cursor, ctx: Context) -> CertificateRequest:
    if ctx.tls13:
        context = c.opaque(1, "certificate_request_context")
        exts = decode_extensions(c.block(2, "extensions"), X.CR)
        sig = _find(exts, 13)
        return CertificateRequest(schemes=(sig.fields.get("schemes", []) if sig else []),
                                  request_context=context, extensions=exts)
    types = c.u8_list(1, "certificate_types")
    schemes = c.u16_list(2, "supported_signature_algorithms") \
        if ctx.version is None or ctx.version >= 0x0303 else []
    cas = c.block(2, "certificate_authorities")
    n = 0
    while cas.remaining:
        cas.opaque(2, "distinguished_name")
        n += 1
    return CertificateRequest(types, schemes, n)


def certificate_verify(c: Cursor, ctx: Context) -> CertificateVerify:
    scheme, length = _signature(c, ctx)
    return CertificateVerify(scheme, length)


def new_session_ticket(c: Cursor, ctx: Context) -> NewSessionTicket:
    lifetime = c.u32("ticket_lifetime")
    if ctx.tls13:
        age_add = c.u32("ticket_age_add")
        nonce = c.opaque(1, "ticket_nonce")
        ticket = c.opaque(2, "ticket")
        exts = decode_extensions(c.block(2, "extensions"), X.NST)
        return NewSessionTicket(lifetime, len(ticket), age_add, len(nonce), exts)
    return NewSessionTicket(lifetime, len(c.opaque(2, "ticket")))


def encrypted_extensions(c: Cursor, ctx: Context) -> EncryptedExtensions:
    return EncryptedExtensions(decode_extensions(c.block(2, "extensions"), X.EE))


def finished(c: Cursor, ctx: Context) -> Finished:
    return Finished(len(c.rest()))


def certificate_status(c: Cursor, ctx: Context) -> CertificateStatus:
    return CertificateStatus(c.u8("status_type"), len(c.opaque(3, "response")))


def key_update(c: Cursor, ctx: Context) -> KeyUpdate:
    return KeyUpdate(c.u8("request_update"))


def compressed_certificate(c: Cursor, ctx: Context) -> CompressedCertificate:
    alg = c.u16("algorithm")
    ulen = c.u24("uncompressed_length")
    return CompressedCertificate(alg, ulen, len(c.opaque(3, "compressed_certificate_message")))


def empty(c: Cursor, ctx: Context) -> Empty:
    c.expect_end("empty message")
    return Empty()


DECODERS = {
    0: empty,  # hello_request
    1: client_hello,
    2: server_hello,
    4: new_session_ticket,
    5: empty,  # end_of_early_data
    8: encrypted_extensions,
    11: certificate,
    12: server_key_exchange,
    13: certificate_request,
    14: empty,  # server_hello_done
    15: certificate_verify,
    16: client_key_exchange,
    20: finished,
    22: certificate_status,
    24: key_update,
    25: compressed_certificate,
}

RAW_KEEP: Final = 64


def decode_message(htype: int, body: bytes, ctx: Context) -> Any:
    """Decode one handshake body; raises DecodeError when it is malformed."""
    decoder = DECODERS.get(htype)
    if decoder is None:
        return Raw(body[:RAW_KEEP])
    return decoder(Cursor(body), ctx)


def decode_reporting(htype: int, body: bytes, ctx: Context) -> tuple[Any, str | None]:
    """(decoded body or None, why it is malformed or None): a failure, or a decode that stopped
    early, as one reason that starts with the message's name."""
    try:
        decoded = decode_message(htype, body, ctx)
    except DecodeError as exc:
        return None, f"{registry.handshake_type_name(htype)}: {exc.reason} at {exc.offset}"
    partial = getattr(decoded, "malformed", None)
    return decoded, (f"{registry.handshake_type_name(htype)}: {partial}" if partial else None)


# Byte-identical handshake messages decode to one shared result (treat bodies as immutable): a
# server sends the same Certificate, EncryptedExtensions and OCSP status to every client, and a
# client software its same hello shape (byte-identical in replayed or synthetic traffic). Only
# the types that repeat are kept: key exchanges, tickets, Finished and signatures are per
# connection and would only churn the cache. Bounded by count and by a body's length.
SHARED_TYPES: Final = frozenset({HS_CLIENT_HELLO, HS_SERVER_HELLO, HS_ENCRYPTED_EXTENSIONS, HS_CERTIFICATE,
                                 HS_CERTIFICATE_REQUEST, HS_CERTIFICATE_STATUS, HS_COMPRESSED_CERTIFICATE})
SHARED_MAX: Final = 256  # distinct messages kept decoded
SHARED_BODY_MAX: Final = 16 << 10  # longer bodies are decoded every time: at most 4 MiB held
_SHARED: Final = LruCache[tuple[Any, "str | None"]](SHARED_MAX)


def decode_shared(htype: int, body: bytes, ctx: Context,
                  cache: LruCache[tuple[Any, str | None]] = _SHARED) -> tuple[Any, str | None]:
    """`decode_reporting`, once per distinct (type, context, bytes) among the types that repeat."""
    if htype not in SHARED_TYPES or len(body) > SHARED_BODY_MAX:
        return decode_reporting(htype, body, ctx)
    key = (htype, ctx.version, ctx.kx, ctx.dtls, ctx.max_certificates, body)
    found = cache.get(key)
    if found is None:
        found = cache.put(key, decode_reporting(htype, body, ctx))
    return found


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
