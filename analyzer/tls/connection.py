"""The sans-IO TLS connection: ordered bytes per direction in, typed events out.

No I/O, no clocks, no globals: frames and timestamps come in with the bytes. Each direction is
a small state machine: DETECT (looking for TLS, possibly after a plaintext preamble) -> RECORDS
(framing records) -> RESYNC (after lost bytes) or OFF (not TLS). Application-data bodies are
skipped by counting, never buffered or copied.
"""

from __future__ import annotations

import zlib
from typing import Any, Final

from analyzer import registry
from analyzer.errors import DecodeError
from analyzer.limits import Limits
from analyzer.registry.codes import (
    CT_ALERT,
    CT_APPLICATION_DATA,
    CT_CHANGE_CIPHER_SPEC,
    CT_HANDSHAKE,
    CT_HEARTBEAT,
    HS_CLIENT_HELLO,
    HS_CLIENT_KEY_EXCHANGE,
    HS_END_OF_EARLY_DATA,
    HS_FINISHED,
    HS_KEY_UPDATE,
    HS_NEW_SESSION_TICKET,
    HS_SERVER_HELLO,
)
from analyzer.tls import detect
from analyzer.tls.decoders import decode_shared
from analyzer.tls.events import Alert, Event, Heartbeat, KeyFacts, Malformed, Message, Resync, TlsStart
from analyzer.tls.keys import KeyState
from analyzer.tls.messages import Certificate, ClientHello, Context, ServerHello, message_name
from analyzer.tls.openvpn import OpenVpnUnwrapper, looks_like_openvpn
from analyzer.tls.sslv2 import SSL2_NAMES, parse_sslv2_hello, parse_sslv2_server_hello, sslv2_record
from analyzer.wording import CUT, LIMIT, UNDECRYPTABLE, cut_short, ends

DETECT: Final = 0
RECORDS: Final = 1
RESYNC: Final = 2
OFF: Final = 3
SSLV2: Final = 4
MAX_RECORD: Final = (1 << 14) + 2048  # the largest TLSCiphertext fragment RFC 8446 allows
_LIMITS: Final = Limits()  # the default caps (a handshake message over max_handshake_bytes is skipped, not buffered)
PREAMBLE_KEEP: Final = 32  # bytes of a plaintext preamble kept to name its protocol
DETECT_LIMIT: Final = 64 << 10  # plaintext preamble scanned for TLS before a direction is given up

DEFLATE: Final = 1
MAX_PLAINTEXT: Final = (1 << 14) + 1024  # RFC 5246 6.2.2: decompression may add at most 1024 bytes
MAC_LENGTH: Final = {"MD5": 16, "SHA": 20, "SHA1": 20, "SHA256": 32, "SHA384": 48, "NULL": 0}
NAMES: Final = {CT_CHANGE_CIPHER_SPEC: "ChangeCipherSpec", CT_ALERT: "Alert", CT_APPLICATION_DATA: "ApplicationData",
         CT_HEARTBEAT: "Heartbeat"}


class _Direction:
    __slots__ = ("side", "mode", "buf", "pos", "skip", "skipped_header", "hs", "hs_skip",
                 "hs_record", "encrypted", "scanned", "lost", "mac_strip", "outer")

    def __init__(self, side: int) -> None:
        self.side = side
        self.mode = DETECT
        self.buf = bytearray()
        self.pos = 0  # stream offset of buf[0]
        self.skip = 0  # body bytes of an application-data record still to pass over
        self.skipped_header: tuple[int, int, int] | None = None  # (content type, version, length)
        self.hs = bytearray()  # handshake bytes not yet forming a whole message
        self.hs_skip = 0  # bytes of an oversized handshake message still to pass over
        self.hs_record = 0  # record version of the handshake bytes buffered
        self.encrypted = False  # this side changed keys: its records are opaque from here on
        self.scanned = 0  # bytes of buf already searched for a TLS start
        self.lost = 0  # bytes dropped before a resync
        self.mac_strip = 0  # NULL cipher after CCS: records stay plaintext, with a MAC at the end
        self.outer: OpenVpnUnwrapper | None = None  # TLS wrapped in another protocol's framing


class TlsConnection:
    """TLS state of one TCP connection; feed it with `data`, `gap` and `end`."""

    def __init__(self, keylog: Any = None, limits: Limits = _LIMITS) -> None:
        self.keys = KeyState(keylog) if keylog is not None and len(keylog) else None
        self.keylog_given = keylog is not None
        self.undecryptable: list[tuple[int, int, str]] = []  # (side, frame, reason): the first per side
        self.max_handshake = limits.max_handshake_bytes
        self.max_certificates = limits.max_certificates
        self.compression = 0  # TLS <= 1.2 compression method of the ServerHello (1: DEFLATE)
        self._inflaters: list[Any] = [None, None]
        self._decrypting = False  # set while the plaintext of a decrypted record is processed
        self.dirs = (_Direction(0), _Direction(1))
        self.client_side: int | None = None  # the side that sent a ClientHello
        self.version: int | None = None  # negotiated
        self.kx: str | None = None
        self.tls13 = False
        self.found = False  # TLS seen on either side
        self.null_mac: int | None = None  # MAC length when the negotiated suite does not encrypt
        self.sslv2 = False  # the client spoke SSLv2 first

    # -- feeding -------------------------------------------------------------------------------

    def data(self, side: int, data: bytes, frame: int, ts: float) -> list[Event]:
        d = self.dirs[side]
        if d.mode == OFF:
            return []
        out: list[Event] = []
        if d.outer is not None:
            try:
                data = d.outer.feed(data)
            except DecodeError as exc:
                out.append(Malformed(side, frame, d.pos, f"OpenVPN framing: {exc.reason}"))
                d.mode = OFF
                return out
            if not data:
                return out
        if d.skip:
            n = len(data)
            if n < d.skip:
                d.skip -= n
                d.pos += n
                return out
            d.pos += d.skip
            data = data[d.skip:]
            d.skip = 0
            self._skipped_record_done(d, frame, ts, out)
            if not data:
                return out
        if not d.buf:
            d.buf = bytearray(data)
        else:
            d.buf += data
        if d.mode == RECORDS:
            self._records(d, frame, ts, out)
        elif d.mode == SSLV2:
            self._sslv2_records(d, frame, ts, out)
        else:
            self._find_start(d, frame, ts, out)
        return out

    def gap(self, side: int, length: int, frame: int, ts: float) -> list[Event]:
        """`length` bytes of this direction are missing at the current position."""
        d = self.dirs[side]
        out: list[Event] = []
        if d.mode == OFF:
            return out
        if d.skip:
            if length < d.skip:  # the gap fell inside an application-data body: framing holds
                d.skip -= length
                d.pos += length
                return out
            d.pos += d.skip
            length -= d.skip
            d.skip = 0
            self._skipped_record_done(d, frame, ts, out)
            if not length:
                return out
        if d.buf and d.mode == RECORDS:
            out.append(Malformed(side, frame, d.pos, f"{len(d.buf)} bytes of a record lost in a TCP gap", CUT))
        if d.hs:
            out.append(Malformed(side, frame, d.pos, "handshake message cut by a TCP gap", CUT))
        d.lost += len(d.buf) + length
        d.pos += len(d.buf) + length
        d.buf = bytearray()
        d.hs = bytearray()
        d.hs_skip = 0
        d.scanned = 0
        if d.mode == RECORDS:
            d.mode = RESYNC
        return out

    def end(self, side: int, frame: int, ts: float, cause: str = "capture end") -> list[Event]:
        """The direction ended (`cause`: StreamEnd.reason); anything half-read is reported, nothing
        is invented."""
        d = self.dirs[side]
        out: list[Event] = []
        if d.skip and d.skipped_header is not None:
            total = d.skipped_header[2]
            out.append(Malformed(side, frame, d.pos, cut_short(cause, total - d.skip, total), CUT))
            d.skip = 0
            self._skipped_record_done(d, frame, ts, out)
        buf, hs = d.buf, d.hs
        if d.mode == RECORDS and buf:
            why = cut_short(cause, len(buf) - 5, (buf[3] << 8) | buf[4]) if len(buf) >= 5 else \
                f"{ends(cause)} inside a record header ({len(buf)} of 5 bytes)"
            out.append(Malformed(side, frame, d.pos, why, CUT))
        if hs and d.mode == RECORDS:
            why = cut_short(cause, len(hs) - 4, (hs[1] << 16) | (hs[2] << 8) | hs[3],
                            registry.handshake_type_name(hs[0])) if len(hs) >= 4 else \
                f"{ends(cause)} inside a handshake message header"
            out.append(Malformed(side, frame, d.pos, why, CUT))
        d.buf = bytearray()
        d.hs = bytearray()
        d.mode = OFF
        return out

    def key_facts(self) -> KeyFacts | None:
        """What decryption met on this connection; None when no key log was given."""
        if not self.keylog_given:
            return None
        failures = tuple(self.undecryptable)
        if self.keys is None:  # an empty key log
            return KeyFacts(self.client_side is not None, (), False, None, None, failures)
        facts: KeyFacts = self.keys.facts(failures)
        return facts

    def gave_up(self, side: int) -> bool:
        """True when this direction is not (or no longer) worth its bytes."""
        return self.dirs[side].mode == OFF

    # -- finding TLS -----------------------------------------------------------------------------

    def _find_start(self, d: _Direction, frame: int, ts: float, out: list[Event]) -> None:
        buf = d.buf
        if d.mode == DETECT and d.pos == 0 and not d.scanned:
            if d.outer is None and looks_like_openvpn(buf):
                d.outer = OpenVpnUnwrapper()
                d.buf = bytearray()
                self.data(d.side, bytes(buf), frame, ts)  # again, through the unwrapper
                return
            if detect.sslv2_hello(buf):
                self._sslv2(d, frame, ts, out)
                return
            if self.sslv2 and len(buf) >= 3 and buf[0] & 0x80 and buf[2] == 4:  # SSLv2 SERVER-HELLO
                out.append(TlsStart(d.side, frame, 0))
                d.mode = SSLV2
                self._sslv2_records(d, frame, ts, out)
                return
        start, d.scanned = detect.find_start(buf, d.scanned, resync=(d.mode == RESYNC or d.pos > 0))
        if start is None:
            if len(buf) > DETECT_LIMIT:
                if d.mode == RESYNC:
                    d.pos += len(buf) - detect.LOOKAHEAD
                    d.lost += len(buf) - detect.LOOKAHEAD
                    d.buf = buf[-detect.LOOKAHEAD:]
                    d.scanned = 0
                else:
                    d.mode = OFF
                    d.buf = bytearray()
            return
        if d.mode == RESYNC:
            out.append(Resync(d.side, frame, d.pos + start, d.lost + start))
        else:
            out.append(TlsStart(d.side, frame, d.pos + start, bytes(buf[:min(start, PREAMBLE_KEEP)])))
        self.found = True
        d.lost = 0
        d.mode = RECORDS
        d.scanned = 0
        if start:
            del buf[:start]
            d.pos += start
        self._records(d, frame, ts, out)

    def _sslv2(self, d: _Direction, frame: int, ts: float, out: list[Event]) -> None:
        """An SSLv2-format ClientHello at the start of a stream (waits for the whole record)."""
        buf = d.buf
        length = ((buf[0] & 0x7F) << 8) | buf[1]
        if len(buf) < 2 + length:
            return
        record = bytes(buf[2:2 + length])
        try:
            hello = parse_sslv2_hello(record)
            out.append(TlsStart(d.side, frame, 0))
            self._emit(d, Message(side=d.side, frame=frame, ts=ts, content_type=None, record_version=0x0002,
                                  type=1, name="ClientHello", encrypted=False, length=length - 1,
                                  body=hello), out)
        except DecodeError as exc:
            out.append(Malformed(d.side, frame, 0, f"SSLv2 ClientHello: {exc.reason}"))
        self.found = True
        self.sslv2 = True
        del buf[:2 + length]
        d.pos += 2 + length
        if buf and buf[0] & 0x80:  # the client goes on in SSLv2 (CLIENT-MASTER-KEY)
            d.mode = SSLV2
            self._sslv2_records(d, frame, ts, out)
        else:
            d.mode = RECORDS
            self._records(d, frame, ts, out)

    def _sslv2_records(self, d: _Direction, frame: int, ts: float, out: list[Event]) -> None:
        """SSLv2 proper: hellos and CLIENT-MASTER-KEY in the clear, everything after encrypted."""
        buf = d.buf
        p = 0
        while (rec := sslv2_record(buf, p)) is not None:
            hlen, length = rec
            if len(buf) - p < hlen + length:
                break
            body = bytes(buf[p + hlen:p + hlen + length])
            p += hlen + length
            if d.encrypted or not body:
                self._emit(d, Message(side=d.side, frame=frame, ts=ts, content_type=None, record_version=2,
                                      type=None, name="SSLv2EncryptedRecord", encrypted=True, length=length), out)
                continue
            mtype = body[0]
            decoded = None
            if mtype == HS_NEW_SESSION_TICKET:
                try:
                    decoded = parse_sslv2_server_hello(body)
                except DecodeError as exc:
                    out.append(Malformed(d.side, frame, d.pos, f"SSLv2 SERVER-HELLO: {exc.reason}"))
            self._emit(d, Message(side=d.side, frame=frame, ts=ts, content_type=None, record_version=2,
                                  type=mtype, name=SSL2_NAMES.get(mtype, f"unknown_sslv2({mtype})"),
                                  encrypted=False, length=length - 1, body=decoded), out)
            if mtype in (2, 4):  # keys follow CLIENT-MASTER-KEY / SERVER-HELLO on that side
                d.encrypted = True
        if p:
            del buf[:p]
            d.pos += p

    # -- records ---------------------------------------------------------------------------------

    def _records(self, d: _Direction, frame: int, ts: float, out: list[Event]) -> None:
        buf = d.buf
        n = len(buf)
        p = 0
        while n - p >= 5:
            ct = buf[p]
            version = (buf[p + 1] << 8) | buf[p + 2]
            length = (buf[p + 3] << 8) | buf[p + 4]
            if not (20 <= ct <= 26 and buf[p + 1] == 3 and length <= MAX_RECORD):
                if self.sslv2 and buf[p] & 0x80:  # the peer went on in SSLv2
                    del buf[:p]
                    d.pos += p
                    d.mode = SSLV2
                    self._sslv2_records(d, frame, ts, out)
                    return
                out.append(Malformed(d.side, frame, d.pos + p,
                                     f"implausible record header {bytes(buf[p:p + 5]).hex()}"))
                del buf[:p]
                d.pos += p
                d.mode = RESYNC
                d.scanned = 1
                self._find_start(d, frame, ts, out)
                return
            end = p + 5 + length
            if end > n:
                # an opaque body is counted past, not buffered; a handshake record with the version
                # still unknown is buffered (it may be a second ClientHello, see _whole_client_hello)
                if (ct == CT_APPLICATION_DATA or (d.encrypted and ct != CT_CHANGE_CIPHER_SPEC
                                         and not (ct == CT_HANDSHAKE and self.version is None))) \
                        and not self._keyed(d.side):
                    # opaque body: remember the header, count the rest of the body past
                    d.skip = end - n
                    d.skipped_header = (ct, version, length)
                    d.pos += n
                    d.buf = bytearray()
                    return
                break
            self._record(d, ct, version, buf, p + 5, end, frame, ts, out)
            p = end
            if d.mode != RECORDS:  # the record ended TLS on this side
                break
        if p:
            del buf[:p]
            d.pos += p

    def _skipped_record_done(self, d: _Direction, frame: int, ts: float, out: list[Event]) -> None:
        ct, version, length = d.skipped_header  # type: ignore[misc]
        d.skipped_header = None
        self._opaque(d, ct, version, length, frame, ts, out)

    def _opaque(self, d: _Direction, ct: int, version: int, length: int, frame: int, ts: float,
                out: list[Event]) -> None:
        if ct == CT_APPLICATION_DATA:
            name = "ApplicationData"
        elif ct == CT_HANDSHAKE:
            name = "EncryptedHandshakeMessage"
        elif ct == CT_ALERT:
            name = "EncryptedAlert"
        else:
            name = NAMES.get(ct, f"unknown_record({ct})")
        self._emit(d, Message(side=d.side, frame=frame, ts=ts, content_type=ct, record_version=version,
                              type=None, name=name, encrypted=True, length=length), out)

    def _record(self, d: _Direction, ct: int, version: int, buf: bytearray, start: int, end: int,
                frame: int, ts: float, out: list[Event]) -> None:
        if d.mac_strip and ct != CT_CHANGE_CIPHER_SPEC:
            end = max(start, end - d.mac_strip)
        length = end - start
        if d.encrypted and ct == CT_HANDSHAKE and self.version is None and _whole_client_hello(buf, start, end):
            d.encrypted = False  # a TLS 1.3 compat CCS, then the second ClientHello after a lost HRR
        # a 2-byte alert is never protected (a tag or MAC alone is 16 bytes): some TLS 1.3 clients
        # send one in the clear after the server's encrypted flight
        if ct == CT_APPLICATION_DATA or (d.encrypted and (ct != CT_CHANGE_CIPHER_SPEC or (length > 1 and self._keyed(d.side)))
                                and not (ct == CT_ALERT and length == 2)):
            if self._keyed(d.side):
                self._decrypt(d, ct, version, bytes(buf[start:end]), frame, ts, out)
            else:
                self._opaque(d, ct, version, length, frame, ts, out)
        else:
            self._plaintext(d, ct, version, buf, start, end, frame, ts, out)

    def _keyed(self, side: int) -> bool:
        return self.keys is not None and self.keys.can_decrypt(side)

    def _decrypt(self, d: _Direction, ct: int, version: int, body: bytes, frame: int, ts: float,
                 out: list[Event]) -> None:
        result = self.keys.decrypt(d.side, ct, version, body)  # type: ignore[union-attr]
        if isinstance(result, str):
            if all(side != d.side for side, _frame, _reason in self.undecryptable):
                self.undecryptable.append((d.side, frame, result))
            out.append(Malformed(d.side, frame, d.pos, f"cannot decrypt: {result}; records stay opaque", UNDECRYPTABLE))
            self._opaque(d, ct, version, len(body), frame, ts, out)
            return
        inner_ct, plain = result
        if self.compression == DEFLATE:
            inflater = self._inflaters[d.side] or zlib.decompressobj()
            self._inflaters[d.side] = inflater
            try:
                plain = inflater.decompress(plain, MAX_PLAINTEXT)
            except zlib.error as exc:
                out.append(Malformed(d.side, frame, d.pos, f"cannot inflate a compressed record: {exc}"))
                return
            if inflater.unconsumed_tail:  # more than a record may hold: hostile, not TLS
                out.append(Malformed(d.side, frame, d.pos, "compressed record inflates past 2^14 bytes"))
                return
        self._decrypting = True
        try:
            self._plaintext(d, inner_ct, version, bytearray(plain), 0, len(plain), frame, ts, out)
        finally:
            self._decrypting = False

    def _plaintext(self, d: _Direction, ct: int, version: int, buf: bytearray, start: int, end: int,
                   frame: int, ts: float, out: list[Event]) -> None:
        """A record whose bytes we can read: sent in the clear, or decrypted."""
        length = end - start
        if ct == CT_APPLICATION_DATA:
            self._emit(d, Message(side=d.side, frame=frame, ts=ts, content_type=ct, record_version=version,
                                  type=None, name="ApplicationData", encrypted=False, decrypted=True,
                                  length=length), out)
        elif ct == CT_HANDSHAKE:
            self._handshake(d, version, buf, start, end, frame, ts, out)
        elif ct == CT_CHANGE_CIPHER_SPEC:
            self._emit(d, Message(side=d.side, frame=frame, ts=ts, content_type=ct, record_version=version,
                                  type=None, name="ChangeCipherSpec", encrypted=False, decrypted=self._decrypting,
                                  length=length), out)
            v = self.version
            # A TLS 1.3 CCS (middlebox compatibility) changes nothing. With the ServerHello lost
            # (v unknown) keys are assumed changed, except for a ClientHello after it (see below).
            if v is None or v < 0x0304:
                keyed = self.keys is not None and self.keys.change_cipher_spec(d.side)
                if self.null_mac is not None and not keyed:
                    d.mac_strip = self.null_mac  # NULL cipher: plaintext with a MAC we cannot check
                else:
                    d.encrypted = True
        elif ct == CT_ALERT:
            if length == 2:
                body = Alert(buf[start], buf[start + 1])
                self._emit(d, Message(side=d.side, frame=frame, ts=ts, content_type=ct,
                                      record_version=version, type=None, name="Alert", encrypted=False,
                                      decrypted=self._decrypting,
                                      length=length, body=body), out)
            else:
                self._opaque(d, ct, version, length, frame, ts, out)
        elif ct == CT_HEARTBEAT:
            beat = None
            if length >= 3:
                beat = Heartbeat(buf[start], (buf[start + 1] << 8) | buf[start + 2], length)
            self._emit(d, Message(side=d.side, frame=frame, ts=ts, content_type=ct, record_version=version,
                                  type=None, name="Heartbeat", encrypted=False, length=length,
                                  decrypted=self._decrypting,
                                  body=beat), out)
        else:
            self._opaque(d, ct, version, length, frame, ts, out)

    def _handshake(self, d: _Direction, version: int, buf: bytearray, start: int, end: int,
                   frame: int, ts: float, out: list[Event]) -> None:
        if d.hs_skip:
            take = min(d.hs_skip, end - start)
            d.hs_skip -= take
            start += take
            if start == end:
                return
        hs = d.hs
        hs += buf[start:end]
        d.hs_record = version
        p = 0
        n = len(hs)
        while n - p >= 4:
            htype = hs[p]
            hlen = (hs[p + 1] << 16) | (hs[p + 2] << 8) | hs[p + 3]
            if hlen > self.max_handshake:
                out.append(Malformed(d.side, frame, d.pos, f"handshake message of {hlen} bytes exceeds the "
                                     f"{self.max_handshake}-byte cap (max_handshake_bytes); skipped", LIMIT))
                d.hs_skip = hlen - (n - p - 4)
                p = n
                if d.hs_skip <= 0:
                    p = n + d.hs_skip
                    d.hs_skip = 0
                continue
            if n - p - 4 < hlen:
                break
            body = bytes(hs[p + 4:p + 4 + hlen])
            p += 4 + hlen
            self._message(d, version, htype, hlen, body, frame, ts, out)
            if d.encrypted and not self._decrypting:  # e.g. the rest of the record after a TLS 1.3 ServerHello
                break
        if p:
            del hs[:p]

    def _message(self, d: _Direction, version: int, htype: int, hlen: int, body: bytes, frame: int,
                 ts: float, out: list[Event]) -> None:
        decoded, malformed, shared = decode_shared(htype, body, Context(self.version, self.kx,
                                                                           max_certificates=self.max_certificates))
        if malformed is not None:
            out.append(Malformed(d.side, frame, d.pos, malformed))
        if isinstance(decoded, Certificate) and decoded.omitted:
            out.append(Malformed(d.side, frame, d.pos, f"a Certificate message lists "
                                 f"{len(decoded.entries) + decoded.omitted} certificates: the first "
                                 f"{len(decoded.entries)} are kept (max_certificates), {decoded.omitted} only counted",
                                 LIMIT))
        msg = Message(side=d.side, frame=frame, ts=ts, content_type=CT_HANDSHAKE, record_version=version,
                      type=htype, name=message_name(htype, decoded), encrypted=False, length=hlen,
                      decrypted=self._decrypting, body=decoded, malformed=malformed, shared=shared)
        self._emit(d, msg, out)
        if self.keys is not None:  # after _emit: a ClientHello first starts a new transcript
            self.keys.handshake_message(htype, body)
            if htype == HS_CLIENT_KEY_EXCHANGE and self.kx is not None and "RSA" in self.kx:
                self.keys.client_key_exchange(body)
            self._key_notes(d, frame, out)

    # -- state -----------------------------------------------------------------------------------

    def _emit(self, d: _Direction, msg: Message, out: list[Event]) -> None:
        """Append a message and update what later decoding depends on."""
        out.append(msg)
        keys = self.keys
        if keys is not None and msg.decrypted:
            if msg.type == HS_FINISHED:
                keys.finished(d.side)
            elif msg.type == HS_KEY_UPDATE:
                keys.key_update(d.side)
            elif msg.type == HS_END_OF_EARLY_DATA:
                keys.end_of_early_data(d.side)
        if msg.type == HS_CLIENT_HELLO and keys is not None and isinstance(msg.body, ClientHello):
            keys.client_hello(d.side, msg.body)
        if msg.type == HS_CLIENT_HELLO and self.client_side is None:
            self.client_side = d.side
        elif msg.type == HS_SERVER_HELLO and isinstance(msg.body, ServerHello):
            sh = msg.body
            if self.client_side is None:
                self.client_side = 1 - d.side
            self.version = sh.negotiated_version
            info = registry.cipher_suite(sh.cipher_suite)
            self.kx = info.kx if info is not None else None
            self.null_mac = MAC_LENGTH.get(info.mac) if info is not None and info.cipher == "NULL" else None
            if not sh.hello_retry_request:
                self.compression = sh.compression_method
            if keys is not None:
                keys.server_hello(sh, self.version)
                self._key_notes(d, msg.frame, out)
            if registry.is_tls13(self.version) and not sh.hello_retry_request:
                self.tls13 = True
                for other in self.dirs:  # everything after a TLS 1.3 ServerHello is protected
                    other.encrypted = True

    def _key_notes(self, d: _Direction, frame: int, out: list[Event]) -> None:
        """What the key schedule could not do (a suite we cannot decrypt), as warnings."""
        keys = self.keys
        if keys is not None and keys.notes:
            for text in keys.notes:
                out.append(Malformed(d.side, frame, d.pos, text, UNDECRYPTABLE))
            keys.notes.clear()


def _whole_client_hello(buf: bytearray, start: int, end: int) -> bool:
    """Does this record hold exactly one plaintext ClientHello (type 1, length filling it)?"""
    return end - start >= 42 and buf[start] == 1 and \
        ((buf[start + 1] << 16) | (buf[start + 2] << 8) | buf[start + 3]) == end - start - 4 \
        and buf[start + 4] == 3
