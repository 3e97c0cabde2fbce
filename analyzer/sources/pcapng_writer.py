"""A minimal pcapng writer (SHB, one IDB with nanosecond timestamps, EPBs) for `live --write`."""

from __future__ import annotations

import struct
from typing import BinaryIO

_TSRESOL_NS = 9


def _block(btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    length = 12 + len(body)
    return struct.pack("<II", btype, length) + body + struct.pack("<I", length)


class PcapngWriter:
    def __init__(self, fh: BinaryIO, linktype: int, snaplen: int = 262144) -> None:
        self.fh = fh
        fh.write(_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)))
        options = struct.pack("<HHB3x", 9, 1, _TSRESOL_NS) + struct.pack("<HH", 0, 0)
        fh.write(_block(0x00000001, struct.pack("<HHI", linktype, 0, snaplen) + options))

    def write(self, ts: float, data: bytes, orig_len: int | None = None) -> None:
        ticks = int(round(ts * 1e9))
        head = struct.pack("<IIIII", 0, ticks >> 32, ticks & 0xFFFFFFFF, len(data), orig_len or len(data))
        self.fh.write(_block(0x00000006, head + data))

    def secrets(self, nss_key_log: bytes) -> None:
        """A Decryption Secrets Block holding a TLS key log, as editcap --inject-secrets writes."""
        self.fh.write(_block(0x0000000A, struct.pack("<II", 0x544C534B, len(nss_key_log)) + nss_key_log))

    def flush(self) -> None:
        self.fh.flush()
