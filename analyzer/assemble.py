"""TCP and TLS events of one connection -> `Connection` facts (no judgement, no I/O).

Sides arrive as wire directions (0: the TCP layer's client guess). The TLS layer knows better
once it sees a ClientHello; `finish` orients everything to client/server from that.
"""

from __future__ import annotations

from typing import Any, Final

from analyzer.limits import Limits
from analyzer.model import (
    AlertInfo,
    Connection,
    DataRun,
    DecryptFailure,
    DecryptionFacts,
    Entry,
    FragmentRow,
    GapInfo,
    RetransmissionRow,
)
from analyzer.net.flows import TcpConnection
from analyzer.net.tcp import Gap, StreamData, StreamEnd, TcpAnomaly
from analyzer.registry import is_tls13
from analyzer.registry.codes import (
    CT_ALERT,
    CT_APPLICATION_DATA,
    CT_CHANGE_CIPHER_SPEC,
    CT_HANDSHAKE,
    EXT_APPLICATION_LAYER_PROTOCOL_NEGOTIATION,
    EXT_EARLY_DATA,
    EXT_KEY_SHARE,
    EXT_KEY_SHARE_RESERVED,
    EXT_PRE_SHARED_KEY,
    EXT_SERVER_NAME,
    EXT_SESSION_TICKET,
    EXT_SUPPORTED_GROUPS,
    EXT_SUPPORTED_VERSIONS,
    HS_CERTIFICATE,
    HS_CLIENT_HELLO,
    HS_FINISHED,
    HS_SERVER_HELLO,
    SSL2,
)
from analyzer.tls.connection import TlsConnection
from analyzer.tls.events import Alert, KeyFacts, Malformed, Message, Resync, TlsStart
from analyzer.tls.messages import Certificate, ClientHello, EncryptedExtensions, ServerHello, ServerKeyExchange
from analyzer.tls.sslv2 import SSL_CT_X509_CERTIFICATE, SSLv2ServerHello
from analyzer.wording import warning_text

HISTORY_MAX: Final = 100  # as Zeek caps ssl_history
# Zeek's ssl_history letters (upper case: client, lower case: server)
HISTORY: Final = {0: "H", 1: "C", 2: "S", 3: "V", 4: "T", 5: "E", 8: "O", 11: "X", 12: "K", 13: "R",
           14: "N", 15: "Y", 16: "G", 20: "F", 21: "W", 22: "U", 23: "A", 24: "P", 254: "M"}
CONTENT_HISTORY: Final = {20: "I", 21: "L", 24: "B"}
FALLBACK_SCSV: Final = 0x5600
_LIMITS: Final = Limits()


class ConnectionBuilder:
    """Collects one connection's events; `finish()` returns its `Connection`.

    What it keeps is capped (`Limits.max_messages`, `max_message_bytes`, `max_warnings`): past a
    cap, messages and warnings are counted, not kept, and `finish` adds one warning per cap."""

    __slots__ = ("tcp", "tls", "entries", "gaps", "warnings", "tls_offset", "preamble", "settled",
                 "reported", "_keyed_sides", "limits", "kept_bytes", "dropped", "hidden", "limits_hit", "ends")

    def __init__(self, tcp: TcpConnection, keylog: Any = None, limits: Limits = _LIMITS) -> None:
        self.tcp = tcp
        self.tls = TlsConnection(keylog, limits)
        self.entries: list = []  # (wire side, Message | DataRun | GapInfo)
        self.gaps: list[GapInfo] = []
        self.warnings: list[tuple[int | None, str]] = []  # (wire side it concerns, text)
        self.limits = limits
        self.kept_bytes = 0  # of handshake messages kept
        self.dropped: dict[str, int] = {}  # cap reached -> messages (and gaps) counted since, not kept
        self.hidden = 0  # warnings counted, not kept
        self.limits_hit: set[str] | None = None  # caps a TCP anomaly already named
        self.tls_offset: dict[int, int] = {}
        self.preamble: dict[int, bytes] = {}
        self.settled = False  # the handshake finished or failed: a live view can show it now
        self.reported = False  # already handed out early (live mode)
        self._keyed_sides: set[int] = set()
        self.ends: dict[int, tuple[str, int]] = {}  # wire side -> how its stream ended, and the frame

    def feed(self, events: list) -> None:
        """Take TCP events, pass bytes through the TLS layer, keep what it says."""
        tls = self.tls
        # isinstance rather than __class__ here and below: it narrows the type, and compiled code
        # then reads the attributes natively
        for ev in events:
            if isinstance(ev, StreamData):
                out = tls.data(ev.direction, ev.data, ev.frame, ev.ts)
                if out:
                    self._tls_events(out)
                if tls.gave_up(ev.direction):  # not TLS (any more): stop paying for these bytes
                    self.tcp.halves[ev.direction].discard = True
            elif isinstance(ev, Gap):
                if self._room(0):
                    gap = GapInfo(ev.direction, ev.offset, ev.length, ev.frame)
                    self.gaps.append(gap)
                    self.entries.append(gap)
                self._tls_events(tls.gap(ev.direction, ev.length, ev.frame, 0.0))
            elif isinstance(ev, StreamEnd):
                if ev.direction not in self.ends:
                    self.ends[ev.direction] = (ev.reason, ev.frame)
                self._tls_events(tls.end(ev.direction, ev.frame, 0.0, ev.reason))
            elif isinstance(ev, TcpAnomaly):
                if ev.limit:
                    if self.limits_hit is None:
                        self.limits_hit = set()
                    elif ev.limit in self.limits_hit:
                        continue
                    self.limits_hit.add(ev.limit)
                self._warn(None, f"frame {ev.frame}: {ev.text}")

    def _tls_events(self, out: list) -> None:
        entries = self.entries
        for ev in out:
            if isinstance(ev, Message):
                if not self.settled:
                    self._settle(ev)
                if ev.content_type == CT_APPLICATION_DATA and ev.type is None:  # application data, opaque or decrypted
                    last = entries[-1] if entries else None
                    if isinstance(last, DataRun) and last.side == ev.side and last.decrypted == ev.decrypted \
                            and not self.dropped:
                        last.records += 1
                        last.length += ev.length
                        last.last_frame = ev.frame
                        continue
                    if self._room(0):
                        entries.append(DataRun(ev.side, ev.frame, ev.frame, ev.ts, 23, ev.record_version, 1,
                                               ev.length, decrypted=ev.decrypted))
                    continue
                if self._room(ev.length if ev.type is not None else 0):
                    entries.append(ev)
            elif isinstance(ev, Malformed):
                self._warn(ev.side, warning_text(ev.kind, ev.frame, "{side}", ev.offset, ev.reason))
            elif isinstance(ev, Resync):
                self._warn(ev.side, f"frame {ev.frame}: TLS records found again from {{side}} at "
                                    f"offset {ev.offset} after {ev.skipped} lost bytes")
            elif isinstance(ev, TlsStart):
                self.tls_offset[ev.side] = ev.offset
                if ev.preamble:
                    self.preamble[ev.side] = ev.preamble

    def _room(self, size: int) -> bool:
        """Whether one more entry (holding `size` bytes of handshake message) may be kept; if not,
        it is counted against the cap that stopped it."""
        kept = room(self.limits, len(self.entries), self.kept_bytes, size, self.dropped)
        if kept < 0:
            return False
        self.kept_bytes = kept
        return True

    def _warn(self, side: int | None, text: str) -> None:
        if len(self.warnings) < self.limits.max_warnings:
            self.warnings.append((side, text))
        else:
            self.hidden += 1

    def _capped(self) -> list[str]:
        return capped(self.limits, self.dropped, self.hidden)

    def _settle(self, m: Message) -> None:
        """Has the handshake now finished (both sides keyed) or failed (a fatal alert)?"""
        if m.content_type == CT_ALERT and isinstance(m.body, Alert) and m.body.level == 2:
            self.settled = True
        elif m.encrypted and m.content_type in (CT_HANDSHAKE, CT_APPLICATION_DATA):
            if self.tls.tls13 and m.content_type == CT_APPLICATION_DATA and m.side == self.tls.client_side:
                self.settled = True  # TLS 1.3: the client's encrypted flight follows the server's
            elif not self.tls.tls13 and m.content_type == CT_HANDSHAKE:
                self._keyed_sides.add(m.side)
                self.settled = len(self._keyed_sides) == 2

    def finish(self) -> Connection:
        tcp = self.tcp
        client_side = self.tls.client_side
        flip = client_side == 1
        client, server = (tcp.server, tcp.client) if flip else (tcp.client, tcp.server)
        role = "tls" if client_side is not None and (flip or tcp.role_source == "port") else tcp.role_source
        names = ("server", "client") if flip else ("client", "server")
        delivered = (tcp.halves[0].delivered, tcp.halves[1].delivered)
        conn = Connection(id=tcp.id, client=client, server=server, role_source=role,
                          first_frame=tcp.first_frame, last_frame=tcp.last_frame,
                          first_ts=tcp.first_ts, last_ts=tcp.last_ts, packets=tcp.packets,
                          bytes_client=delivered[1 if flip else 0], bytes_server=delivered[0 if flip else 1],
                          end_reason=tcp.end_reason or ("fin" if tcp.closed else ""))
        conn.tls = self.tls.found
        conn.tls_offset = {names[s]: off for s, off in sorted(self.tls_offset.items())}
        conn.preamble = {names[s]: head for s, head in sorted(self.preamble.items())}
        orient(conn, names, self.warnings, self.entries, self._capped())
        conn.gaps = self.gaps
        conn.ends = {names[s]: end for s, end in sorted(self.ends.items())}
        conn.reset_by = names[tcp.rst_from] if tcp.rst_from is not None else None
        connection_facts(conn)
        keys = self.tls.key_facts()
        if keys is not None:
            conn.decryption = _decryption(conn, keys, names)
        return conn


def orient(conn: Connection, names: tuple[str, str], warnings: list[tuple[int | None, str]], entries: list,
           notes: list[str]) -> None:
    """A connection's warnings and entries, from wire sides (0/1) to `names` ("client"/"server"
    by wire side), then `notes` (the caps it reached). Shared with analyzer/datagrams.py."""
    conn.warnings = [text if side is None else text.replace("{side}", names[side]) for side, text in warnings]
    conn.warnings += notes
    for e in entries:
        if isinstance(e, Message):
            conn.entries.append(Entry(side=names[e.side], msg=e))
        else:
            e.side = names[e.side]
            conn.entries.append(e)


def room(limits: Limits, entries: int, kept_bytes: int, size: int, dropped: dict[str, int]) -> int:
    """The bytes of handshake messages kept once one more entry (holding `size` of them) is kept
    beside `entries` others, or -1 when a cap stops it (then counted in `dropped`, by cap).
    Shared by the TCP builder and analyzer/datagrams.py."""
    if entries >= limits.max_messages:
        cap = "max_messages"
    elif size and kept_bytes + size > limits.max_message_bytes:
        cap = "max_message_bytes"
    else:
        return kept_bytes + size
    dropped[cap] = dropped.get(cap, 0) + 1
    return -1


def capped(limits: Limits, dropped: dict[str, int], hidden: int) -> list[str]:
    """One warning per cap a connection reached, with what was counted instead of kept."""
    notes = []
    if "max_messages" in dropped:
        notes.append(f"more than {limits.max_messages} messages (max_messages): "
                     f"{dropped['max_messages']} later messages and gaps counted, not kept")
    if "max_message_bytes" in dropped:
        notes.append(f"more than {limits.max_message_bytes} bytes of handshake messages (max_message_bytes): "
                     f"{dropped['max_message_bytes']} later messages counted, not kept")
    if hidden:
        notes.append(f"more than {limits.max_warnings} warnings (max_warnings): {hidden} more counted, not kept")
    return notes


def connection_facts(conn: Connection) -> None:
    """Derive the connection's facts from its oriented messages (TCP's builder here and
    datagrams.py's for QUIC and DTLS both end with it)."""
    history: list[str] = []
    handshake_done = False
    server_flight_opened = False  # TLS <= 1.2: server sent Certificate/SKE after its hello
    server_ccs_after_hello = False
    client_data_after_sh = False
    client_finished = False  # its Finished was read (decrypted, or in clear under a NULL cipher)
    encrypted_after = {"client": False, "server": False}
    for e in conn.entries:
        if not isinstance(e, Entry):
            if isinstance(e, DataRun):
                if e.decrypted and len(history) < HISTORY_MAX:
                    history.append("D" if e.side == "client" else "d")
                _classify_run(e, conn, encrypted_after)
                if e.role != "early_data":
                    client_data_after_sh |= e.side == "client"
                    encrypted_after[e.side] = True
            continue
        m: Message = e.msg
        if isinstance(m.body, (FragmentRow, RetransmissionRow)):
            continue  # DTLS: a piece or a copy of a message that has its own row
        side = e.side
        letter = None
        if m.type is not None:
            letter = "J" if m.name == "HelloRetryRequest" else HISTORY.get(m.type, "Z")
        elif not m.encrypted:
            letter = CONTENT_HISTORY.get(m.content_type, "Q") if m.content_type is not None else None
        if letter and len(history) < HISTORY_MAX:
            history.append(letter if side == "client" else letter.lower())
        body = m.body
        if m.type == HS_CLIENT_HELLO and isinstance(body, ClientHello):
            if conn.client_hellos and handshake_done:
                conn.renegotiation = True
            conn.client_hellos.append(m)
            if len(conn.client_hellos) == 1:
                _client_hello_facts(conn, body)
        elif m.type == HS_SERVER_HELLO and isinstance(body, ServerHello):
            conn.server_hellos.append(m)
            _server_hello_facts(conn, body)
        elif m.type in (11, 12) and side == "server" and conn.server_hellos:
            server_flight_opened = True
            if isinstance(body, Certificate) and not conn.certificates:
                conn.certificates = [ent.der for ent in body.entries]
            if isinstance(body, ServerKeyExchange) and body.named_curve is not None and conn.group is None:
                conn.group = body.named_curve
            if isinstance(body, ServerKeyExchange):
                conn.server_key_exchange = body
        elif isinstance(body, SSLv2ServerHello) and side == "server" and conn.version is None:
            conn.version = SSL2  # SSLv2 proper: what it negotiates is its own cipher specs, not a TLS suite
            conn.sslv2_server_hello_frame = m.frame
            if body.certificate_type == SSL_CT_X509_CERTIFICATE and body.certificate:
                conn.certificates = [body.certificate]
        elif m.type == HS_CERTIFICATE and side == "client" and isinstance(body, Certificate):
            conn.client_certificates = [ent.der for ent in body.entries]
        elif isinstance(body, EncryptedExtensions) and side == "server":  # TLS 1.3, visible once decrypted
            _encrypted_extensions_facts(conn, body)
        elif m.content_type == CT_CHANGE_CIPHER_SPEC and side == "server" and conn.server_hellos and not server_flight_opened:
            server_ccs_after_hello = True
        elif m.content_type == CT_ALERT:
            alert = body if isinstance(body, Alert) else None
            conn.alerts.append(AlertInfo(side, m.frame, alert.level if alert else None,
                                         alert.description if alert else None))
        if m.content_type is None and m.encrypted:  # SSLv2 records after the keys
            encrypted_after[side] = True
        if m.type == HS_FINISHED:  # Finished, readable: decrypted, or sent in the clear under a NULL cipher
            encrypted_after[side] = True
            client_finished |= side == "client"
            handshake_done |= encrypted_after["client"] and encrypted_after["server"]
        if m.content_type == CT_HANDSHAKE and (m.encrypted or m.decrypted):
            if handshake_done and m.encrypted and conn.version is not None and conn.version < 0x0304:
                conn.renegotiation = True  # an encrypted handshake after both Finished
            encrypted_after[side] = True
            if encrypted_after["client"] and encrypted_after["server"]:
                handshake_done = True
    conn.history = "".join(history)
    if conn.tls13:  # the client's Finished closes the handshake: read, or implied by what it sent after
        conn.complete = (client_finished or client_data_after_sh) and not any(a.level == 2 for a in conn.alerts)
        return
    # TLS <= 1.2, or the ServerHello was never seen: both sides changed keys and sent Finished
    conn.complete = encrypted_after["client"] and encrypted_after["server"]
    if conn.server_hellos and conn.version is not None:
        sh = conn.server_hellos[-1].body
        ch = conn.client_hellos[0].body if conn.client_hellos else None
        if server_ccs_after_hello or (ch is not None and sh.session_id and sh.session_id == ch.session_id):
            conn.resumed = "ticket" if "ticket" in conn.resumption_offered else "session_id"


def _decryption(conn: Connection, keys: KeyFacts, names: tuple[str, str]) -> DecryptionFacts:
    """The key schedule's facts, oriented, with what came out of the records on each side."""
    decrypted = {"client": 0, "server": 0}
    opaque = {"client": 0, "server": 0}
    for e in conn.entries:
        if isinstance(e, DataRun):
            (decrypted if e.decrypted else opaque)[e.side] += e.records
        elif isinstance(e, Entry) and (e.msg.decrypted or e.msg.encrypted):
            (decrypted if e.msg.decrypted else opaque)[e.side] += 1
    failures = [DecryptFailure(names[side], frame, reason,
                               any(g.side == names[side] and g.frame <= frame for g in conn.gaps))
                for side, frame, reason in keys.failures]
    return DecryptionFacts(keys.client_random, list(keys.labels), keys.rsa_premaster, keys.suite,
                           keys.suite_supported, failures, decrypted, opaque)


def _classify_run(run: DataRun, conn: Connection, seen: dict[str, bool]) -> None:
    """Name what an opaque run is: 0-RTT data, a TLS 1.3 encrypted handshake flight, or data."""
    sh = conn.server_hello
    if run.side == "client" and conn.early_data_offered and (sh is None or run.frame < sh.frame):
        run.role = "early_data"
    elif sh is not None and is_tls13(sh.body.negotiated_version) and not seen[run.side]:
        run.role = "handshake"


def _client_hello_facts(conn: Connection, ch: ClientHello) -> None:
    sv = ch.ext(EXT_SUPPORTED_VERSIONS)
    conn.versions_offered = list(sv.fields.get("versions", [])) if sv else [ch.legacy_version]
    sni = ch.ext(EXT_SERVER_NAME)
    conn.sni = sni.fields.get("host_name") if sni else None
    alpn = ch.ext(EXT_APPLICATION_LAYER_PROTOCOL_NEGOTIATION)
    conn.alpn_offered = list(alpn.fields.get("protocols", [])) if alpn else []
    groups = ch.ext(EXT_SUPPORTED_GROUPS)
    conn.groups_offered = list(groups.fields.get("groups", [])) if groups else []
    ks = ch.ext(EXT_KEY_SHARE) or ch.ext(EXT_KEY_SHARE_RESERVED)
    conn.key_share_groups = list(ks.fields.get("groups", [])) if ks else []
    if ch.session_id:
        conn.resumption_offered.append("session_id")
    ticket = ch.ext(EXT_SESSION_TICKET)
    if ticket and ticket.fields.get("ticket_length"):
        conn.resumption_offered.append("ticket")
    if ch.ext(EXT_PRE_SHARED_KEY):
        conn.resumption_offered.append("psk")
    conn.early_data_offered = ch.ext(EXT_EARLY_DATA) is not None
    conn.fallback_scsv = FALLBACK_SCSV in ch.cipher_suites


def _encrypted_extensions_facts(conn: Connection, ee: EncryptedExtensions) -> None:
    """TLS 1.3 moves the server's ALPN choice and its early_data answer into EncryptedExtensions."""
    for ext in ee.extensions:
        if ext.type == EXT_APPLICATION_LAYER_PROTOCOL_NEGOTIATION and ext.fields.get("protocols"):
            conn.alpn = ext.fields["protocols"][0]
    if conn.early_data_offered:
        conn.early_data_accepted = any(ext.type == EXT_EARLY_DATA for ext in ee.extensions)


def _server_hello_facts(conn: Connection, sh: ServerHello) -> None:
    version = sh.negotiated_version
    if sh.hello_retry_request:
        conn.hello_retry_request = True
        ks = sh.ext(EXT_KEY_SHARE) or sh.ext(EXT_KEY_SHARE_RESERVED)
        conn.hrr_group = ks.fields.get("selected_group") if ks else None
        return
    conn.version = version
    conn.cipher_suite = sh.cipher_suite
    ks = sh.ext(EXT_KEY_SHARE) or sh.ext(EXT_KEY_SHARE_RESERVED)
    if ks and isinstance(ks.fields.get("group"), int):
        conn.group = ks.fields["group"]
    alpn = sh.ext(EXT_APPLICATION_LAYER_PROTOCOL_NEGOTIATION)
    if alpn and alpn.fields.get("protocols"):
        conn.alpn = alpn.fields["protocols"][0]
    if sh.ext(EXT_PRE_SHARED_KEY) is not None:
        conn.resumed = "psk"
    conn.downgrade_sentinel = sh.downgrade_sentinel
