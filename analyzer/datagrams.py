"""QUIC and DTLS events of one UDP flow -> `Connection` facts, as analyzer/assemble.py does for TCP.

Detection is by content, on any port (`detect`): a long header with a known QUIC version, or a
chain of whole DTLS records. A QUIC flow becomes a connection only once a client Initial
decrypts (the core's `confirmed`); a flow that never does is dropped without a report.

The ladder gets the same entries a TCP connection has (`Entry` for each handshake message, alert
and record, `DataRun` for opaque runs), plus QUIC's own rows: Version Negotiation, Retry and
CONNECTION_CLOSE (a crypto error's TLS alert is also the connection's alert). Handshake, 0-RTT and
1-RTT packets are counted as runs ("encrypted flights"). Facts then come from assemble's
`connection_facts`, so rules, fingerprints and renderers need no second path; what only QUIC or DTLS has
goes to `Connection.udp` (rendered as the JSON's `quic` / `dtls` object).

Bounds: the cores bound their own state (analyzer/quic, analyzer/dtls docstrings); what is kept
here is capped by the same `Limits` as TCP (`max_messages`, `max_message_bytes`, `max_warnings`,
each reached cap one warning). DTLS fragments and retransmissions are rows too (Wireshark lists
them), marked `fragment` / `retransmission` in the JSON; facts count each message once.
"""

from __future__ import annotations

from typing import Any, Final

from analyzer import registry
from analyzer.assemble import capped, connection_facts, orient, room
from analyzer.dtls import DtlsConnection, looks_like_dtls
from analyzer.dtls.events import Fragment, Retransmission
from analyzer.dtls.messages import HelloVerifyRequest, OpaqueRecord
from analyzer.limits import Limits
from analyzer.model import (
    AlertInfo,
    CloseRow,
    Connection,
    DataRun,
    Entry,
    FragmentRow,
    RetransmissionRow,
    RetryRow,
    VersionNegotiationRow,
)
from analyzer.net.udp import UdpFlow
from analyzer.quic import events as qe
from analyzer.quic.connection import QuicConnection
from analyzer.quic.packet import looks_like_quic
from analyzer.quic.versions import lookup as quic_version
from analyzer.registry.codes import (
    CT_ALERT,
    CT_APPLICATION_DATA,
    CT_HANDSHAKE,
    HS_CLIENT_HELLO,
    HS_FINISHED,
    HS_KEY_UPDATE,
    HS_NEW_SESSION_TICKET,
)
from analyzer.tls.events import Alert, Malformed, Message, TlsStart
from analyzer.tls.messages import ClientHello, EncryptedExtensions
from analyzer.wording import MALFORMED

TRANSPORT_PARAMETERS: Final = (0x39, 0xFFA5)  # quic_transport_parameters (RFC 9001 8.2), and the drafts'
RUN_ROLES: Final = {"Handshake": "handshake", "0-RTT": "early_data", "1-RTT": "application"}
RUN_CONTENT: Final = {"Handshake": CT_HANDSHAKE, "0-RTT": CT_APPLICATION_DATA, "1-RTT": CT_APPLICATION_DATA}
ALERT_FATAL: Final = 2
AFTER_HANDSHAKE: Final = (None, HS_NEW_SESSION_TICKET, HS_KEY_UPDATE)  # rows a 1-RTT packet carries
DTLS_FIRST_BYTES: Final = frozenset((1, *range(20, 27)))  # CAPWAP's DTLS preamble; content types 20-26


def detect(payload: bytes) -> str | None:
    """"quic" or "dtls" when a datagram is worth a flow (QUIC still has to decrypt), else None.
    The first byte sorts most datagrams out at once: a QUIC long header has its top bit set, a
    DTLS record starts with a content type (20-26) or a CAPWAP preamble (1)."""
    if not payload:
        return None
    first = payload[0]
    if first & 0x80:
        return "quic" if looks_like_quic(payload) else None
    if first in DTLS_FIRST_BYTES:
        return "dtls" if looks_like_dtls(payload) else None
    return None


class DatagramBuilder:
    """Feeds one flow's datagrams to its QUIC or DTLS core and keeps what the report needs."""

    def __init__(self, transport: str, flow: UdpFlow, keylog: Any, limits: Limits) -> None:
        self.transport = transport
        self.flow = flow
        self.core: Any = QuicConnection(keylog) if transport == "quic" else DtlsConnection(keylog)
        self.limits = limits
        self.entries: list[Any] = []  # Message | DataRun, sides as wire sides until finish
        self.warnings: list[tuple[int | None, str]] = []
        self.hidden = 0
        self.dropped: dict[str, int] = {}
        self.kept_bytes = 0
        self.settled = False  # the handshake finished or failed: live mode hands it out now
        self.ended = False
        self._keyed: set[int] = set()
        self._alerts: list[tuple[int, int, int]] = []  # (side, frame, description): QUIC crypto errors
        # QUIC
        self.packets: list[dict[str, int]] = [{}, {}]  # by side: packet type -> packets
        self.cids: list[list[str]] = [[], []]  # by owner side, hex, first sight order
        self.closes: list[Any] = []
        self.retries = 0
        self.version_negotiations = 0
        # DTLS
        self.fragments = 0
        self.retransmissions = 0
        self._bodies: dict[tuple[int, int, int], Any] = {}  # (side, frame, type) -> a kept message's body
        self.epochs = [0, 0]

    @property
    def ignored(self) -> bool:
        """Never QUIC after all (no Initial decrypted): the flow is dropped without a report."""
        return self.transport == "quic" and not self.core.confirmed and (self.core.gave_up or self.ended)

    @property
    def closed(self) -> bool:
        return self.transport == "quic" and self.core.closed

    def datagram(self, side: int, payload: bytes, frame: int, ts: float) -> None:
        self._events(self.core.datagram(side, payload, frame, ts))

    def end(self) -> None:
        if not self.ended:
            self.ended = True
            self._events(self.core.end())

    # -- events ----------------------------------------------------------------------------------

    def _events(self, events: list[Any]) -> None:
        for ev in events:
            if isinstance(ev, Message):
                self._message(ev)
            elif isinstance(ev, Malformed):
                self._warn(ev.side, _warning(ev))
            elif isinstance(ev, TlsStart):
                continue
            elif isinstance(ev, Fragment):
                self.fragments += 1
                self._piece(ev, FragmentRow(ev.epoch, ev.message_seq, ev.offset, ev.length, ev.message_length))
            elif isinstance(ev, Retransmission):
                self.retransmissions += 1
                original = self._bodies.get((ev.side, ev.first_frame, ev.type))
                self._piece(ev, RetransmissionRow(ev.epoch, ev.message_seq, ev.offset, ev.length, ev.first_frame,
                                                  original))
            else:
                self._quic(ev)

    def _piece(self, ev: Fragment | Retransmission, row: FragmentRow | RetransmissionRow) -> None:
        """A DTLS fragment or retransmission: a row of its message's type (as Wireshark lists them)."""
        if self._room(0):
            self.entries.append(Message(side=ev.side, frame=ev.frame, ts=ev.ts, content_type=CT_HANDSHAKE,
                                        record_version=0, type=ev.type, name=ev.name, encrypted=False,
                                        length=ev.length, body=row, decrypted=ev.decrypted))

    def _message(self, m: Message) -> None:
        if isinstance(m.body, OpaqueRecord):
            self.epochs[m.side] = max(self.epochs[m.side], m.body.epoch)
        if m.encrypted or m.type == HS_FINISHED:
            self._keyed.add(m.side)
            self.settled = self.settled or len(self._keyed) == 2
        if m.content_type == CT_ALERT and isinstance(m.body, Alert) and m.body.level == ALERT_FATAL:
            self.settled = True
        if m.content_type == CT_APPLICATION_DATA and m.type is None:  # a run of records, as over TCP
            last = self.entries[-1] if self.entries else None
            if isinstance(last, DataRun) and last.side == m.side and last.decrypted == m.decrypted:
                last.records += 1
                last.length += m.length
                last.last_frame = m.frame
            elif self._room(0):
                self.entries.append(DataRun(m.side, m.frame, m.frame, m.ts, CT_APPLICATION_DATA, m.record_version,
                                            1, m.length, decrypted=m.decrypted))
            return
        if self._room(m.length if m.type is not None else 0):
            self.entries.append(m)
            if m.type is not None:  # what a DTLS retransmission of it shows again
                self._bodies[(m.side, m.frame, m.type)] = m.body

    def _quic(self, ev: Any) -> None:
        side = getattr(ev, "side", 0)
        if isinstance(ev, qe.Packet):
            if ev.packet_type == "Initial":
                self._count(side, "Initial", 1)
        elif isinstance(ev, qe.EncryptedRun):
            self._count(side, ev.packet_type, ev.packets)
            if ev.side == self.core.client_side and ev.packet_type != "0-RTT":
                self.settled = True  # the client's Finished flight (or data after it) went out
            run = DataRun(side, ev.first_frame, ev.last_frame, ev.ts, RUN_CONTENT[ev.packet_type], 0, ev.packets,
                          ev.bytes, f"{ev.packet_type} packets", RUN_ROLES[ev.packet_type],
                          ev.decrypted == ev.packets)
            if self._room(0):
                self._insert(run, ev.packet_type == "Handshake")
        elif isinstance(ev, qe.ConnectionId):  # (the core reports each id once, and at most MAX_CIDS)
            self.cids[ev.side].append(ev.cid.hex())
        elif isinstance(ev, qe.VersionNegotiation):
            self.version_negotiations += 1
            names = [_quic_version_name(v) for v in ev.versions]
            self._row(side, ev.frame, ev.ts, "VersionNegotiation", VersionNegotiationRow(list(ev.versions), names))
        elif isinstance(ev, qe.Retry):
            self.retries += 1
            self._row(side, ev.frame, ev.ts, "Retry", RetryRow(ev.version, ev.scid.hex(), ev.token_length,
                                                               ev.integrity, ev.accepted))
        elif isinstance(ev, qe.ConnectionClose):
            self.settled = True
            self.closes.append(ev)
            row = CloseRow(ev.packet_type, ev.application, ev.error_code, ev.error_name, ev.frame_type, ev.reason,
                           ev.alert, registry.alert_description_name(ev.alert) if ev.alert is not None else None)
            self._row(side, ev.frame, ev.ts, "CONNECTION_CLOSE", row)
            if ev.alert is not None:
                self._alerts.append((side, ev.frame, ev.alert))
        elif isinstance(ev, qe.HandshakeDone):
            self.settled = True
        elif isinstance(ev, qe.CryptoGap):
            self._warn(side, f"frame {ev.frame}: {ev.length} bytes of {ev.level} CRYPTO data from {{side}} at offset "
                             f"{ev.offset} never arrived; the handshake after them was not decoded")

    def _row(self, side: int, frame: int, ts: float, name: str, body: Any) -> None:
        if self._room(0):
            self.entries.append(Message(side=side, frame=frame, ts=ts, content_type=None, record_version=0, type=None,
                                        name=name, encrypted=False, length=0, body=body))

    def _insert(self, run: DataRun, handshake: bool) -> None:
        """A run is reported when it ends, after the rows read from its packets: it goes before
        them. Those are its side's rows after its first frame (any other packet of that side
        would have ended the run), and in its first frame the Handshake level's decrypted ones
        (an Initial or a Handshake packet may share the datagram of a run's first packet)."""
        entries = self.entries
        i = len(entries)
        while i > 0 and _read_from(entries[i - 1], run, handshake):
            i -= 1
        entries.insert(i, run)

    def _count(self, side: int, ptype: str, n: int) -> None:
        counts = self.packets[side]
        counts[ptype] = counts.get(ptype, 0) + n

    def _room(self, size: int) -> bool:
        """Whether one more entry may be kept (assemble's caps, counted in `dropped` when not)."""
        kept = room(self.limits, len(self.entries), self.kept_bytes, size, self.dropped)
        self.kept_bytes = max(kept, self.kept_bytes)
        return kept >= 0

    def _warn(self, side: int | None, text: str) -> None:
        if len(self.warnings) < self.limits.max_warnings:
            self.warnings.append((side, text))
        else:
            self.hidden += 1

    # -- the connection ----------------------------------------------------------------------------

    def finish(self) -> Connection:
        self.end()
        flow, core = self.flow, self.core
        client_side = core.client_side
        flip = client_side == 1
        names = ("server", "client") if flip else ("client", "server")
        conn = Connection(id=flow.id, client=flow.endpoint(1 if flip else 0), server=flow.endpoint(0 if flip else 1),
                          role_source=self.transport if client_side is not None else "first",
                          first_frame=flow.first_frame, last_frame=flow.last_frame, first_ts=flow.first_ts,
                          last_ts=flow.last_ts, packets=flow.packets, bytes_client=flow.bytes[1 if flip else 0],
                          bytes_server=flow.bytes[0 if flip else 1], end_reason=flow.end_reason or "capture end")
        conn.transport = self.transport
        conn.tls = core.confirmed if self.transport == "quic" else bool(self.entries)
        conn.tls_offset = {names[s]: 0 for s in (0, 1) if self._sent(s)}
        orient(conn, names, self.warnings, self.entries, capped(self.limits, self.dropped, self.hidden))
        connection_facts(conn)
        for side, frame, alert in self._alerts:  # a QUIC crypto error carries a TLS alert: the handshake failed
            conn.alerts.append(AlertInfo(names[side], frame, ALERT_FATAL, alert))
            conn.complete = False
        conn.udp = self._quic_facts(names) if self.transport == "quic" else self._dtls_facts(conn, names)
        return conn

    def _sent(self, side: int) -> bool:
        return any(e.side == side for e in self.entries) or bool(self.packets[side])

    def _quic_facts(self, names: tuple[str, str]) -> dict[str, Any]:
        core = self.core
        version = core.version
        params: dict[str, dict[str, Any]] = {}
        for e in self.entries:
            if isinstance(e, Message) and isinstance(e.body, (ClientHello, EncryptedExtensions)):
                who = "client" if e.type == HS_CLIENT_HELLO else "server"
                for ext in e.body.extensions or ():
                    if ext.type in TRANSPORT_PARAMETERS:
                        params[who] = _parameters(ext.fields.get("parameters") or [])
        close = None
        if self.closes:
            c = self.closes[0]
            close = {"from": names[c.side], "frame": c.frame, "application": c.application,
                     "error_code": c.error_code, "error_name": c.error_name, "reason": c.reason}
        return {
            "version": version.code if version is not None else None,
            "version_name": version.name if version is not None else None,
            "original_destination_connection_id": core.original_dcid.hex() if core.original_dcid is not None else None,
            "connection_ids": {names[s]: self.cids[s] for s in (0, 1)},
            "packets": {names[s]: dict(sorted(self.packets[s].items())) for s in (0, 1)},
            "retry": self.retries > 0,
            "version_negotiation": self.version_negotiations > 0,
            "transport_parameters": params,
            "close": close,
        }

    def _dtls_facts(self, conn: Connection, names: tuple[str, str]) -> dict[str, Any]:
        core = self.core
        hvr = None
        cookie = 0
        for e in conn.entries:
            if isinstance(e, Entry) and isinstance(e.msg.body, HelloVerifyRequest) and hvr is None:
                hvr = e.msg.frame
        for m in conn.client_hellos:
            cookie = max(cookie, len(getattr(m.body, "cookie", b"") or b""))
        return {
            "version": core.version,
            "hello_verify_request": hvr,
            "cookie_length": cookie,
            "epochs": {names[s]: self.epochs[s] for s in (0, 1)},
            "fragments": self.fragments,
            "retransmissions": self.retransmissions,
            "other_datagrams": core.other_datagrams,
        }


def _read_from(e: Any, run: DataRun, handshake: bool) -> bool:
    if not isinstance(e, Message) or e.side != run.side or e.frame < run.frame:
        return False
    if e.frame > run.frame:
        return True
    return e.decrypted if handshake else e.type in AFTER_HANDSHAKE  # (the first frame's rows of its own level)


def _warning(ev: Malformed) -> str:
    what = "malformed datagram" if ev.kind == MALFORMED else ev.kind
    return f"frame {ev.frame}: {what} from {{side}} at datagram offset {ev.offset}: {ev.reason}"


def _quic_version_name(code: int) -> str:
    version = quic_version(code)
    return version.name if version is not None else f"unknown(0x{code:08x})"


def _parameters(params: list[dict[str, Any]]) -> dict[str, Any]:
    """Transport parameters by name: the value, or what the decoder read of it."""
    out: dict[str, Any] = {}
    for p in params:
        rest = {k: v for k, v in p.items() if k not in ("id", "name", "length")}
        if set(rest) == {"value"} or set(rest) == {"hex"}:
            out[p.get("name", "?")] = next(iter(rest.values()))
        else:
            out[p.get("name", "?")] = rest
    return out
