"""Events the sans-IO QUIC core hands out besides TLS handshake `Message`s (analyzer.tls.events).

Small values, one per thing seen; `side` is the wire direction as the caller numbered it, `frame`
the capture frame of the datagram, `ts` its timestamp. See the package docstring for the contract.
"""

from __future__ import annotations

from dataclasses import dataclass

from analyzer.tls.events import Malformed

__all__ = ["ConnectionClose", "ConnectionId", "CryptoGap", "EncryptedRun", "HandshakeDone", "Malformed",
           "NewToken", "Packet", "QuicStart", "Retry", "VersionNegotiation"]


@dataclass(frozen=True, slots=True)
class QuicStart:
    """The connection is confirmed QUIC: a client Initial from `client_side` decrypted."""

    client_side: int
    frame: int
    ts: float
    version: int
    version_name: str
    original_dcid: bytes  # the client's first Destination Connection ID (the Initial keys' input)


@dataclass(slots=True, init=False)
class Packet:
    """One packet that was read: an Initial, or a Handshake/0-RTT/1-RTT packet opened with a key
    log. `frames` lists the frame type names in order (PADDING runs once)."""

    side: int
    frame: int
    ts: float
    packet_type: str  # Initial, 0-RTT, Handshake, 1-RTT
    version: int
    dcid: bytes
    scid: bytes
    packet_number: int
    length: int  # bytes of the packet on the wire
    frames: list[str]
    token_length: int  # Initial: the address-validation token's length
    key_phase: int  # 1-RTT: the key phase bit (0 for long headers)

    def __init__(self, side: int, frame: int, ts: float, packet_type: str, version: int, dcid: bytes,
                 scid: bytes, packet_number: int, length: int, frames: list[str], token_length: int = 0,
                 key_phase: int = 0) -> None:
        self.side, self.frame, self.ts, self.packet_type, self.version = side, frame, ts, packet_type, version
        self.dcid, self.scid, self.packet_number, self.length, self.frames = dcid, scid, packet_number, length, frames
        self.token_length, self.key_phase = token_length, key_phase


@dataclass(frozen=True, slots=True)
class EncryptedRun:
    """Consecutive Handshake, 0-RTT or 1-RTT packets from one side (a flight, for the ladder):
    emitted when the run ends. `decrypted` counts those opened with a key log."""

    side: int
    packet_type: str  # Handshake, 0-RTT, 1-RTT
    first_frame: int
    last_frame: int
    ts: float  # of the first packet
    packets: int
    bytes: int
    decrypted: int


@dataclass(frozen=True, slots=True)
class VersionNegotiation:
    side: int
    frame: int
    ts: float
    versions: tuple[int, ...]  # offered by the server, wire order
    dcid: bytes
    scid: bytes


@dataclass(frozen=True, slots=True)
class Retry:
    side: int
    frame: int
    ts: float
    version: int
    dcid: bytes
    scid: bytes  # the client's next Initials go to this id, and their keys derive from it
    token_length: int
    integrity: str  # "ok", "failed", or "unchecked (why)"
    accepted: bool  # False: a failed tag, or a second Retry (RFC 9000 17.2.5.2: a client acts on one)


@dataclass(frozen=True, slots=True)
class ConnectionClose:
    side: int
    frame: int
    ts: float
    packet_type: str  # the packet it came in
    application: bool  # 0x1d: an application's error code
    error_code: int
    error_name: str  # NO_ERROR, PROTOCOL_VIOLATION, CRYPTO_ERROR(no_application_protocol), application(0x..)
    frame_type: int | None  # 0x1c: the frame type that caused it
    reason: str  # the reason phrase as text (invalid UTF-8 as \\xNN); sanitise before printing
    alert: int | None  # a crypto error's TLS alert description


@dataclass(frozen=True, slots=True)
class HandshakeDone:
    side: int
    frame: int
    ts: float


@dataclass(frozen=True, slots=True)
class NewToken:
    side: int
    frame: int
    ts: float
    length: int


@dataclass(frozen=True, slots=True)
class ConnectionId:
    """A connection id seen for the first time (long-header ids, NEW_CONNECTION_ID when decrypted):
    the integrator's flow table keys QUIC connections by these as well as by the 5-tuple."""

    side: int  # the side packets carrying it are addressed to (its owner; the client's first DCID: the server)
    frame: int
    cid: bytes


@dataclass(frozen=True, slots=True)
class CryptoGap:
    """CRYPTO bytes of a level that never arrived (reported at `end()`): like a TCP gap, nothing is
    invented; the handshake bytes after it were not decoded."""

    side: int
    frame: int
    level: str  # Initial, Handshake, 1-RTT
    offset: int
    length: int


Event = (QuicStart | Packet | EncryptedRun | VersionNegotiation | Retry | ConnectionClose | HandshakeDone
         | NewToken | ConnectionId | CryptoGap | Malformed)
