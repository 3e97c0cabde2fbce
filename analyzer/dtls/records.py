"""DTLS record framing: one UDP datagram -> the records in it (RFC 6347 4.1, RFC 9146, RFC 9147 4).

Three header forms, told apart by the first byte:
- DTLSPlaintext / DTLS 1.0-1.2 DTLSCiphertext: type(1) version(2) epoch(2) sequence_number(6)
  length(2), 13 bytes;
- tls12_cid (content type 25, RFC 9146): the same with the connection ID between the sequence
  number and the length; its length is not on the wire, the hellos' connection_id extension says it;
- DTLS 1.3 unified header (first byte 0b001CSLEE): C a connection ID follows, S a 16-bit (else
  8-bit) sequence number, L a length (else the record fills the datagram), EE the low epoch bits.
  The sequence number is still encrypted here (record number encryption, see keys.py).

A record never spans datagrams. Framing stops at the first header that is not plausible and says
why; the records before it are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from analyzer.dtls.versions import DTLS13, RECORD_VERSIONS
from analyzer.registry.codes import CT_ACK, CT_CHANGE_CIPHER_SPEC, CT_TLS12_CID

HEADER: Final = 13
MAX_RECORD: Final = (1 << 14) + 2048  # RFC 6347 4.1: at most 2^14 + 2048 bytes of ciphertext
UNIFIED_MASK: Final = 0xE0
UNIFIED_BITS: Final = 0x20  # 0b001xxxxx
FLAG_CID: Final = 0x10
FLAG_SEQ16: Final = 0x08
FLAG_LENGTH: Final = 0x04
EPOCH_BITS: Final = 0x03


@dataclass(frozen=True, slots=True)
class DtlsRecord:
    """One record as framed; `content_type` None for a DTLS 1.3 unified header (the type is inside
    the encryption), whose `epoch` holds only the low two bits and `seq` the masked 8/16 bits."""

    offset: int  # where the record starts in the datagram
    content_type: int | None
    version: int
    epoch: int
    seq: int
    seq_bits: int  # 48 (DTLSPlaintext and tls12_cid), 16 or 8 (unified header)
    cid: bytes
    header: bytes  # the header as sent: the AEAD additional data is built from it
    body: bytes

    @property
    def unified(self) -> bool:
        return self.content_type is None


def plausible_header(buf: bytes, p: int) -> bool:
    """A 13-byte DTLSPlaintext header at p whose version is DTLS and whose body fits the datagram."""
    if len(buf) - p < HEADER:
        return False
    ct = buf[p]
    length = (buf[p + 11] << 8) | buf[p + 12]
    return (CT_CHANGE_CIPHER_SPEC <= ct <= CT_ACK and ct != CT_TLS12_CID and ((buf[p + 1] << 8) | buf[p + 2]) in RECORD_VERSIONS
            and length <= MAX_RECORD and p + HEADER + length <= len(buf))


def frame_records(buf: bytes, cid_length: int, unified: bool) -> tuple[list[DtlsRecord], tuple[int, str] | None]:
    """(records, None) when the whole datagram framed; else the records before the fault and
    (offset, reason). `cid_length`: the connection ID length in this sender's tls12_cid and unified
    headers; `unified`: whether DTLS 1.3 unified headers may appear (after a DTLS ClientHello)."""
    out: list[DtlsRecord] = []
    p, n = 0, len(buf)
    while p < n:
        first = buf[p]
        if unified and first & UNIFIED_MASK == UNIFIED_BITS:
            rec, reason = _unified(buf, p, cid_length)
        elif first == CT_TLS12_CID:
            rec, reason = _tls12_cid(buf, p, cid_length)
        else:
            rec, reason = _plaintext(buf, p)
        if rec is None:
            return out, (p, reason)
        out.append(rec)
        p += len(rec.header) + len(rec.body)
    return out, None


def _plaintext(buf: bytes, p: int) -> tuple[DtlsRecord | None, str]:
    if len(buf) - p < HEADER:
        return None, f"{len(buf) - p} bytes left, too short for a record header"
    ct, version = buf[p], (buf[p + 1] << 8) | buf[p + 2]
    if not CT_CHANGE_CIPHER_SPEC <= ct <= CT_ACK or version not in RECORD_VERSIONS:
        return None, f"implausible record header {buf[p:p + 3].hex()}"
    return _body(buf, p, ct, version, HEADER - 2, b"", 48)


def _tls12_cid(buf: bytes, p: int, cid_length: int) -> tuple[DtlsRecord | None, str]:
    if len(buf) - p < HEADER + cid_length:
        return None, f"{len(buf) - p} bytes left, too short for a tls12_cid header with a {cid_length}-byte CID"
    version = (buf[p + 1] << 8) | buf[p + 2]
    if version not in RECORD_VERSIONS:
        return None, f"implausible record header {buf[p:p + 3].hex()}"
    cid = bytes(buf[p + 11:p + 11 + cid_length])
    return _body(buf, p, CT_TLS12_CID, version, 11 + cid_length, cid, 48)


def _body(buf: bytes, p: int, ct: int, version: int, length_at: int, cid: bytes,
          seq_bits: int) -> tuple[DtlsRecord | None, str]:
    """The 48-bit epoch/sequence header forms, once the position of the length field is known."""
    length = (buf[p + length_at] << 8) | buf[p + length_at + 1]
    start = p + length_at + 2
    if length > MAX_RECORD:
        return None, f"record length {length} exceeds the {MAX_RECORD}-byte cap"
    if start + length > len(buf):
        return None, f"record length {length} overruns the datagram ({len(buf) - start} bytes left)"
    epoch = (buf[p + 3] << 8) | buf[p + 4]
    seq = int.from_bytes(buf[p + 5:p + 11], "big")
    return DtlsRecord(p, ct, version, epoch, seq, seq_bits, cid, bytes(buf[p:start]),
                      bytes(buf[start:start + length])), ""


def _unified(buf: bytes, p: int, cid_length: int) -> tuple[DtlsRecord | None, str]:
    first = buf[p]
    q = p + 1
    cid = b""
    if first & FLAG_CID:
        if not cid_length:
            return None, "unified header with a connection ID, but no connection ID was negotiated"
        cid = bytes(buf[q:q + cid_length])
        q += cid_length
    seq_len = 2 if first & FLAG_SEQ16 else 1
    need = seq_len + (2 if first & FLAG_LENGTH else 0)
    if len(buf) - q < need:
        return None, f"{len(buf) - p} bytes left, too short for a unified header"
    seq = int.from_bytes(buf[q:q + seq_len], "big")
    q += seq_len
    if first & FLAG_LENGTH:
        length = (buf[q] << 8) | buf[q + 1]
        q += 2
        if length > MAX_RECORD:
            return None, f"record length {length} exceeds the {MAX_RECORD}-byte cap"
        if q + length > len(buf):
            return None, f"record length {length} overruns the datagram ({len(buf) - q} bytes left)"
    else:
        length = len(buf) - q
    return DtlsRecord(p, None, DTLS13, first & EPOCH_BITS, seq, 8 * seq_len, cid, bytes(buf[p:q]),
                      bytes(buf[q:q + length])), ""
