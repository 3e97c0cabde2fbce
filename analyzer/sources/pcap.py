"""Read pcap and pcapng captures (optionally gzip-compressed, or stdin) into `Frame`s.

A small reader of our own: it parses record headers with `struct` over large chunks, so reading
costs a fraction of a microsecond per frame; building scapy packets per frame is ~100x slower.
Memory is bounded by the chunk size and the largest record, whatever the capture's length.
"""

from __future__ import annotations

import gzip
import io
import os
import struct
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, Final, NamedTuple

from analyzer.errors import InputError
from analyzer.net.decode import other_shard

CHUNK: Final = 1 << 20
MAX_RECORD: Final = 1 << 18  # 256 KiB: Wireshark's limit for most link types
PCAP_MAGICS: Final = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
PCAPNG_SHB: Final = b"\x0a\x0d\x0d\x0a"
GZIP_MAGIC: Final = b"\x1f\x8b"

# pcapng block types
_IDB: Final = 0x00000001
_OPB: Final = 0x00000002
_SPB: Final = 0x00000003
_EPB: Final = 0x00000006
_DSB: Final = 0x0000000A
_SHB: Final = 0x0A0D0D0A


TICK: Final = -1  # linktype of a data-less Frame a live source sends so time passes without packets


class Frame(NamedTuple):
    """One captured frame, numbered from 1 in file order exactly as Wireshark numbers it."""

    number: int
    ts: float
    linktype: int
    data: bytes


@dataclass(frozen=True, slots=True)
class DecryptionSecrets:
    """A pcapng Decryption Secrets Block (e.g. an embedded TLS key log), kept for decryption."""

    secrets_type: int
    data: bytes


@dataclass(slots=True)
class CaptureInfo:
    """What the reader learnt about the file, filled in while frames are read."""

    path: str
    format: str = ""
    compressed: bool = False
    frames: int = 0
    warnings: list[str] = field(default_factory=list)
    secrets: list[DecryptionSecrets] = field(default_factory=list)
    truncated: bool = False
    on_secrets: Callable[[DecryptionSecrets], None] | None = None


def open_capture(path: str) -> tuple[BinaryIO, bool]:
    """Open a path (or '-' for stdin) and transparently un-gzip it. Returns (stream, gzipped)."""
    if path == "-":
        raw: BinaryIO = sys.stdin.buffer
    else:
        if not os.path.exists(path):
            raise InputError(f"{path}: no such file", "check the path")
        if os.path.isdir(path):
            raise InputError(f"{path} is a directory", "give a .pcap or .pcapng file")
        try:
            raw = open(path, "rb")
        except OSError as exc:
            raise InputError(f"{path}: {exc.strerror}", "check permissions") from None
    stream = io.BufferedReader(raw, CHUNK) if not isinstance(raw, io.BufferedReader) else raw  # type: ignore[arg-type,type-var]
    if stream.peek(2)[:2] == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=stream), True  # type: ignore[return-value]
    return stream, False


def read_frames(path: str, info: CaptureInfo | None = None,
                on_secrets: Callable[[DecryptionSecrets], None] | None = None,
                shard: tuple[int, int] | None = None) -> Iterator[Frame]:
    """Yield every frame of a pcap/pcapng capture; problems go to `info.warnings`.

    Decryption Secrets Blocks are kept in `info.secrets` and handed to `on_secrets` when read,
    before the packets that follow them. With `shard=(k, n)` (a parallel worker's share), plain
    TCP frames of other shards are left out unread (see `other_shard`); numbering is unchanged.
    """
    k, n = shard or (0, 1)
    info = info if info is not None else CaptureInfo(path)
    info.on_secrets = on_secrets
    stream, info.compressed = open_capture(path)
    try:
        try:
            head = _read_exact(stream, 4)
        except (OSError, EOFError) as exc:
            raise InputError(f"{path}: cannot read ({exc})", "is it a complete gzip file?") from None
        if len(head) < 4:
            raise InputError(f"{path} is empty", "give a capture written by tcpdump, dumpcap or Wireshark")
        if head in PCAP_MAGICS:
            info.format = "pcap"
            yield from _read_pcap(stream, head, info, k, n)
        elif head == PCAPNG_SHB:
            info.format = "pcapng"
            yield from _read_pcapng(stream, head, info, k, n)
        else:
            raise InputError(f"{path} is not a pcap or pcapng file",
                             "write captures with tcpdump -w or dumpcap; text and other formats are not read")
    finally:
        info.on_secrets = None  # a callback has no business outliving the read (or being pickled)
        if stream is not sys.stdin.buffer:
            stream.close()


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    return stream.read(n) or b""


def _truncated(info: CaptureInfo, frames: int, offset: int, what: str) -> None:
    info.truncated = True
    info.warnings.append(f"capture truncated after frame {frames} at byte {offset}: {what}; "
                         "everything before it was analysed")


class _Chunks:
    """A sliding window over a stream: `need(n)` guarantees n bytes from `pos`, else False."""

    __slots__ = ("stream", "buf", "pos", "base", "eof")

    def __init__(self, stream: BinaryIO, initial: bytes = b"") -> None:
        self.stream = stream
        self.buf = initial
        self.pos = 0
        self.base = 0  # file offset of buf[0]
        self.eof = False

    def need(self, n: int) -> bool:
        if self.pos + n <= len(self.buf):
            return True
        if self.eof:
            return False
        rest = self.buf[self.pos:]
        self.base += self.pos
        self.pos = 0
        try:
            more = self.stream.read(max(CHUNK, n - len(rest)))
        except (OSError, EOFError, gzip.BadGzipFile):
            more = b""
        if not more:
            self.eof = True
        self.buf = rest + more
        while len(self.buf) < n and not self.eof:
            more = self.stream.read(n - len(self.buf))
            if not more:
                self.eof = True
            self.buf += more
        return len(self.buf) >= n

    @property
    def offset(self) -> int:
        return self.base + self.pos


def _u32(buf: bytes, at: int, little: bool) -> int:
    if little:
        return buf[at] | buf[at + 1] << 8 | buf[at + 2] << 16 | buf[at + 3] << 24
    return buf[at] << 24 | buf[at + 1] << 16 | buf[at + 2] << 8 | buf[at + 3]


def _read_pcap(stream: BinaryIO, magic: bytes, info: CaptureInfo, shard: int, shards: int) -> Iterator[Frame]:
    order, scale_ = PCAP_MAGICS[magic]
    scale: float = scale_
    little = order == "<"
    c = _Chunks(stream)
    if not c.need(20):
        raise InputError(f"{info.path}: pcap header is cut short", "the file is truncated")
    _vmaj, _vmin, _zone, _sig, snaplen, network = struct.unpack_from(order + "HHiIII", c.buf, 0)
    c.pos = 20
    linktype = network & 0x0FFFFFFF
    limit: int = max(MAX_RECORD, snaplen)
    unpack = struct.Struct(order + "IIII").unpack_from
    index = 0
    new = tuple.__new__  # Frame(...) parses keyword arguments; this does not
    while True:
        # the records wholly inside the buffer, without a call per record ...
        buf, pos, n = c.buf, c.pos, len(c.buf)
        while pos + 16 <= n:
            caplen = _u32(buf, pos + 8, little)  # (by hand: struct would box four ints and a tuple)
            end = pos + 16 + caplen
            if caplen > limit or end > n:
                break
            index += 1
            if shards == 1 or not other_shard(linktype, buf, pos + 16, end, shard, shards):
                ts = _u32(buf, pos, little) + _u32(buf, pos + 4, little) * scale
                yield new(Frame, (index, ts, linktype, buf[pos + 16:end]))
            pos = end
        c.pos = pos
        # ... then one record the careful way: across a refill, at the end, or damaged
        if not c.need(16):
            if c.pos < len(c.buf):
                _truncated(info, index, c.offset, "incomplete record header")
            break
        sec, frac, caplen, _orig = unpack(c.buf, c.pos)
        if caplen > limit:
            _truncated(info, index, c.offset, f"corrupt record header claims {caplen} bytes")
            break
        if not c.need(16 + caplen):
            _truncated(info, index, c.offset, f"record of {caplen} bytes cut short")
            break
        start = c.pos + 16
        c.pos = start + caplen
        index += 1
        if shards == 1 or not other_shard(linktype, c.buf, start, c.pos, shard, shards):
            yield new(Frame, (index, sec + frac * scale, linktype, c.buf[start:c.pos]))
    info.frames = index


def _pcapng_options(body: bytes, start: int, order: str) -> Iterator[tuple[int, bytes]]:
    pos = start
    while pos + 4 <= len(body):
        code, length = struct.unpack_from(order + "HH", body, pos)
        if code == 0:
            return
        value = body[pos + 4:pos + 4 + length]
        pos += 4 + ((length + 3) & ~3)
        yield code, value


def _tsresol(value: bytes) -> float:
    if not value:
        return 1e-6
    r = value[0]
    return 2.0 ** -(r & 0x7F) if r & 0x80 else 10.0 ** -r


def _read_pcapng(stream: BinaryIO, head: bytes, info: CaptureInfo, shard: int, shards: int) -> Iterator[Frame]:
    c = _Chunks(stream, head)
    order = "<"
    interfaces: list[tuple[int, float, int]] = []  # (linktype, seconds per tick, snaplen)
    index = 0
    while True:
        if not c.need(12):
            if c.pos < len(c.buf):
                _truncated(info, index, c.offset, "incomplete block header")
            break
        btype = struct.unpack_from(order + "I", c.buf, c.pos)[0]
        if btype == _SHB:
            bom = c.buf[c.pos + 8:c.pos + 12]
            if bom == b"\x4d\x3c\x2b\x1a":
                order = "<"
            elif bom == b"\x1a\x2b\x3c\x4d":
                order = ">"
            else:
                _truncated(info, index, c.offset, "section header with unknown byte order")
                break
            interfaces = []  # interface ids are per section
        blen = struct.unpack_from(order + "I", c.buf, c.pos + 4)[0]
        if blen < 12 or blen % 4 or blen > MAX_RECORD + 4096 + (1 << 20):
            _truncated(info, index, c.offset, f"corrupt block of type {btype:#x} claims {blen} bytes")
            break
        if not c.need(blen):
            _truncated(info, index, c.offset, f"block of {blen} bytes cut short")
            break
        p = c.pos
        c.pos += blen
        if btype == _EPB or btype == _OPB:
            if btype == _EPB:
                ifid, hi, lo, caplen = struct.unpack_from(order + "IIII", c.buf, p + 8)
            else:
                ifid, _drops, hi, lo, caplen = struct.unpack_from(order + "HHIII", c.buf, p + 8)
            data_at = p + 28
            if ifid >= len(interfaces) or data_at + caplen > p + blen:
                info.warnings.append(f"frame {index + 1}: packet block with a bad interface or length skipped")
                index += 1
                continue
            linktype, tick, _snap = interfaces[ifid]
            index += 1
            if shards > 1 and other_shard(linktype, c.buf, data_at, data_at + caplen, shard, shards):
                continue
            yield Frame(index, ((hi << 32) | lo) * tick, linktype, c.buf[data_at:data_at + caplen])
        elif btype == _SPB:
            if not interfaces:
                index += 1
                continue
            linktype, _tick, snap = interfaces[0]
            orig = struct.unpack_from(order + "I", c.buf, p + 8)[0]
            caplen = min(orig, blen - 16, snap or orig)
            index += 1
            yield Frame(index, 0.0, linktype, c.buf[p + 12:p + 12 + caplen])
        elif btype == _IDB:
            linktype, _res, snap = struct.unpack_from(order + "HHI", c.buf, p + 8)
            body = c.buf[p:p + blen - 4]
            tick = 1e-6
            for code, value in _pcapng_options(body, 16, order):
                if code == 9:
                    tick = _tsresol(value)
            interfaces.append((linktype, tick, snap))
        elif btype == _DSB:
            stype, slen = struct.unpack_from(order + "II", c.buf, p + 8)
            info.secrets.append(DecryptionSecrets(stype, bytes(c.buf[p + 16:p + 16 + min(slen, blen - 20)])))
            if info.on_secrets is not None:
                info.on_secrets(info.secrets[-1])
    info.frames = index
