"""Events the sans-IO TLS core hands out: small immutable values, one per thing seen on the wire."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final


@dataclass(slots=True, init=False)
class Message:
    """A record-level thing: one handshake message, or one CCS/alert/application-data record.

    `frame` is the frame carrying the last byte of the record that completed it, as Wireshark
    reports it. `type` is the handshake type, None when encrypted or not a handshake. Treat as
    immutable.
    """

    side: int  # wire direction (0/1 as the TCP layer numbered them)
    frame: int
    ts: float
    content_type: int | None  # None: an SSLv2 record
    record_version: int
    type: int | None
    name: str
    encrypted: bool
    length: int
    body: Any = None
    decrypted: bool = False
    malformed: str | None = None
    # the content key of a body decoded once for all byte-identical messages (tls/decoders.decode_shared):
    # type, decoding context and body bytes; None otherwise. Equal keys: equal type, length, name, body.
    shared: tuple | None = None

    def __init__(self, *, side: int, frame: int, ts: float, content_type: int | None, record_version: int,
                 type: int | None, name: str, encrypted: bool, length: int, body: Any = None,  # noqa: A002
                 decrypted: bool = False, malformed: str | None = None, shared: tuple | None = None) -> None:
        self.side, self.frame, self.ts, self.content_type = side, frame, ts, content_type
        self.record_version, self.type, self.name, self.encrypted = record_version, type, name, encrypted
        self.length, self.body, self.decrypted, self.malformed = length, body, decrypted, malformed
        self.shared = shared


@dataclass(frozen=True, slots=True)
class Alert:
    level: int
    description: int


HEARTBEAT_REQUEST: Final = 1  # HeartbeatMessageType (RFC 6520 3); 2 is heartbeat_response


@dataclass(frozen=True, slots=True)
class Heartbeat:
    heartbeat_type: int  # HEARTBEAT_REQUEST, or 2 (response)
    payload_length: int  # what the sender claims
    record_length: int

    @property
    def overclaimed(self) -> bool:
        """The Heartbleed shape: a claimed payload longer than the record can hold."""
        return self.payload_length + 3 + 16 > self.record_length


@dataclass(slots=True, init=False)
class TlsStart:
    """TLS was found on this direction at stream offset `offset` (after a preamble when > 0)."""

    side: int
    frame: int
    offset: int
    preamble: bytes = b""  # the first bytes before TLS (at most PREAMBLE_KEEP), when offset > 0

    def __init__(self, side: int, frame: int, offset: int, preamble: bytes = b"") -> None:
        self.side, self.frame, self.offset, self.preamble = side, frame, offset, preamble


@dataclass(frozen=True, slots=True)
class Malformed:
    """Bytes of one direction that could not be read as TLS. `kind` says why (analyzer.wording):
    "malformed" (they break the protocol), "cut" (a capture end, connection end or TCP gap cut a
    record or message part-way), "undecryptable" (keys given, the record does not decrypt) or
    "limit" (a cap was reached)."""

    side: int
    frame: int
    offset: int
    reason: str
    kind: str = "malformed"


@dataclass(frozen=True, slots=True)
class Resync:
    """After lost bytes, record framing found again at `offset`, `skipped` bytes later."""

    side: int
    frame: int
    offset: int
    skipped: int


@dataclass(slots=True, init=False)
class KeyFacts:
    """What the key schedule of one connection found in the key log, once the connection ended:
    the labels logged for its client random (never the secrets), whether an RSA premaster line
    keyed it, whether its suite can be decrypted, and the first record of each side that did not
    decrypt with the keys it had."""

    client_random: bool  # a ClientHello was read, so there was a random to look up
    labels: tuple[str, ...]
    rsa_premaster: bool
    suite: int | None  # negotiated (None: no ServerHello read)
    suite_supported: bool | None
    failures: tuple[tuple[int, int, str], ...]  # (wire side, frame, reason), the first per side

    def __init__(self, client_random: bool, labels: tuple[str, ...], rsa_premaster: bool, suite: int | None,
                 suite_supported: bool | None, failures: tuple[tuple[int, int, str], ...]) -> None:
        self.client_random, self.labels, self.rsa_premaster = client_random, labels, rsa_premaster
        self.suite, self.suite_supported, self.failures = suite, suite_supported, failures


Event = Message | TlsStart | Malformed | Resync
