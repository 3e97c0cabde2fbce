"""The sans-IO DTLS connection: UDP datagrams of one 5-tuple in, typed events out.

No I/O, no clocks, no globals: frames and timestamps come in with the datagrams. Datagrams whose
first byte is outside DTLS's range (RFC 7983: STUN, RTP/RTCP, ZRTP and TURN share a WebRTC
5-tuple with DTLS) are counted and passed over in silence; everything else is framed into records,
handshake fragments are reassembled per direction, and each whole message is decoded by the TLS
decoders with a DTLS context. The event contract is in the package docstring (analyzer/dtls).
"""

from __future__ import annotations

from typing import Any, Final

from analyzer import registry
from analyzer.dtls import handshake as hs
from analyzer.dtls.detect import unwrap
from analyzer.dtls.events import Fragment, Retransmission
from analyzer.dtls.keys import DtlsKeys
from analyzer.dtls.messages import OpaqueRecord, ack, hello_verify_request
from analyzer.dtls.records import DtlsRecord, frame_records
from analyzer.dtls.versions import DTLS13, tls_equivalent
from analyzer.errors import DecodeError
from analyzer.registry.codes import (
    CT_ACK,
    CT_ALERT,
    CT_APPLICATION_DATA,
    CT_CHANGE_CIPHER_SPEC,
    CT_HANDSHAKE,
    CT_HEARTBEAT,
    CT_TLS12_CID,
    HS_CLIENT_KEY_EXCHANGE,
)
from analyzer.tls.decoders import decode_message
from analyzer.tls.events import Alert, Heartbeat, Malformed, Message, TlsStart
from analyzer.tls.messages import ClientHello, Context, ServerHello, message_name

DTLS_FIRST_BYTES: Final = range(20, 64)  # RFC 7983 5: the first byte of a DTLS record
CONNECTION_ID: Final = 54  # RFC 9146
CONNECTION_ID_DRAFT: Final = 53  # draft-ietf-tls-dtls-connection-id before RFC 9146 (mbed TLS 2.x)
HELLO_VERIFY_REQUEST: Final = 3
MAX_DECRYPT_FAILURES: Final = 8  # consecutive failures on a side before its records stay opaque
OPAQUE_NAMES: Final = {CT_HANDSHAKE: "EncryptedHandshakeMessage", CT_ALERT: "EncryptedAlert",
                       CT_APPLICATION_DATA: "ApplicationData", CT_CHANGE_CIPHER_SPEC: "ChangeCipherSpec"}

Event = Message | Malformed | TlsStart | Fragment | Retransmission


class _Direction:
    __slots__ = ("reassembler", "started", "cid_length", "failures", "last_frame", "last_ts")

    def __init__(self) -> None:
        self.reassembler = hs.Reassembler()
        self.started = False
        self.cid_length = 0  # connection ID length in this side's records (the peer chose it)
        self.failures = 0
        self.last_frame = 0
        self.last_ts = 0.0


class DtlsConnection:
    """DTLS state of one UDP 5-tuple; feed it with `datagram`, finish with `end`."""

    def __init__(self, keylog: Any = None) -> None:
        self.keys = DtlsKeys(keylog) if keylog is not None and len(keylog) else None
        self.dirs = (_Direction(), _Direction())
        self.client_side: int | None = None
        self.version: int | None = None  # negotiated DTLS version
        self.kx: str | None = None
        self.hello_seen = False  # a DTLS ClientHello: unified (DTLS 1.3) headers may follow
        self.datagrams = 0
        self.other_datagrams = 0  # not DTLS by their first byte (STUN, RTP, ...)
        self.retransmissions = 0

    # -- feeding -------------------------------------------------------------------------------

    def datagram(self, side: int, payload: bytes, frame: int, ts: float) -> list[Event]:
        out: list[Event] = []
        d = self.dirs[side]
        d.last_frame, d.last_ts = frame, ts
        payload = unwrap(payload)
        if not payload or payload[0] not in DTLS_FIRST_BYTES:
            self.other_datagrams += 1
            return out
        self.datagrams += 1
        # unified headers: after a DTLS ClientHello, unless DTLS 1.0/1.2 was negotiated
        unified = self.hello_seen and (self.version is None or self.version == DTLS13)
        records, fault = frame_records(payload, d.cid_length, unified)
        if records and not d.started:
            d.started = True
            out.append(TlsStart(side, frame, 0))
        for rec in records:
            self._record(side, rec, frame, ts, out)
        if fault is not None:
            out.append(Malformed(side, frame, fault[0], fault[1]))
        return out

    def end(self) -> list[Event]:
        """The capture (or the flow) ended: messages still missing fragments are reported."""
        out: list[Event] = []
        for side, d in enumerate(self.dirs):
            for (epoch, seq), p in sorted(d.reassembler.pending.items()):
                have = sum(e - s for s, e in p.covered)
                out.append(Malformed(side, d.last_frame, 0,
                                     f"{_name(p.msg_type)} (epoch {epoch}, message_seq {seq}) incomplete: "
                                     f"{have} of {p.length} bytes arrived"))
            d.reassembler = hs.Reassembler()
        return out

    # -- records ---------------------------------------------------------------------------------

    def _record(self, side: int, rec: DtlsRecord, frame: int, ts: float, out: list[Event]) -> None:
        keys = self.keys
        if rec.unified:
            if keys is not None and self._trying(side) and keys.can_open(side, rec):
                opened = keys.open13(side, rec)
                if not isinstance(opened, str):
                    self.dirs[side].failures = 0
                    epoch, _seq, ct, plain = opened
                    self._plain(side, ct, rec.version, epoch, plain, frame, ts, True, out)
                    return
                self._failed(side, rec, opened, frame, out)
            self._opaque(side, rec, CT_APPLICATION_DATA, "EncryptedRecord", frame, ts, out)
        elif rec.epoch == 0 and rec.content_type != CT_TLS12_CID:
            self._plain(side, rec.content_type or 0, rec.version, 0, rec.body, frame, ts, False, out)
        elif rec.content_type == CT_TLS12_CID:  # RFC 9146 records stay opaque (see the package docs)
            self._opaque(side, rec, CT_TLS12_CID, "EncryptedRecord", frame, ts, out)
        else:
            if keys is not None and self._trying(side) and keys.can_open(side, rec):
                opened12 = keys.open12(side, rec)
                if not isinstance(opened12, str):
                    self.dirs[side].failures = 0
                    self._plain(side, opened12[0], rec.version, rec.epoch, opened12[1], frame, ts, True, out)
                    return
                self._failed(side, rec, opened12, frame, out)
            ct = rec.content_type or 0
            self._opaque(side, rec, ct, OPAQUE_NAMES.get(ct, "EncryptedRecord"), frame, ts, out)

    def _trying(self, side: int) -> bool:
        return self.dirs[side].failures < MAX_DECRYPT_FAILURES

    def _failed(self, side: int, rec: DtlsRecord, reason: str, frame: int, out: list[Event]) -> None:
        d = self.dirs[side]
        d.failures += 1
        note = "" if d.failures < MAX_DECRYPT_FAILURES else \
            f"; {MAX_DECRYPT_FAILURES} failures in a row: this side's records stay opaque from here on"
        out.append(Malformed(side, frame, rec.offset, f"cannot decrypt epoch {rec.epoch} record: {reason}{note}"))

    def _opaque(self, side: int, rec: DtlsRecord, ct: int, name: str, frame: int, ts: float,
                out: list[Event]) -> None:
        out.append(Message(side=side, frame=frame, ts=ts, content_type=ct, record_version=rec.version, type=None,
                           name=name, encrypted=True, length=len(rec.body),
                           body=OpaqueRecord(rec.epoch, rec.seq, rec.cid, rec.unified)))

    def _plain(self, side: int, ct: int, version: int, epoch: int, body: bytes, frame: int, ts: float,
               decrypted: bool, out: list[Event]) -> None:
        """A record we can read: sent in the clear, or decrypted."""
        if ct == CT_HANDSHAKE:
            fragments, fault = hs.split_fragments(body)
            for h, data in fragments:
                self._fragment(side, version, epoch, h, data, frame, ts, decrypted, out)
            if fault is not None:
                out.append(Malformed(side, frame, 0, f"handshake record: {fault}"))
            return
        parsed: Any = None
        if ct == CT_ALERT and len(body) == 2:
            parsed, name = Alert(body[0], body[1]), "Alert"
        elif ct == CT_ALERT:
            name = "EncryptedAlert" if not decrypted else "Alert"
            if decrypted:
                out.append(Malformed(side, frame, 0, f"alert of {len(body)} bytes (2 expected)"))
        elif ct == CT_HEARTBEAT:
            name = "Heartbeat"
            if len(body) >= 3:
                parsed = Heartbeat(body[0], (body[1] << 8) | body[2], len(body))
        elif ct == CT_ACK:
            name = "Ack"
            try:
                parsed = ack(body)
            except DecodeError as exc:
                out.append(Malformed(side, frame, 0, f"ACK: {exc.reason}"))
        elif ct == CT_CHANGE_CIPHER_SPEC:
            name = "ChangeCipherSpec"
        elif ct == CT_APPLICATION_DATA:
            name = "ApplicationData"
        else:
            name = f"unknown_record({ct})"
        out.append(Message(side=side, frame=frame, ts=ts, content_type=ct, record_version=version, type=None,
                           name=name, encrypted=False, length=len(body), body=parsed, decrypted=decrypted))

    # -- handshake --------------------------------------------------------------------------------

    def _fragment(self, side: int, version: int, epoch: int, h: hs.FragmentHeader, data: bytes, frame: int,
                  ts: float, decrypted: bool, out: list[Event]) -> None:
        outcome = self.dirs[side].reassembler.add(epoch, h, data, frame)
        if isinstance(outcome, hs.Repeat):
            self.retransmissions += 1
            out.append(Retransmission(side, frame, ts, epoch, h.message_seq, h.msg_type, _name(h.msg_type),
                                      h.offset, h.fragment_length, outcome.first_frame, decrypted))
            return
        if isinstance(outcome, hs.Conflict):
            out.append(Malformed(side, frame, 0, outcome.reason))
            return
        if isinstance(outcome, hs.Complete):
            self._message(side, version, h.msg_type, h.message_seq, outcome.body, frame, ts, decrypted, out)
        else:  # the fragment that completes a message is that message's row, as in Wireshark
            out.append(Fragment(side, frame, ts, epoch, h.message_seq, h.msg_type, _name(h.msg_type), h.offset,
                                h.fragment_length, h.length, decrypted))

    def _message(self, side: int, version: int, htype: int, message_seq: int, body: bytes, frame: int,
                 ts: float, decrypted: bool, out: list[Event]) -> None:
        malformed = None
        decoded: Any = None
        try:
            if htype == HELLO_VERIFY_REQUEST:
                decoded = hello_verify_request(body)
            else:
                decoded = decode_message(htype, body, Context(tls_equivalent(self.version), self.kx, dtls=True))
        except DecodeError as exc:
            malformed = f"{_name(htype)}: {exc.reason} at {exc.offset}"
        partial = getattr(decoded, "malformed", None)
        if partial and malformed is None:
            malformed = f"{_name(htype)}: {partial}"
        if malformed is not None:
            out.append(Malformed(side, frame, 0, malformed))
        out.append(Message(side=side, frame=frame, ts=ts, content_type=CT_HANDSHAKE, record_version=version,
                           type=htype, name=message_name(htype, decoded), encrypted=False, length=len(body),
                           body=decoded, decrypted=decrypted, malformed=malformed))
        self._learn(side, htype, message_seq, body, decoded)

    def _learn(self, side: int, htype: int, message_seq: int, body: bytes, decoded: Any) -> None:
        """What later records depend on: roles, version, suite, connection IDs, keys."""
        keys = self.keys
        if isinstance(decoded, ClientHello):
            self.hello_seen = True
            if self.client_side is None:
                self.client_side = side
            # the server's records carry the connection ID the client asked for, and vice versa
            self.dirs[1 - side].cid_length = _cid_length(decoded.extensions)
            if keys is not None:
                keys.client_hello(side, decoded)
        elif isinstance(decoded, ServerHello):
            if self.client_side is None:
                self.client_side = 1 - side
            self.version = decoded.negotiated_version
            info = registry.cipher_suite(decoded.cipher_suite)
            self.kx = info.kx if info is not None else None
            if not decoded.hello_retry_request:
                self.dirs[1 - side].cid_length = _cid_length(decoded.extensions)
            if keys is not None:
                keys.server_hello(decoded, self.version)
        if keys is not None:
            keys.handshake_message(htype, body, message_seq)
            if htype == HS_CLIENT_KEY_EXCHANGE and self.kx is not None and "RSA" in self.kx:
                keys.client_key_exchange(body)


def _cid_length(extensions: Any) -> int:
    """The length of the connection ID a hello asks its peer to send (0: none)."""
    for e in extensions or ():
        if e.type in (CONNECTION_ID, CONNECTION_ID_DRAFT):
            cid = e.fields.get("cid")
            return len(cid) // 2 if isinstance(cid, str) else 0
    return 0


def _name(htype: int) -> str:
    return message_name(htype, None)

