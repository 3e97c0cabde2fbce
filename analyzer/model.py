"""Connection facts: what assemble knows about one connection. No judgement lives here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from analyzer.net.flows import Endpoint
from analyzer.registry import is_tls13


@dataclass(slots=True, init=False)
class DataRun:
    """Consecutive opaque records (application data, encrypted flights) from one side, as one row."""

    side: Any  # wire direction (0/1) while assembling, "client"/"server" once finished
    frame: int
    last_frame: int
    ts: float
    content_type: int
    record_version: int
    records: int
    length: int
    name: str = "ApplicationData"
    role: str = "application"  # "early_data" (before ServerHello), "handshake" (TLS 1.3 flight), "application"
    decrypted: bool = False  # its plaintext was recovered with a key log

    def __init__(self, side: Any, frame: int, last_frame: int, ts: float, content_type: int, record_version: int,
                 records: int, length: int, name: str = "ApplicationData", role: str = "application",
                 decrypted: bool = False) -> None:
        self.side, self.frame, self.last_frame, self.ts, self.content_type = side, frame, last_frame, ts, content_type
        self.record_version, self.records, self.length = record_version, records, length
        self.name, self.role, self.decrypted = name, role, decrypted


@dataclass(slots=True, init=False)
class Entry:
    """One ladder row / JSON message: a TLS message, oriented to client or server."""

    side: str
    msg: Any  # analyzer.tls.events.Message

    def __init__(self, *, side: str, msg: Any) -> None:
        self.side, self.msg = side, msg


@dataclass(slots=True)
class GapInfo:
    side: Any  # as DataRun.side
    offset: int
    length: int
    frame: int


@dataclass(slots=True)
class AlertInfo:
    side: str
    frame: int
    level: int | None  # None: encrypted
    description: int | None


# Bodies of the ladder rows only QUIC or DTLS has (analyzer/datagrams.py makes them; the JSON shows their fields)
@dataclass(frozen=True, slots=True)
class VersionNegotiationRow:
    offered: list[int]  # QUIC versions, wire order
    offered_names: list[str]


@dataclass(frozen=True, slots=True)
class RetryRow:
    quic_version: int
    source_connection_id: str  # hex: the client's next Initials go there, and their keys derive from it
    token_length: int
    integrity: str  # "ok", "failed", "unchecked (...)"
    accepted: bool


@dataclass(frozen=True, slots=True)
class CloseRow:
    packet_type: str
    application: bool
    error_code: int
    error_name: str
    frame_type: int | None
    reason: str  # from the wire: sanitised by each renderer
    alert: int | None  # a crypto error's TLS alert description
    alert_name: str | None


@dataclass(frozen=True, slots=True)
class FragmentRow:
    """A DTLS handshake fragment that did not complete its message: Wireshark lists each as a row of
    that message's type. The message itself is a row of its own where its last fragment arrived."""

    epoch: int
    message_seq: int
    fragment_offset: int
    fragment_length: int
    message_length: int


@dataclass(frozen=True, slots=True)
class RetransmissionRow:
    """A later copy of (a fragment of) a DTLS handshake message already listed at `first_frame`:
    the message counts once (facts skip this row); `message` is its body, to show the copy's fields."""

    epoch: int
    message_seq: int
    fragment_offset: int
    fragment_length: int
    first_frame: int
    message: Any


@dataclass(slots=True, init=False)
class DecryptFailure:
    """The first record from one side that did not decrypt with the key it had."""

    side: str
    frame: int
    reason: str  # the record layer's words ("authentication tag mismatch", ...)
    after_gap: bool  # bytes of that side were lost in a TCP gap before it

    def __init__(self, side: str, frame: int, reason: str, after_gap: bool) -> None:
        self.side, self.frame, self.reason, self.after_gap = side, frame, reason, after_gap


@dataclass(slots=True, init=False)
class DecryptionFacts:
    """What decrypting with the key log met on one connection (only when a key log was given):
    the labels the key log held for its client random (never the secrets), and its records as
    they came out, per side."""

    client_random: bool  # a ClientHello was captured: there was a random to look the keys up by
    labels: list[str]
    rsa_premaster: bool  # keyed by an RSA premaster line
    suite: int | None
    suite_supported: bool | None  # None: no ServerHello
    failures: list[DecryptFailure]
    decrypted: dict[str, int]  # side -> records decrypted
    opaque: dict[str, int]  # side -> protected records left opaque

    def __init__(self, client_random: bool, labels: list[str], rsa_premaster: bool, suite: int | None,
                 suite_supported: bool | None, failures: list[DecryptFailure], decrypted: dict[str, int],
                 opaque: dict[str, int]) -> None:
        self.client_random, self.labels, self.rsa_premaster = client_random, labels, rsa_premaster
        self.suite, self.suite_supported, self.failures = suite, suite_supported, failures
        self.decrypted, self.opaque = decrypted, opaque


@dataclass(slots=True, init=False)
class Connection:
    """Everything observed on one connection (TCP, or a QUIC/DTLS flow over UDP), oriented client -> server."""

    id: int
    transport: str
    client: Endpoint
    server: Endpoint
    role_source: str
    first_frame: int
    last_frame: int
    first_ts: float
    last_ts: float
    packets: int
    bytes_client: int
    bytes_server: int
    end_reason: str
    gaps: list[GapInfo]
    tls: bool
    tls_offset: dict[str, int]  # where TLS began (preamble length)
    preamble: dict[str, bytes]  # first bytes of a plaintext preamble
    entries: list[Any]  # Entry | DataRun, in wire order
    warnings: list[str]
    # facts
    client_hellos: list[Any]  # Message
    server_hellos: list[Any]  # Message (HRR included)
    versions_offered: list[int]
    version: int | None
    cipher_suite: int | None
    sni: str | None
    alpn_offered: list[str]
    alpn: str | None
    groups_offered: list[int]
    key_share_groups: list[int]
    group: int | None
    hello_retry_request: bool
    hrr_group: int | None
    resumption_offered: list[str]  # "session_id", "ticket", "psk"
    resumed: str | None  # how the session was resumed, if it was
    early_data_offered: bool
    early_data_accepted: bool | None  # None: not visible without keys
    certificates: list[bytes]  # server chain, leaf first
    client_certificates: list[bytes]
    alerts: list[AlertInfo]
    downgrade_sentinel: str | None
    fallback_scsv: bool
    renegotiation: bool
    complete: bool
    history: str
    server_key_exchange: Any  # the ServerKeyExchange body (TLS <= 1.2)
    sslv2_server_hello_frame: int | None  # SSLv2 proper: where its SERVER-HELLO was
    decryption: DecryptionFacts | None  # None: no key log was given
    ends: dict[str, tuple[str, int]]  # side -> how its byte stream ended ("fin", "rst", "capture end", ...) and the frame
    reset_by: str | None  # the side whose segment carried the RST, if one came
    udp: dict[str, Any] | None  # QUIC or DTLS only: what the transport adds (analyzer/datagrams.py)

    def __init__(self, *, id: int, client: Endpoint, server: Endpoint, role_source: str, first_frame: int,
                 last_frame: int, first_ts: float, last_ts: float, packets: int = 0, bytes_client: int = 0,
                 bytes_server: int = 0, end_reason: str = "", **facts: Any) -> None:
        self.id, self.transport, self.client, self.server, self.role_source = id, "tcp", client, server, role_source
        self.first_frame, self.last_frame, self.first_ts, self.last_ts = first_frame, last_frame, first_ts, last_ts
        self.packets, self.bytes_client, self.bytes_server, self.end_reason = packets, bytes_client, bytes_server, end_reason
        self.gaps, self.tls, self.tls_offset, self.preamble, self.entries, self.warnings = [], False, {}, {}, [], []
        # facts: none until assemble finds them
        self.client_hellos, self.server_hellos, self.versions_offered = [], [], []
        self.version = self.cipher_suite = self.sni = self.alpn = self.group = self.hrr_group = None
        self.alpn_offered, self.groups_offered, self.key_share_groups, self.resumption_offered = [], [], [], []
        self.hello_retry_request = self.early_data_offered = self.fallback_scsv = False
        self.renegotiation = self.complete = False
        self.resumed = self.early_data_accepted = self.downgrade_sentinel = None
        self.certificates, self.client_certificates, self.alerts = [], [], []
        self.history, self.server_key_exchange, self.sslv2_server_hello_frame = "", None, None
        self.decryption = self.reset_by = None
        self.ends = {}
        self.udp = None
        for name, value in facts.items():  # (tests build connections with some facts set)
            setattr(self, name, value)

    @property
    def server_hello(self) -> Any:
        """The ServerHello message that negotiated (the first that is not a HelloRetryRequest), or None."""
        for m in self.server_hellos:  # (a loop, not next(genexpr): rules ask this many times per connection)
            if not m.body.hello_retry_request:
                return m
        return None

    @property
    def tls13(self) -> bool:
        return is_tls13(self.version)
