"""Handshake message bodies -> the typed dataclasses of analyzer/tls/messages.py, one decoder per
handshake type.

Decoders are pure: `decode_message(type, body, ctx)`. The context says what the bytes alone do
not (negotiated version, key exchange of the chosen suite) and is passed in explicitly.
A decoder only reads inside its own body; a wrong length raises `DecodeError`. Byte-identical
messages are decoded once (`decode_shared`, a bounded cache keyed by content).
"""

from __future__ import annotations

import struct
from typing import Any, Final

from analyzer import registry
from analyzer.cache import LruCache
from analyzer.errors import DecodeError
from analyzer.registry.codes import (
    EXT_SIGNATURE_ALGORITHMS,
    HS_CERTIFICATE,
    HS_CERTIFICATE_REQUEST,
    HS_CERTIFICATE_STATUS,
    HS_CLIENT_HELLO,
    HS_COMPRESSED_CERTIFICATE,
    HS_ENCRYPTED_EXTENSIONS,
    HS_SERVER_HELLO,
    SSL3,
    TLS12,
)
from analyzer.tls import extensions as X
from analyzer.tls.extensions import Extension, decode_extensions
from analyzer.tls.messages import (
    HRR_RANDOM,
    NAMED_CURVE,
    Certificate,
    CertificateEntry,
    CertificateRequest,
    CertificateStatus,
    CertificateVerify,
    ClientHello,
    ClientKeyExchange,
    CompressedCertificate,
    Context,
    Empty,
    EncryptedExtensions,
    Finished,
    KeyUpdate,
    NewSessionTicket,
    Raw,
    ServerHello,
    ServerKeyExchange,
    find_extension,
)
from analyzer.tls.reader import Cursor


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


PSK_KX: Final = frozenset({"PSK", "DHE_PSK", "ECDHE_PSK", "RSA_PSK"})  # key exchanges that start with a PSK
# identity (hint) and whose ServerKeyExchange is not signed (RFC 4279 2-4, RFC 5489 2)


def _signature(c: Cursor, ctx: Context) -> tuple[int | None, int]:
    """A digitally-signed element: scheme (TLS 1.2+) and signature length."""
    if not c.remaining:
        return None, 0
    scheme = c.u16("signature_scheme") if ctx.version is None or ctx.version >= TLS12 else None
    return scheme, len(c.opaque(2, "signature"))


def server_key_exchange(c: Cursor, ctx: Context) -> ServerKeyExchange:
    kx = ctx.kx or "unknown"
    ske = ServerKeyExchange(kx)
    if kx in PSK_KX:
        ske.psk_identity_hint_length = len(c.opaque(2, "psk_identity_hint"))
    if kx.startswith("ECDH"):
        ske.curve_type = c.u8("curve_type")
        if ske.curve_type == NAMED_CURVE:
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
    if "anon" not in kx and c.remaining and kx not in PSK_KX:
        ske.signature_scheme, ske.signature_length = _signature(c, ctx)
    return ske


def client_key_exchange(c: Cursor, ctx: Context) -> ClientKeyExchange:
    kx = ctx.kx or "unknown"
    cke = ClientKeyExchange(kx)
    if kx in PSK_KX:
        cke.psk_identity_length = len(c.opaque(2, "psk_identity"))
    if kx.startswith("ECDH"):
        cke.public_key_length = len(c.opaque(1, "ecdh_Yc")) if c.remaining else 0
    elif kx.startswith("DH"):
        cke.public_key_length = len(c.opaque(2, "dh_Yc")) if c.remaining else 0
    elif "RSA" in kx:
        if ctx.version == SSL3:  # no length prefix
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
        sig = find_extension(exts, EXT_SIGNATURE_ALGORITHMS)
        return CertificateRequest(schemes=(sig.fields.get("schemes", []) if sig else []),
                                  request_context=context, extensions=exts)
    types = c.u8_list(1, "certificate_types")
    schemes = c.u16_list(2, "supported_signature_algorithms") \
        if ctx.version is None or ctx.version >= TLS12 else []
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
SharedKey = tuple[int, "int | None", "str | None", bool, int, bytes]  # (type, context..., body bytes)
Shared = tuple[Any, "str | None", "SharedKey | None"]
_SHARED: Final = LruCache[Shared](SHARED_MAX)


def decode_shared(htype: int, body: bytes, ctx: Context, cache: LruCache[Shared] = _SHARED) -> Shared:
    """`decode_reporting`, once per distinct (type, context, bytes) among the types that repeat;
    with the content key it was kept under (None: not kept), which renderers key their own memos by
    (analyzer/render/json.py): equal keys, equal messages."""
    if htype not in SHARED_TYPES or len(body) > SHARED_BODY_MAX:
        return (*decode_reporting(htype, body, ctx), None)
    key = (htype, ctx.version, ctx.kx, ctx.dtls, ctx.max_certificates, body)
    found = cache.get(key)
    if found is None:
        found = cache.put(key, (*decode_reporting(htype, body, ctx), key))
    return found
