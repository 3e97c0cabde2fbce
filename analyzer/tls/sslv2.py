"""The SSLv2-compatible ClientHello (RFC 6101 appendix E / RFC 5246 appendix E.2).

Old clients wrap a TLS-capable hello in an SSLv2 record; cipher specs are 24-bit values on the
wire and are kept as such (0x00XXXX is the TLS suite XXXX).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from analyzer.errors import DecodeError
from analyzer.tls.messages import ClientHello
from analyzer.tls.reader import Cursor

SSL2_CLIENT_HELLO: Final = 1
SSL_CT_X509_CERTIFICATE: Final = 1  # SERVER-HELLO certificate type (SSLv2 draft, appendix C)


def parse_sslv2_hello(record: bytes) -> ClientHello:
    """Parse the body of an SSLv2 record (after its 2-byte header) holding CLIENT-HELLO."""
    c = Cursor(record)
    if c.u8("msg_type") != SSL2_CLIENT_HELLO:
        raise DecodeError("not an SSLv2 CLIENT-HELLO", 0)
    version = c.u16("version")
    spec_len, sid_len, challenge_len = c.u16("cipher_spec_length"), c.u16("session_id_length"), \
        c.u16("challenge_length")
    if spec_len % 3:
        raise DecodeError(f"cipher_spec_length {spec_len} is not a multiple of 3", 3)
    raw = c.take(spec_len, "cipher_specs")
    specs = [int.from_bytes(raw[i:i + 3], "big") for i in range(0, spec_len, 3)]
    sid = c.take(sid_len, "session_id")
    challenge = c.take(challenge_len, "challenge")
    random = challenge[-32:].rjust(32, b"\0")  # right-justified into the 32-byte random
    return ClientHello(version, random, sid, specs, [0], None, sslv2=True)


SSL2_NAMES = {0: "SSLv2Error", 1: "ClientHello", 2: "SSLv2ClientMasterKey", 3: "SSLv2ClientFinished",
              4: "SSLv2ServerHello", 5: "SSLv2ServerVerify", 6: "SSLv2ServerFinished",
              7: "SSLv2RequestCertificate", 8: "SSLv2ClientCertificate"}


@dataclass(slots=True)
class SSLv2ServerHello:
    session_id_hit: int
    certificate_type: int
    version: int
    certificate: bytes
    cipher_specs: list[int]
    connection_id_length: int


def parse_sslv2_server_hello(record: bytes) -> SSLv2ServerHello:
    c = Cursor(record)
    c.u8("msg_type")
    hit, cert_type, version = c.u8("session_id_hit"), c.u8("certificate_type"), c.u16("version")
    cert_len, specs_len, cid_len = c.u16("certificate_length"), c.u16("cipher_specs_length"), \
        c.u16("connection_id_length")
    cert = c.take(cert_len, "certificate")
    raw = c.take(specs_len - specs_len % 3, "cipher_specs")
    specs = [int.from_bytes(raw[i:i + 3], "big") for i in range(0, len(raw), 3)]
    return SSLv2ServerHello(hit, cert_type, version, cert, specs, cid_len)


def sslv2_record(buf: bytes | bytearray, p: int) -> tuple[int, int] | None:
    """(header length, body length) of the SSLv2 record at p, or None when incomplete."""
    if len(buf) - p < 3:
        return None
    if buf[p] & 0x80:
        return 2, ((buf[p] & 0x7F) << 8) | buf[p + 1]
    return 3, ((buf[p] & 0x3F) << 8) | buf[p + 1]
