"""Connection facts: what assemble knows about one connection. No judgement lives here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from analyzer.net.flows import Endpoint


@dataclass(slots=True, init=False)
class DataRun:
    """Consecutive opaque records (application data, encrypted flights) from one side, as one row.
    (A written __init__: see analyzer/native.py.)"""

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
    """One ladder row / JSON message: a TLS message, oriented to client or server.
    (A written __init__: see analyzer/native.py.)"""

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


@dataclass(slots=True, kw_only=True)
class Connection:
    """Everything observed on one TCP connection, oriented client -> server."""

    id: int
    transport: str = "tcp"
    client: Endpoint
    server: Endpoint
    role_source: str
    first_frame: int
    last_frame: int
    first_ts: float
    last_ts: float
    packets: int = 0
    bytes_client: int = 0
    bytes_server: int = 0
    end_reason: str = ""
    gaps: list[GapInfo] = field(default_factory=list)
    tls: bool = False
    tls_offset: dict[str, int] = field(default_factory=dict)  # where TLS began (preamble length)
    preamble: dict[str, bytes] = field(default_factory=dict)  # first bytes of a plaintext preamble
    entries: list[Any] = field(default_factory=list)  # Entry | DataRun, in wire order
    warnings: list[str] = field(default_factory=list)
    # facts
    client_hellos: list[Any] = field(default_factory=list)  # Message
    server_hellos: list[Any] = field(default_factory=list)  # Message (HRR included)
    versions_offered: list[int] = field(default_factory=list)
    version: int | None = None
    cipher_suite: int | None = None
    sni: str | None = None
    alpn_offered: list[str] = field(default_factory=list)
    alpn: str | None = None
    groups_offered: list[int] = field(default_factory=list)
    key_share_groups: list[int] = field(default_factory=list)
    group: int | None = None
    hello_retry_request: bool = False
    hrr_group: int | None = None
    resumption_offered: list[str] = field(default_factory=list)  # "session_id", "ticket", "psk"
    resumed: str | None = None  # how the session was resumed, if it was
    early_data_offered: bool = False
    early_data_accepted: bool | None = None  # None: not visible without keys
    certificates: list[bytes] = field(default_factory=list)  # server chain, leaf first
    client_certificates: list[bytes] = field(default_factory=list)
    alerts: list[AlertInfo] = field(default_factory=list)
    downgrade_sentinel: str | None = None
    fallback_scsv: bool = False
    renegotiation: bool = False
    complete: bool = False
    history: str = ""
    server_key_exchange: Any = None  # the ServerKeyExchange body (TLS <= 1.2)
    sslv2_server_hello_frame: int | None = None  # SSLv2 proper: where its SERVER-HELLO was
    # analysis (analyzer/analysis/enrich.py)
    fingerprints: dict[str, str] = field(default_factory=dict)  # of the first ClientHello and ServerHello
    message_fingerprints: dict[int, dict[str, str]] = field(default_factory=dict)  # id(hello Message) -> ...
    findings: list[Any] = field(default_factory=list)  # analyzer.analysis.weakness.Finding, worst first
    extra: dict[str, Any] = field(default_factory=dict)  # JSON-ready analysis additions (findings, ...)

    @property
    def server_hello(self) -> Any:
        """The ServerHello message that negotiated (the first that is not a HelloRetryRequest), or None."""
        return next((m for m in self.server_hellos if not m.body.hello_retry_request), None)

    @property
    def tls13(self) -> bool:
        v = self.version
        return v is not None and (v == 0x0304 or v >> 8 == 0x7F)
