"""TLS handshake messages out of one side's CRYPTO stream at one encryption level: reassembly by
offset (crypto_stream), then message framing (4-byte header), then the TLS decoders of
analyzer.tls.messages. Emits `analyzer.tls.events.Message` (content_type 22, record_version 0:
QUIC has no record layer) and `Malformed`.
"""

from __future__ import annotations

from typing import Final

from analyzer.quic.crypto_stream import MAX_OFFSET, CryptoStream
from analyzer.tls.decoders import decode_reporting
from analyzer.tls.events import Malformed, Message
from analyzer.tls.messages import Context, message_name

CT_HANDSHAKE: Final = 22
NO_RECORD: Final = 0  # Message.record_version for QUIC: there is no TLS record layer
LEVEL_NAMES: Final = ("Initial", "Handshake", "1-RTT")  # 0-RTT carries no CRYPTO frames


class HandshakeReader:
    """One side, one level. `decrypted` marks messages read with key-log keys (Handshake, 1-RTT)."""

    __slots__ = ("side", "level", "stream", "buf", "dead")

    def __init__(self, side: int, level: int) -> None:
        self.side = side
        self.level = level
        self.stream = CryptoStream()
        self.buf = bytearray()  # bytes of a message not yet whole (at most one message: < MAX_OFFSET)
        self.dead = False  # a message header made no sense: the rest of this level is not read

    def crypto(self, offset: int, data: bytes, frame: int, ts: float, ctx: Context, out: list) -> None:
        """One CRYPTO frame's data; whole messages are appended to `out` as Message events."""
        fresh = self.stream.add(offset, data)
        for problem in self.stream.problems:
            out.append(Malformed(self.side, frame, offset, f"{LEVEL_NAMES[self.level]} {problem}"))
        if not fresh or self.dead:
            return
        buf = self.buf
        buf += fresh
        p = 0
        n = len(buf)
        while n - p >= 4:
            htype = buf[p]
            hlen = (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]
            if hlen > MAX_OFFSET:
                out.append(Malformed(self.side, frame, self.stream.delivered - n + p,
                                     f"{LEVEL_NAMES[self.level]} handshake message of {hlen} bytes exceeds the "
                                     f"{MAX_OFFSET}-byte limit; the rest of this level is not read"))
                self.dead = True
                self.buf = bytearray()
                return
            if n - p - 4 < hlen:
                break
            body = bytes(buf[p + 4:p + 4 + hlen])
            p += 4 + hlen
            out.append(self._message(htype, hlen, body, frame, ts, ctx, out))
        if p:
            del buf[:p]

    def _message(self, htype: int, hlen: int, body: bytes, frame: int, ts: float, ctx: Context,
                 out: list) -> Message:
        decoded, malformed = decode_reporting(htype, body, ctx)
        if malformed is not None:
            out.append(Malformed(self.side, frame, self.stream.delivered, malformed))
        return Message(side=self.side, frame=frame, ts=ts, content_type=CT_HANDSHAKE, record_version=NO_RECORD,
                       type=htype, name=message_name(htype, decoded), encrypted=False, length=hlen, body=decoded,
                       decrypted=self.level > 0, malformed=malformed)
