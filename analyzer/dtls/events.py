"""Events only DTLS has, beside the TLS core's Message/Malformed/TlsStart (analyzer.tls.events).
Small immutable values; `side` is the wire direction as the caller numbered it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Fragment:
    """A handshake fragment that is not the whole message (Wireshark shows each as a row).
    The message itself follows as a Message once its last byte arrives."""

    side: int
    frame: int
    ts: float
    epoch: int
    message_seq: int
    type: int  # handshake type
    name: str
    offset: int  # fragment_offset
    length: int  # fragment_length
    message_length: int
    decrypted: bool = False


@dataclass(frozen=True, slots=True)
class Retransmission:
    """A later copy of (a fragment of) a handshake message already emitted as a Message: each copy
    is one event; the Message is never emitted twice. `first_frame` is the frame of that Message."""

    side: int
    frame: int
    ts: float
    epoch: int
    message_seq: int
    type: int
    name: str
    offset: int
    length: int
    first_frame: int
    decrypted: bool = False
