"""QUIC frames (RFC 9000 19, RFC 9221 DATAGRAM, the ack-frequency draft): every frame type is
parsed far enough to be skipped; CRYPTO, ACK, CONNECTION_CLOSE, NEW_TOKEN, NEW_CONNECTION_ID,
PADDING, PING and HANDSHAKE_DONE are decoded. STREAM and DATAGRAM payloads are passed over,
never copied or kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from analyzer.errors import DecodeError
from analyzer.quic.wire import varint
from analyzer.registry import quic as R

PADDING: Final = 0x00
PING: Final = 0x01
ACK: Final = 0x02
ACK_ECN: Final = 0x03
RESET_STREAM: Final = 0x04
STOP_SENDING: Final = 0x05
CRYPTO: Final = 0x06
NEW_TOKEN: Final = 0x07
STREAM_FIRST: Final = 0x08
STREAM_LAST: Final = 0x0F
NEW_CONNECTION_ID: Final = 0x18
PATH_CHALLENGE: Final = 0x1A
PATH_RESPONSE: Final = 0x1B
CONNECTION_CLOSE: Final = 0x1C
APPLICATION_CLOSE: Final = 0x1D
HANDSHAKE_DONE: Final = 0x1E
IMMEDIATE_ACK: Final = 0x1F
DATAGRAM: Final = 0x30
DATAGRAM_WITH_LENGTH: Final = 0x31
ACK_FREQUENCY: Final = 0xAF
TIME_STAMP: Final = 0x2F5
# frame types followed by this many variable-length integers and nothing else
VARINT_FIELDS: Final[dict[int, int]] = {
    RESET_STREAM: 3, STOP_SENDING: 2, 0x10: 1, 0x11: 2, 0x12: 1, 0x13: 1, 0x14: 1, 0x15: 2, 0x16: 1, 0x17: 1,
    0x19: 1, ACK_FREQUENCY: 4, TIME_STAMP: 1}
MAX_ACK_RANGES: Final = 1024  # an ACK frame claiming more ranges than this is read as malformed


@dataclass(slots=True, init=False)
class Crypto:
    """One per CRYPTO frame."""

    offset: int
    data: bytes

    def __init__(self, offset: int, data: bytes) -> None:
        self.offset, self.data = offset, data


@dataclass(slots=True)
class Ack:
    largest: int
    delay: int
    first_range: int
    ranges: int  # additional ranges after the first
    ecn: tuple[int, int, int] | None  # ECT(0), ECT(1), ECN-CE counts (ACK_ECN only)


@dataclass(slots=True)
class ConnectionClose:
    application: bool  # 0x1d: an application error code (not a transport one)
    error_code: int
    frame_type: int | None  # the frame that triggered a transport error (0x1c only)
    reason: bytes  # the reason phrase, as sent (bounded by the packet)

    @property
    def error_name(self) -> str:
        return f"application(0x{self.error_code:x})" if self.application else R.transport_error_name(self.error_code)

    @property
    def alert(self) -> int | None:
        """The TLS alert a crypto error carries (RFC 9001 4.8), else None."""
        if not self.application and R.CRYPTO_ERROR_BASE <= self.error_code <= 0x1FF:
            return self.error_code - R.CRYPTO_ERROR_BASE
        return None


@dataclass(slots=True)
class NewToken:
    length: int


@dataclass(slots=True)
class NewConnectionId:
    sequence: int
    retire_prior_to: int
    cid: bytes


@dataclass(slots=True, init=False)
class Other:
    """A frame read only to be skipped (STREAM, MAX_DATA, ...), a run of PADDING (`count` bytes),
    or PING / HANDSHAKE_DONE / IMMEDIATE_ACK (no body)."""

    type: int
    count: int

    def __init__(self, type: int, count: int = 1) -> None:  # noqa: A002
        self.type, self.count = type, count

    @property
    def name(self) -> str:
        return R.frame_type_name(self.type)


Frame = Crypto | Ack | ConnectionClose | NewToken | NewConnectionId | Other


def parse_frames(buf: bytes) -> tuple[list[Frame], DecodeError | None]:
    """Every frame of a decrypted payload, and the error that stopped reading (None: all read).
    Frames before a malformed one are kept; nothing after it is guessed at."""
    out: list[Frame] = []
    n = len(buf)
    p = 0
    try:
        while p < n:
            ftype, q = varint(buf, p, n, "frame type")
            if ftype == PADDING:
                e = q
                while e < n and buf[e] == 0:
                    e += 1
                out.append(Other(PADDING, e - p))
                p = e
            elif ftype == CRYPTO:
                off, q = varint(buf, q, n, "crypto offset")
                q, p = _sized(buf, q, n, "CRYPTO frame", p)
                out.append(Crypto(off, bytes(buf[q:p])))
            elif ftype in (ACK, ACK_ECN):
                largest, q = varint(buf, q, n, "ack largest")
                delay, q = varint(buf, q, n, "ack delay")
                count, q = varint(buf, q, n, "ack range count")
                first, q = varint(buf, q, n, "ack first range")
                if count > MAX_ACK_RANGES:
                    raise DecodeError(f"ACK frame claims {count} ranges (more than {MAX_ACK_RANGES})", p)
                for _ in range(count * 2):
                    _, q = varint(buf, q, n, "ack range")
                ecn = None
                if ftype == ACK_ECN:
                    e0, q = varint(buf, q, n, "ECT(0) count")
                    e1, q = varint(buf, q, n, "ECT(1) count")
                    ce, q = varint(buf, q, n, "ECN-CE count")
                    ecn = (e0, e1, ce)
                out.append(Ack(largest, delay, first, count, ecn))
                p = q
            elif STREAM_FIRST <= ftype <= STREAM_LAST:
                _, q = varint(buf, q, n, "stream id")
                if ftype & 0x04:
                    _, q = varint(buf, q, n, "stream offset")
                p = _skip_data(buf, q, n, bool(ftype & 0x02), "STREAM", p)
                out.append(Other(ftype))
            elif ftype in (CONNECTION_CLOSE, APPLICATION_CLOSE):
                code, q = varint(buf, q, n, "error code")
                trigger = None
                if ftype == CONNECTION_CLOSE:
                    trigger, q = varint(buf, q, n, "frame type")
                q, p = _sized(buf, q, n, "CONNECTION_CLOSE reason", p)
                out.append(ConnectionClose(ftype == APPLICATION_CLOSE, code, trigger, bytes(buf[q:p])))
            elif ftype == NEW_TOKEN:
                q, p = _sized(buf, q, n, "NEW_TOKEN", p)
                out.append(NewToken(p - q))
            elif ftype == NEW_CONNECTION_ID:
                seq, q = varint(buf, q, n, "sequence number")
                retire, q = varint(buf, q, n, "retire prior to")
                if q >= n or not 1 <= buf[q] <= 20 or q + 1 + buf[q] + 16 > n:
                    raise DecodeError("NEW_CONNECTION_ID: bad connection id length", p)
                cid = bytes(buf[q + 1:q + 1 + buf[q]])
                out.append(NewConnectionId(seq, retire, cid))
                p = q + 1 + len(cid) + 16
            elif ftype in (PATH_CHALLENGE, PATH_RESPONSE):
                if q + 8 > n:
                    raise DecodeError("PATH_CHALLENGE/RESPONSE: 8 bytes of data missing", p)
                out.append(Other(ftype))
                p = q + 8
            elif ftype in (PING, HANDSHAKE_DONE, IMMEDIATE_ACK):
                out.append(Other(ftype))
                p = q
            elif ftype in (DATAGRAM, DATAGRAM_WITH_LENGTH):
                p = _skip_data(buf, q, n, ftype == DATAGRAM_WITH_LENGTH, "DATAGRAM", p)
                out.append(Other(ftype))
            elif ftype in VARINT_FIELDS:
                for _ in range(VARINT_FIELDS[ftype]):
                    _, q = varint(buf, q, n, R.frame_type_name(ftype))
                out.append(Other(ftype))
                p = q
            else:
                raise DecodeError(f"unknown frame type 0x{ftype:x}: the rest of the packet cannot be read", p)
    except DecodeError as exc:
        return out, exc
    return out, None


def _skip_data(buf: bytes, q: int, n: int, has_length: bool, what: str, start: int) -> int:
    """Pass over a STREAM or DATAGRAM payload (never copied): to its Length, or to the packet's end."""
    return _sized(buf, q, n, f"{what} frame", start)[1] if has_length else n


def _sized(buf: bytes, q: int, n: int, what: str, start: int) -> tuple[int, int]:
    """(start, end) of the bytes a varint length at `q` announces, checked against the packet's end."""
    length, q = varint(buf, q, n, f"{what} length")
    if q + length > n:
        raise DecodeError(f"{what} claims {length} bytes, {n - q} left", start)
    return q, q + length
