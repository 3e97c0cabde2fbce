"""OpenVPN over TCP carries its TLS handshake in control-channel packets: unwrap them.

Each packet is framed by a 2-byte length; control packets (opcode, session id, acks, packet id)
carry TLS bytes, numbered by packet id, possibly resent. The unwrapper hands back those bytes in
packet-id order, exactly once. Data-channel packets are encrypted by OpenVPN itself: skipped.
Only the plain form (no tls-auth/tls-crypt HMAC, which would need its key length) is understood.
"""

from __future__ import annotations

import struct
from typing import Final

from analyzer.errors import DecodeError

CONTROL: Final = {1, 2, 3, 4, 7, 8, 10, 11}  # hard resets v1/v2/v3, soft reset, control, WKc control
CONTROL_V1: Final = 4
ACK_V1: Final = 5
DATA_V1: Final = 6
DATA_V2: Final = 9
HARD_RESETS: Final = {7: "client", 8: "server", 10: "client"}
MAX_PACKET: Final = 1 << 16
MAX_PENDING: Final = 256  # control packets held out of order


def looks_like_openvpn(buf: bytes | bytearray) -> bool:
    """A stream that opens with a complete OpenVPN hard-reset packet with packet id 0."""
    if len(buf) < 2 + 14:
        return False
    plen = (buf[0] << 8) | buf[1]
    if plen < 14 or len(buf) < 2 + plen or buf[2] >> 3 not in HARD_RESETS:
        return False
    acks = buf[2 + 9]
    p = 2 + 10 + 4 * acks + (8 if acks else 0)
    return acks <= 8 and p + 4 <= 2 + plen and struct.unpack_from("!I", buf, p)[0] == 0


class OpenVpnUnwrapper:
    __slots__ = ("buf", "next_pid", "pending")

    def __init__(self) -> None:
        self.buf = bytearray()
        self.next_pid = 0
        self.pending: dict[int, bytes] = {}

    def feed(self, data: bytes) -> bytes:
        """TLS bytes that became available, in order; raises DecodeError on a broken framing."""
        buf = self.buf
        buf += data
        out = bytearray()
        p = 0
        while len(buf) - p >= 2:
            plen = (buf[p] << 8) | buf[p + 1]
            if plen == 0:
                raise DecodeError("empty OpenVPN packet", p)
            if len(buf) - p - 2 < plen:
                break
            pkt = bytes(buf[p + 2:p + 2 + plen])
            p += 2 + plen
            op = pkt[0] >> 3
            if op in CONTROL:
                pid, payload = _control(pkt)
                if pid >= self.next_pid and pid not in self.pending and len(self.pending) < MAX_PENDING:
                    self.pending[pid] = payload
                while self.next_pid in self.pending:
                    out += self.pending.pop(self.next_pid)
                    self.next_pid += 1
            elif op not in (ACK_V1, DATA_V1, DATA_V2):
                raise DecodeError(f"unknown OpenVPN opcode {op}", p)
        del buf[:p]
        return bytes(out)


def _control(pkt: bytes) -> tuple[int, bytes]:
    if len(pkt) < 10:
        raise DecodeError("short OpenVPN control packet", 0)
    acks = pkt[9]
    p = 10 + 4 * acks + (8 if acks else 0)
    if p + 4 > len(pkt):
        raise DecodeError("OpenVPN control packet cut short", p)
    return struct.unpack_from("!I", pkt, p)[0], pkt[p + 4:]
