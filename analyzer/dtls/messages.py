"""Bodies only DTLS has: HelloVerifyRequest (RFC 6347 4.2.1), ACK (RFC 9147 7), and what is known
of a record that stays encrypted. Decoders are pure and raise DecodeError on a wrong length."""

from __future__ import annotations

from dataclasses import dataclass

from analyzer.errors import DecodeError
from analyzer.tls.reader import Cursor


@dataclass(frozen=True, slots=True)
class HelloVerifyRequest:
    server_version: int
    cookie: bytes


@dataclass(frozen=True, slots=True)
class Ack:
    """The records a DTLS 1.3 peer acknowledges, as (epoch, sequence number) pairs."""

    records: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class OpaqueRecord:
    """An encrypted record we could not (or were not asked to) decrypt. `epoch` is the whole
    epoch of a DTLS 1.0/1.2 record, the low two bits of a DTLS 1.3 unified header (1 early data,
    2 handshake, 3 application data and later); `sequence_number` as sent (8/16 masked bits in a
    unified header); `cid` the connection ID the record carried."""

    epoch: int
    sequence_number: int
    cid: bytes = b""
    unified: bool = False


def hello_verify_request(body: bytes) -> HelloVerifyRequest:
    c = Cursor(body)
    version = c.u16("server_version")
    cookie = c.opaque(1, "cookie")
    c.expect_end("hello_verify_request")
    return HelloVerifyRequest(version, cookie)


def ack(body: bytes) -> Ack:
    c = Cursor(body)
    numbers = c.block(2, "record_numbers")
    if numbers.remaining % 16:
        raise DecodeError(f"record_numbers: {numbers.remaining} bytes, not a multiple of 16", numbers.pos)
    out = []
    while numbers.remaining:
        epoch = int.from_bytes(numbers.take(8, "epoch"), "big")
        out.append((epoch, int.from_bytes(numbers.take(8, "sequence_number"), "big")))
    c.expect_end("ack")
    return Ack(tuple(out))
