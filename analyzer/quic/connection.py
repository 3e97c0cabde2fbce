"""The sans-IO QUIC connection: one UDP flow's datagrams in, typed events out (the contract is in
the package docstring). No I/O, no clocks, no globals: frames and timestamps come in with the bytes.
"""

from __future__ import annotations

from typing import Any, Final

from analyzer.errors import DecodeError
from analyzer.quic import versions as V
from analyzer.quic.events import (
    ConnectionClose,
    ConnectionId,
    CryptoGap,
    EncryptedRun,
    HandshakeDone,
    Malformed,
    NewToken,
    Packet,
    QuicStart,
    Retry,
    VersionNegotiation,
)
from analyzer.quic.frames import HANDSHAKE_DONE, Crypto, NewConnectionId, Other, parse_frames
from analyzer.quic.frames import ConnectionClose as CloseFrame
from analyzer.quic.frames import NewToken as NewTokenFrame
from analyzer.quic.handshake import LEVEL_NAMES, HandshakeReader
from analyzer.quic.keys import SUITES, OpenError, PacketKeys, initial_keys, retry_tag
from analyzer.quic.packet import LONG, LongHeader, Unmasked, decode_packet_number, open_packet, parse_long, unmask
from analyzer.registry.codes import HS_CLIENT_HELLO, HS_SERVER_HELLO
from analyzer.tls.events import Message
from analyzer.tls.messages import ClientHello, Context, ServerHello
from analyzer.tls.reader import text

MAX_UNCONFIRMED: Final = 16  # datagrams tried before a flow that never decrypts is given up
MAX_HELD: Final = 8  # datagrams kept before confirmation, read again once the connection is confirmed
MAX_CIDS: Final = 64  # connection ids remembered per connection
MAX_INITIAL_KEYS: Final = 4  # Initial key sets kept (original DCID, a Retry's, another version's)
TLS13: Final = 0x0304
CLIENT_EARLY: Final = "CLIENT_EARLY_TRAFFIC_SECRET"
HANDSHAKE_SECRETS: Final = ("CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET")
TRAFFIC_SECRETS: Final = ("CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0")
SPACE: Final = {V.INITIAL: 0, V.HANDSHAKE: 1, V.ZERO_RTT: 2, V.ONE_RTT: 2}  # packet number spaces
LEVEL: Final = {V.INITIAL: 0, V.HANDSHAKE: 1, V.ONE_RTT: 2}  # CRYPTO stream per level


class _Side:
    __slots__ = ("readers", "largest", "keys", "next_keys", "phase", "cid_length", "last_frame", "failed")

    def __init__(self, side: int) -> None:
        self.readers = (HandshakeReader(side, 0), HandshakeReader(side, 1), HandshakeReader(side, 2))
        self.largest = [-1, -1, -1]  # largest packet number per space
        self.keys: list[PacketKeys | None] = [None] * 6  # key-log keys by packet type (versions.*)
        self.next_keys: PacketKeys | None = None  # 1-RTT keys of the next key phase
        self.phase = 0  # 1-RTT key phase in force
        self.cid_length: int | None = None  # length of the connection ids this side chose (short headers)
        self.last_frame = 0
        self.failed: set[int] = set()  # packet types whose key-log keys did not open a packet (reported once)


class QuicConnection:
    """QUIC state of one UDP flow; feed it with `datagram` and finish with `end`."""

    def __init__(self, keylog: Any = None) -> None:
        self.keylog = keylog if keylog is not None and len(keylog) else None
        self.version: V.Version | None = None
        self.client_side: int | None = None
        self.confirmed = False
        self.gave_up = False  # never confirmed within MAX_UNCONFIRMED datagrams: not QUIC (or not readable)
        self.closed = False  # a CONNECTION_CLOSE was seen
        self.original_dcid: bytes | None = None
        self.initial_dcid: bytes | None = None  # what the Initial keys derive from (after a Retry: its SCID)
        self.retried = False  # a Retry was acted on (a client processes at most one per attempt)
        self._after_retry = False  # the client's next CRYPTO data may be a new ClientHello
        self.suite: int | None = None
        self.secrets: dict[str, bytes] = {}
        self.sides = (_Side(0), _Side(1))
        self.cids: dict[bytes, int] = {}  # connection id -> side that chose it
        self._tries = 0
        self._held: list[tuple[int, bytes, int, float]] = []
        self._run: list[Any] | None = None  # [side, type, first frame, last frame, ts, packets, bytes, decrypted]
        self._early_tried = False
        self._initial_keys: dict[tuple[int, bytes], tuple[PacketKeys, PacketKeys]] = {}
        self._tls13 = False

    @property
    def connection_ids(self) -> frozenset[bytes]:
        return frozenset(self.cids)

    # -- feeding ---------------------------------------------------------------------------------

    def datagram(self, side: int, payload: bytes, frame: int, ts: float) -> list[Any]:
        """Every packet of one UDP datagram (coalesced packets in order); events in wire order."""
        if self.gave_up:
            return []
        out: list[Any] = []
        was_confirmed = self.confirmed
        self._read(side, payload, frame, ts, out)
        if not self.confirmed:
            self._tries += 1
            if len(self._held) < MAX_HELD:
                self._held.append((side, bytes(payload), frame, ts))
            if self._tries >= MAX_UNCONFIRMED:
                self.gave_up = True
                self._held = []
            return []
        if not was_confirmed and self._held:
            held, self._held = self._held, []
            for h_side, h_payload, h_frame, h_ts in held:  # what came before the client's Initial
                self._read(h_side, h_payload, h_frame, h_ts, out)
        return out

    def end(self) -> list[Any]:
        """No more datagrams: the open encrypted run, CRYPTO bytes never seen, half messages."""
        out: list[Any] = []
        self._flush(out)
        if not self.confirmed:
            return out
        for side in self.sides:
            for reader in side.readers:
                for offset, length in reader.stream.gaps():
                    out.append(CryptoGap(reader.side, side.last_frame, LEVEL_NAMES[reader.level], offset, length))
                if reader.buf and not reader.stream.gaps():
                    out.append(Malformed(reader.side, side.last_frame, reader.stream.delivered,
                                         f"{LEVEL_NAMES[reader.level]} CRYPTO stream ended inside a handshake "
                                         f"message ({len(reader.buf)} bytes held)"))
        return out

    # -- packets ---------------------------------------------------------------------------------

    def _read(self, side: int, buf: bytes, frame: int, ts: float, out: list[Any]) -> None:
        self.sides[side].last_frame = frame
        pos = 0
        n = len(buf)
        while pos < n:
            if not buf[pos] & LONG:
                if buf[pos] == 0 and not any(buf[pos:]):
                    return  # zero bytes padding the datagram after its last packet
                self._short(side, buf, pos, frame, ts, out)
                return
            version = int.from_bytes(buf[pos + 1:pos + 5], "big") if n - pos >= 5 else -1
            try:
                hdr = parse_long(buf, pos, V.lookup(version))
            except DecodeError as exc:
                if self.confirmed:
                    out.append(Malformed(side, frame, exc.offset, f"QUIC long header: {exc.reason}"))
                return
            if hdr.ptype == V.VERSION_NEGOTIATION:
                if self.confirmed:
                    self._flush(out)
                    out.append(VersionNegotiation(side, frame, ts, tuple(hdr.versions), hdr.dcid, hdr.scid))
            elif hdr.ptype == V.RETRY:
                if self.confirmed:
                    self._retry(side, buf, hdr, frame, ts, out)
            elif hdr.ptype == V.INITIAL:
                self._initial(side, buf, hdr, frame, ts, out)
            elif self.confirmed:
                self._protected(side, hdr.ptype, buf, hdr.start, hdr.pn_offset, hdr.end, frame, ts, out)
            pos = hdr.end

    def _retry(self, side: int, buf: bytes, hdr: LongHeader, frame: int, ts: float, out: list[Any]) -> None:
        version = V.lookup(hdr.version)
        if version is None or version.retry is None:
            integrity = "unchecked (no integrity tag in this version)"
        else:  # the tag covers the DCID of the Initial it answers: the first one, or (after a VN) the latest
            body, tag = bytes(buf[hdr.start:hdr.end - 16]), buf[hdr.end - 16:hdr.end]
            answered = [d for d in (self.original_dcid, self.initial_dcid) if d is not None]
            integrity = "ok" if any(retry_tag(version, d, body) == tag for d in answered) else "failed"
        accepted = integrity != "failed" and not self.retried
        self._flush(out)
        out.append(Retry(side, frame, ts, hdr.version, hdr.dcid, hdr.scid, hdr.token_length, integrity, accepted))
        if accepted:  # the client's next Initials go to its SCID, and their keys derive from it
            self.initial_dcid = hdr.scid
            self.retried = True
            self._after_retry = True
        self._cid(side, hdr.scid, frame, out)

    def _initial(self, side: int, buf: bytes, hdr: LongHeader, frame: int, ts: float, out: list[Any]) -> None:
        version = V.lookup(hdr.version)
        if version is None:
            return
        s = self.sides[side]
        from_client = self.client_side is None or side == self.client_side
        if from_client and self.version is not None and version.code != self.version.code:
            self._new_attempt(version)  # after a Version Negotiation: a new ClientHello at offset 0
        plain: bytes | None = None
        u: Unmasked | None = None
        pn = 0
        for dcid in self._initial_candidates(hdr, from_client):
            client_keys, server_keys = self._initial_pair(version, dcid)
            keys = client_keys if from_client else server_keys
            try:
                u = unmask(buf, hdr.start, hdr.pn_offset, hdr.end, keys)
                pn = decode_packet_number(s.largest[0], u.truncated_pn, u.pn_length * 8)
                plain = open_packet(buf, u, pn, hdr.pn_offset, hdr.end, keys)
            except (DecodeError, OpenError):
                continue
            if from_client:
                self.initial_dcid = dcid
            break
        if plain is None or u is None:
            if self.confirmed:
                self._flush(out)
                out.append(Malformed(side, frame, hdr.start, f"Initial packet ({hdr.end - hdr.start} bytes) does not "
                                     "decrypt: AEAD tag check failed (damaged, or not this connection's)"))
            return
        if not self.confirmed:
            self._confirm(side, version, hdr, frame, ts, out)
        self._flush(out)
        s.largest[0] = max(s.largest[0], pn)
        self._cid(side, hdr.scid, frame, out)
        self._cid(1 - side, hdr.dcid, frame, out)
        if hdr.scid:
            s.cid_length = len(hdr.scid)
        packet = Packet(side, frame, ts, "Initial", hdr.version, hdr.dcid, hdr.scid, pn, hdr.end - hdr.start, [],
                        hdr.token_length)
        out.append(packet)
        self._frames(side, V.INITIAL, plain, packet, hdr.pn_offset + u.pn_length, frame, ts, out)

    def _initial_pair(self, version: V.Version, dcid: bytes) -> tuple[PacketKeys, PacketKeys]:
        """Initial keys by (version, DCID), derived once (every Initial of a connection uses them)."""
        key = (version.code, dcid)
        pair = self._initial_keys.get(key)
        if pair is None:
            if len(self._initial_keys) >= MAX_INITIAL_KEYS:
                self._initial_keys.clear()
            pair = self._initial_keys[key] = initial_keys(version, dcid)
        return pair

    def _initial_candidates(self, hdr: LongHeader, from_client: bool) -> list[bytes]:
        """DCIDs the Initial keys may derive from: the current one, then (client) the packet's own."""
        out = [self.initial_dcid] if self.initial_dcid is not None else []
        if from_client and hdr.dcid not in out:
            out.append(hdr.dcid)
        return out

    def _confirm(self, side: int, version: V.Version, hdr: LongHeader, frame: int, ts: float, out: list[Any]) -> None:
        self.confirmed = True
        self.client_side = side
        self.version = version
        self.original_dcid = hdr.dcid
        out.append(QuicStart(side, frame, ts, version.code, version.name, hdr.dcid))

    def _new_attempt(self, version: V.Version) -> None:
        """The client started again with another version: new Initial keys and CRYPTO streams."""
        self.version = version
        self.retried = False
        for side in (0, 1):
            s = self.sides[side]
            s.readers = (HandshakeReader(side, 0), s.readers[1], s.readers[2])
            s.largest[0] = -1

    def _protected(self, side: int, ptype: int, buf: bytes, start: int, pn_offset: int, end: int, frame: int,
                   ts: float, out: list[Any]) -> None:
        """A Handshake, 0-RTT or 1-RTT packet: counted in the encrypted run; opened with key-log keys."""
        s = self.sides[side]
        space = SPACE[ptype]
        reason = ""
        for keys in self._keys(side, ptype):
            try:
                u = unmask(buf, start, pn_offset, end, keys)
                pn = decode_packet_number(s.largest[space], u.truncated_pn, u.pn_length * 8)
                if ptype == V.ONE_RTT and (u.first >> 2) & 1 != s.phase:
                    keys = s.next_keys = s.next_keys or keys.next_phase()
                plain = open_packet(buf, u, pn, pn_offset, end, keys)
            except DecodeError as exc:
                reason = exc.reason
                continue
            except OpenError as exc:
                reason = str(exc)
                continue
            if keys is s.next_keys:  # the peer updated its keys (RFC 9001 6)
                s.keys[V.ONE_RTT], s.next_keys, s.phase = keys, None, s.phase ^ 1
            s.keys[ptype] = keys  # (0-RTT: the suite that opened it)
            s.largest[space] = max(s.largest[space], pn)
            self._count(side, ptype, frame, ts, end - start, True, out)
            packet = Packet(side, frame, ts, V.PACKET_TYPE_NAMES[ptype], self.version.code if self.version else 0,
                            b"", b"", pn, end - start, [], 0, s.phase if ptype == V.ONE_RTT else 0)
            if ptype == V.HANDSHAKE:
                out.append(packet)
            self._frames(side, ptype, plain, packet, pn_offset + u.pn_length, frame, ts, out)
            return
        if reason and ptype not in s.failed:  # (the run goes on: its summary follows)
            s.failed.add(ptype)
            out.append(Malformed(side, frame, start, f"cannot decrypt {V.PACKET_TYPE_NAMES[ptype]} packets "
                                 f"with the key log's secrets ({reason}); they stay opaque"))
        self._count(side, ptype, frame, ts, end - start, False, out)

    def _short(self, side: int, buf: bytes, pos: int, frame: int, ts: float, out: list[Any]) -> None:
        if not self.confirmed:
            return
        cid_length = self.sides[1 - side].cid_length  # addressed to the other side's id
        if cid_length is None:  # the id's length is unknown: counted, not opened
            self._count(side, V.ONE_RTT, frame, ts, len(buf) - pos, False, out)
            return
        self._protected(side, V.ONE_RTT, buf, pos, pos + 1 + cid_length, len(buf), frame, ts, out)

    # -- frames ----------------------------------------------------------------------------------

    def _frames(self, side: int, ptype: int, plain: bytes, packet: Packet, at: int, frame: int, ts: float,
                out: list[Any]) -> None:
        frames, error = parse_frames(plain)
        names = packet.frames
        level = LEVEL.get(ptype)
        for f in frames:
            if isinstance(f, Crypto):
                names.append("crypto")
                if level is None:
                    out.append(Malformed(side, frame, at, f"CRYPTO frame in a {packet.packet_type} packet"))
                    continue
                msgs: list[Any] = []
                ctx = Context(TLS13 if self._tls13 else None)
                if level == 0 and self._after_retry and side == self.client_side:
                    self._after_retry = False
                    self._restart_if_new(side, f)
                self.sides[side].readers[level].crypto(f.offset, f.data, frame, ts, ctx, msgs)
                for m in msgs:
                    out.append(m)
                    if isinstance(m, Message):
                        self._message(side, m)
            elif isinstance(f, CloseFrame):
                names.append("connection_close_application" if f.application else "connection_close")
                self.closed = True
                out.append(ConnectionClose(side, frame, ts, packet.packet_type, f.application, f.error_code,
                                           f.error_name, f.frame_type, text(f.reason), f.alert))
            elif isinstance(f, NewTokenFrame):
                names.append("new_token")
                out.append(NewToken(side, frame, ts, f.length))
            elif isinstance(f, NewConnectionId):
                names.append("new_connection_id")
                self._cid(side, f.cid, frame, out)
            elif isinstance(f, Other):
                names.append(f.name)
                if f.type == HANDSHAKE_DONE:
                    out.append(HandshakeDone(side, frame, ts))
            else:
                names.append("ack")
        if error is not None:
            out.append(Malformed(side, frame, at + error.offset,
                                 f"{packet.packet_type} packet {packet.packet_number}: {error.reason}"))

    def _restart_if_new(self, side: int, f: Crypto) -> None:
        """After a Retry the client may resend its ClientHello (the same bytes: a retransmission)
        or start a new one (the server kept no state; aioquic does): then its Initial CRYPTO
        stream starts again, and the new hello is read as one."""
        stream = self.sides[side].readers[0].stream
        start = stream.delivered - len(stream.history)
        lo, hi = max(f.offset, start), min(f.offset + len(f.data), stream.delivered)
        if lo < hi and stream.history[lo - start:hi - start] != f.data[lo - f.offset:hi - f.offset]:
            s = self.sides[side]
            s.readers = (HandshakeReader(side, 0), s.readers[1], s.readers[2])

    def _message(self, side: int, m: Message) -> None:
        """What later decoding depends on: the client random (key log) and the ServerHello (suite)."""
        if m.type == HS_CLIENT_HELLO and isinstance(m.body, ClientHello) and self.keylog is not None:
            self.secrets = self.keylog.secrets_for(m.body.random) or self.secrets  # a new attempt: its own
        elif m.type == HS_SERVER_HELLO and isinstance(m.body, ServerHello) and not m.body.hello_retry_request:
            self._tls13 = True
            self.suite = m.body.cipher_suite
            self._keys_from_log()

    # -- keys ------------------------------------------------------------------------------------

    def _keys_from_log(self) -> None:
        if not self.secrets or self.suite not in SUITES or self.client_side is None or self.version is None:
            return
        labels = self.version.labels
        for i, side in enumerate((self.client_side, 1 - self.client_side)):
            s = self.sides[side]
            hs, app = self.secrets.get(HANDSHAKE_SECRETS[i]), self.secrets.get(TRAFFIC_SECRETS[i])
            s.keys[V.HANDSHAKE] = PacketKeys(self.suite, hs, labels) if hs is not None else None
            s.keys[V.ONE_RTT] = PacketKeys(self.suite, app, labels) if app is not None else None

    def _keys(self, side: int, ptype: int) -> list[PacketKeys]:
        """The keys to try on a packet: those in force, or for the first 0-RTT packet one set per
        suite its early secret fits (0-RTT precedes the ServerHello; the tag tells the suite)."""
        keys = self.sides[side].keys[ptype]
        if keys is not None:
            return [keys]
        if ptype != V.ZERO_RTT or self._early_tried or side != self.client_side or self.version is None:
            return []
        self._early_tried = True
        secret = self.secrets.get(CLIENT_EARLY)
        if secret is None:
            return []
        suites = [self.suite] if self.suite in SUITES else list(SUITES)
        return [PacketKeys(suite, secret, self.version.labels) for suite in suites
                if len(secret) == (48 if SUITES[suite][0] == "sha384" else 32)]

    # -- bookkeeping -----------------------------------------------------------------------------

    def _cid(self, side: int, cid: bytes, frame: int, out: list[Any]) -> None:
        if cid and cid not in self.cids and len(self.cids) < MAX_CIDS:
            self.cids[cid] = side
            out.append(ConnectionId(side, frame, cid))

    def _count(self, side: int, ptype: int, frame: int, ts: float, length: int, opened: bool, out: list[Any]) -> None:
        run = self._run
        name = V.PACKET_TYPE_NAMES[ptype]
        if run is not None and (run[0] != side or run[1] != name):
            self._flush(out)
            run = None
        if run is None:
            self._run = [side, name, frame, frame, ts, 1, length, int(opened)]
            return
        run[3] = frame
        run[5] += 1
        run[6] += length
        run[7] += int(opened)

    def _flush(self, out: list[Any]) -> None:
        run, self._run = self._run, None
        if run is not None:
            out.append(EncryptedRun(run[0], run[1], run[2], run[3], run[4], run[5], run[6], run[7]))
