"""ClientHello and ServerHello wire bytes from their parts (extensions, suites, versions), decoded
by the analyzer's own decoder: the factories the fingerprint, cache and shared-decoding tests build
their hellos with."""

from __future__ import annotations

from analyzer.tls.decoders import decode_message
from analyzer.tls.messages import ClientHello, Context, ServerHello
from analyzer.tls.sslv2 import parse_sslv2_hello


def u16s(values) -> bytes:
    return b"".join(v.to_bytes(2, "big") for v in values)


def vec(data: bytes, width: int) -> bytes:
    return len(data).to_bytes(width, "big") + data


def ext(etype: int, data: bytes = b"") -> bytes:
    return etype.to_bytes(2, "big") + vec(data, 2)


def sni(host: bytes = b"example.com") -> bytes:
    return ext(0, vec(b"\x00" + vec(host, 2), 2))


def alpn(*protocols: bytes, etype: int = 16) -> bytes:
    return ext(etype, vec(b"".join(vec(p, 1) for p in protocols), 2))


def groups(*values: int) -> bytes:
    return ext(10, vec(u16s(values), 2))


def point_formats(*values: int) -> bytes:
    return ext(11, vec(bytes(values), 1))


def sig_algs(*values: int, etype: int = 13) -> bytes:
    return ext(etype, vec(u16s(values), 2))


def versions(*values: int) -> bytes:
    return ext(43, vec(u16s(values), 1))


def key_share(*grps: int) -> bytes:
    return ext(51, vec(b"".join(u16s([g]) + vec(bytes(32), 2) for g in grps), 2))


def client_hello(ciphers, extensions: list[bytes] | None = None, version: int = 0x0303) -> ClientHello:
    """A ClientHello body from its parts, decoded by the real decoder. None: no extensions block."""
    body = version.to_bytes(2, "big") + bytes(32) + vec(b"", 1) + vec(u16s(ciphers), 2) + vec(b"\x00", 1)
    if extensions is not None:
        body += vec(b"".join(extensions), 2)
    ch = decode_message(1, body, Context())
    assert isinstance(ch, ClientHello) and ch.malformed is None, ch
    return ch


def server_hello(cipher: int, extensions: list[bytes] | None = None, version: int = 0x0303) -> ServerHello:
    body = version.to_bytes(2, "big") + bytes(32) + vec(b"", 1) + u16s([cipher]) + b"\x00"
    if extensions is not None:
        body += vec(b"".join(extensions), 2)
    sh = decode_message(2, body, Context())
    assert isinstance(sh, ServerHello) and sh.malformed is None, sh
    return sh


def sslv2_hello(specs: list[int], version: int) -> ClientHello:
    """The body of an SSLv2 record holding CLIENT-HELLO (RFC 6101 appendix E)."""
    raw = b"".join(s.to_bytes(3, "big") for s in specs)
    challenge = bytes(range(16))
    body = b"\x01" + u16s([version, len(raw), 0, len(challenge)]) + raw + challenge
    return parse_sslv2_hello(body)
