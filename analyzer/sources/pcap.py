"""Read pcap and pcapng captures (optionally gzip-compressed, or stdin) into `Frame`s.

A small reader of our own: it parses record headers with `struct` over large chunks, so reading
costs a fraction of a microsecond per frame; building scapy packets per frame is ~100x slower.
Memory is bounded by the chunk size and the largest record a capture may hold
(`Limits.max_frame_bytes`, `max_block_bytes`), whatever the capture's length or its headers claim.
A capture cut short or corrupt anywhere, plain or gzip, is read up to the damage: a warning
says after which frame and at which byte, and nothing read before it is lost.
"""

from __future__ import annotations

import io
import os
import struct
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Final, NamedTuple

from analyzer.errors import InputError
from analyzer.limits import Limits
from analyzer.sources.shard import other_shard

CHUNK: Final = 1 << 20
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
# the shortest block of each type we read fields from (framing included), and its name
_BLOCKS: Final = {_SHB: (28, "section header"), _IDB: (20, "interface description"), _OPB: (32, "packet"),
                  _SPB: (16, "simple packet"), _EPB: (32, "enhanced packet"), _DSB: (20, "decryption secrets")}


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
    undecoded: dict[str, int] = field(default_factory=dict)  # frames without TCP/UDP we could read, by cause
    skipped_blocks: int = 0  # pcapng packet blocks skipped (bad interface, length or size)


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
        return GzipStream(stream), True  # type: ignore[return-value]
    return stream, False


class GzipStream:
    """gzip (RFC 1952, any number of members, zero padding after them) inflated as it is read,
    never more than asked for beyond one chunk. Where the data ends early or is corrupt, everything
    inflated before that point is still returned, then the end of data, and `problem` says what
    happened and where (gzip.GzipFile raises instead, losing what its last read had inflated)."""

    IN: Final = 64 << 10  # compressed bytes fed at a time: what a corruption can cost to salvage

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.z = zlib.decompressobj(31)
        self.out = bytearray()  # inflated, not yet read
        self.read_total = 0  # compressed bytes read from `raw`
        self.tail = b""  # bytes read past the end of a member, not yet fed
        self.between = False  # a member ended and the next has not begun
        self.problem: str | None = None
        self.cut = False  # the data ended before its end: what follows the problem is lost
        self.done = False

    def read(self, n: int = -1) -> bytes:
        want = n if n >= 0 else 1 << 62
        while len(self.out) < want and not self.done:
            self._inflate(max(want - len(self.out), CHUNK))
        data = bytes(self.out[:want])
        del self.out[:want]
        return data

    def close(self) -> None:
        if self.raw is not sys.stdin.buffer:
            self.raw.close()

    def _raw(self) -> bytes:
        try:
            data = self.raw.read(self.IN)
        except OSError as exc:
            self._stop(f"the gzip data cannot be read past byte {self.read_total} ({exc.strerror})")
            return b""
        self.read_total += len(data)
        return data

    def _inflate(self, room: int) -> None:
        z = self.z
        data = z.unconsumed_tail or self.tail
        self.tail = b""
        if not data:
            data = self._raw()
            if not data:
                if self.between:
                    self.done = True
                elif not self.done:
                    self.out += z.flush()
                    self._stop(f"the gzip data ends early, after {self.read_total} compressed bytes")
                return
        if self.between:  # zero padding, another member, or something else
            data = data.lstrip(b"\0")
            if len(data) < 2:
                data += self._raw()
                if not data.strip(b"\0"):
                    self.tail = data.lstrip(b"\0")
                    return
            if data[:2] != GZIP_MAGIC:
                self._stop(f"bytes after the gzip data, from byte {self.read_total - len(data)}, ignored", cut=False)
                return
            self.z = z = zlib.decompressobj(31)
            self.between = False
        start = self.read_total - len(data)  # file offset of data[0]
        before = z.copy()
        try:
            self.out += z.decompress(data, room)
        except zlib.error as exc:
            good = self._salvage(before, data, room)
            if "check" in str(exc):  # "incorrect data check" / "incorrect length check": the trailer
                self._stop("the gzip checksum does not match: some data read is damaged", cut=False)
            else:
                self._stop(f"the gzip data is corrupt at about byte {start + good} ({exc})")
            return
        if z.eof:
            self.tail = z.unused_data
            self.between = True

    def _salvage(self, before: Any, data: bytes, room: int) -> int:
        """What inflates from the longest prefix of `data` that does not fail; its length."""
        lo, hi, best = 0, len(data), b""
        while lo < hi:
            mid = (lo + hi + 1) // 2
            try:
                out = before.copy().decompress(data[:mid], room)
            except zlib.error:
                hi = mid - 1
            else:
                lo, best = mid, out
        self.out += best
        return lo

    def _stop(self, problem: str, cut: bool = True) -> None:
        self.done = True
        self.problem = problem
        self.cut = cut


def read_frames(path: str, info: CaptureInfo | None = None,
                on_secrets: Callable[[DecryptionSecrets], None] | None = None,
                shard: tuple[int, int] | None = None, limits: Limits | None = None) -> Iterator[Frame]:
    """Yield every frame of a pcap/pcapng capture; problems go to `info.warnings`.

    Decryption Secrets Blocks are kept in `info.secrets` and handed to `on_secrets` when read,
    before the packets that follow them. With `shard=(k, n)` (a parallel worker's share), plain
    TCP frames of other shards are left out unread (see `other_shard`); numbering is unchanged.
    """
    k, n = shard or (0, 1)
    info = info if info is not None else CaptureInfo(path)
    info.on_secrets = on_secrets
    limits = limits or Limits()
    stream, info.compressed = open_capture(path)
    try:
        try:
            head = _read_exact(stream, 4)
        except OSError as exc:
            raise InputError(f"{path}: cannot read ({exc.strerror})", "check the file") from None
        if len(head) < 4:
            problem = getattr(stream, "problem", None)
            if problem:
                raise InputError(f"{path}: {problem}", "nothing could be read from it")
            raise InputError(f"{path} is empty", "give a capture written by tcpdump, dumpcap or Wireshark")
        if head in PCAP_MAGICS:
            info.format = "pcap"
            yield from _read_pcap(stream, head, info, k, n, limits)
        elif head == PCAPNG_SHB:
            info.format = "pcapng"
            yield from _read_pcapng(stream, head, info, k, n, limits)
        else:
            raise InputError(f"{path} is not a pcap or pcapng file",
                             "write captures with tcpdump -w or dumpcap; text and other formats are not read")
    finally:
        info.on_secrets = None  # a callback has no business outliving the read (or being pickled)
        if stream is not sys.stdin.buffer:
            stream.close()


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    return stream.read(n) or b""


def _truncated(info: CaptureInfo, c: _Chunks, frames: int, what: str) -> None:
    """The read stops here: one warning with the frame, the byte and why (the gzip layer's reason
    too, when the compressed data ended or broke first)."""
    problem = getattr(c.stream, "problem", None) or c.problem
    if problem:
        what += f" ({problem})"
    info.truncated = True
    info.warnings.append(f"capture truncated after frame {frames} at byte {c.offset}: {what}; "
                         "everything before it was analysed")


def _ended(info: CaptureInfo, c: _Chunks, frames: int, what: str) -> None:
    """The data ended: cut inside a record or block (`what`), or cleanly, when only the gzip layer
    may have something to say (data cut at a record boundary, or bytes after the gzip data)."""
    if c.pos < len(c.buf):
        _truncated(info, c, frames, what)
        return
    problem = getattr(c.stream, "problem", None) or c.problem
    if not problem:
        return
    if getattr(c.stream, "cut", True) or c.problem:
        info.truncated = True
        info.warnings.append(f"capture truncated after frame {frames} at byte {c.offset}: {problem}; "
                             "everything before it was analysed")
    else:
        info.warnings.append(f"after frame {frames}: {problem}")


class _Chunks:
    """A sliding window over a stream: `need(n)` guarantees n bytes from `pos`, else False."""

    __slots__ = ("stream", "buf", "pos", "base", "eof", "problem")

    def __init__(self, stream: BinaryIO, initial: bytes = b"") -> None:
        self.stream = stream
        self.buf = initial
        self.pos = 0
        self.base = 0  # file offset of buf[0]
        self.eof = False
        self.problem: str | None = None  # why the data ended early, if the stream said nothing

    def need(self, n: int) -> bool:
        if self.pos + n <= len(self.buf):
            return True
        if self.eof:
            return False
        rest = self.buf[self.pos:]
        self.base += self.pos
        self.pos = 0
        self.buf = rest + self._read(max(CHUNK, n - len(rest)))
        while len(self.buf) < n and not self.eof:
            self.buf += self._read(n - len(self.buf))
        return len(self.buf) >= n

    def _read(self, n: int) -> bytes:
        # read1: one read of the file at most, so that an error loses nothing read before it
        read = self.stream.read1 if isinstance(self.stream, io.BufferedReader) else self.stream.read
        try:
            more = read(n)
        except (OSError, EOFError) as exc:  # a pipe or device failing: the data ends here, said so
            self.problem = f"reading failed: {exc}"
            more = b""
        if not more:
            self.eof = True
        return more

    @property
    def offset(self) -> int:
        return self.base + self.pos


def _u32(buf: bytes, at: int, little: bool) -> int:
    if little:
        return buf[at] | buf[at + 1] << 8 | buf[at + 2] << 16 | buf[at + 3] << 24
    return buf[at] << 24 | buf[at + 1] << 16 | buf[at + 2] << 8 | buf[at + 3]


def _read_pcap(stream: BinaryIO, magic: bytes, info: CaptureInfo, shard: int, shards: int,
               limits: Limits) -> Iterator[Frame]:
    order, scale_ = PCAP_MAGICS[magic]
    scale: float = scale_
    little = order == "<"
    c = _Chunks(stream, magic)
    if not c.need(24):
        problem = getattr(stream, "problem", None)
        raise InputError(f"{info.path}: pcap header is cut short" + (f" ({problem})" if problem else ""),
                         "the file is truncated")
    _vmaj, _vmin, _zone, _sig, _snaplen, network = struct.unpack_from(order + "HHiIII", c.buf, 4)
    c.pos = 24
    linktype = network & 0x0FFFFFFF
    limit: int = limits.max_frame_bytes  # whatever the header's snaplen says (it may say 4 GiB)
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
            _ended(info, c, index, "incomplete record header")
            break
        sec, frac, caplen, _orig = unpack(c.buf, c.pos)
        if caplen > limit:
            _truncated(info, c, index, f"a record header claims {caplen} bytes, over the {limit}-byte cap "
                                       "(max_frame_bytes): corrupt, or a frame too large to read")
            break
        if not c.need(16 + caplen):
            _truncated(info, c, index, f"record of {caplen} bytes cut short")
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


def _skip_block(info: CaptureInfo, where: str, what: str, limits: Limits) -> None:
    """A whole block we cannot use is passed over (a packet block keeps its frame number); the
    first ones are named, the rest only counted."""
    info.skipped_blocks += 1
    if info.skipped_blocks <= limits.max_capture_warnings:
        info.warnings.append(f"{where}: {what}; skipped")
    elif info.skipped_blocks == limits.max_capture_warnings + 1:
        info.warnings.append(f"more blocks skipped from {where} on: warnings about them stop at "
                             f"{limits.max_capture_warnings} (max_capture_warnings)")


def _read_pcapng(stream: BinaryIO, head: bytes, info: CaptureInfo, shard: int, shards: int,
                 limits: Limits) -> Iterator[Frame]:
    c = _Chunks(stream, head)
    order = "<"
    interfaces: list[tuple[int, float, int]] = []  # (linktype, seconds per tick, snaplen)
    index = 0
    while True:
        if not c.need(12):
            _ended(info, c, index, "incomplete block header")
            break
        btype = struct.unpack_from(order + "I", c.buf, c.pos)[0]
        if btype == _SHB:
            bom = c.buf[c.pos + 8:c.pos + 12]
            if bom == b"\x4d\x3c\x2b\x1a":
                order = "<"
            elif bom == b"\x1a\x2b\x3c\x4d":
                order = ">"
            else:
                _truncated(info, c, index, "section header with unknown byte order")
                break
            interfaces = []  # interface ids are per section
        blen = struct.unpack_from(order + "I", c.buf, c.pos + 4)[0]
        if blen < 12 or blen % 4 or blen > limits.max_block_bytes:
            over = f", over the {limits.max_block_bytes}-byte cap (max_block_bytes)" if blen > limits.max_block_bytes else ""
            _truncated(info, c, index, f"corrupt block of type {btype:#x} claims {blen} bytes{over}")
            break
        if not c.need(blen):
            _truncated(info, c, index, f"block of {blen} bytes cut short")
            break
        p = c.pos
        c.pos += blen
        packet = btype == _EPB or btype == _OPB or btype == _SPB
        shortest, name = _BLOCKS.get(btype, (12, ""))
        if blen < shortest:
            if btype == _SHB:
                c.pos = p
                _truncated(info, c, index, f"a section header block of {blen} bytes, too short")
                break
            if packet:
                index += 1
            _skip_block(info, f"{'frame' if packet else 'after frame'} {index} at byte {c.base + p}",
                        f"{name} block of {blen} bytes is too short (at least {shortest})", limits)
            continue
        if btype == _EPB or btype == _OPB:
            if btype == _EPB:
                ifid, hi, lo, caplen = struct.unpack_from(order + "IIII", c.buf, p + 8)
            else:
                ifid, _drops, hi, lo, caplen = struct.unpack_from(order + "HHIII", c.buf, p + 8)
            data_at = p + 28
            index += 1
            if ifid >= len(interfaces) or data_at + caplen > p + blen:
                _skip_block(info, f"frame {index} at byte {c.base + p}", "packet block with a bad interface or length",
                            limits)
                continue
            if caplen > limits.max_frame_bytes:
                _skip_block(info, f"frame {index} at byte {c.base + p}", f"a packet of {caplen} bytes, over the {limits.max_frame_bytes}-byte "
                                            "cap (max_frame_bytes)", limits)
                continue
            linktype, tick, _snap = interfaces[ifid]
            if shards > 1 and other_shard(linktype, c.buf, data_at, data_at + caplen, shard, shards):
                continue
            yield Frame(index, ((hi << 32) | lo) * tick, linktype, c.buf[data_at:data_at + caplen])
        elif btype == _SPB:
            index += 1
            if not interfaces:
                continue
            linktype, _tick, snap = interfaces[0]
            orig = struct.unpack_from(order + "I", c.buf, p + 8)[0]
            caplen = min(orig, blen - 16, snap or orig, limits.max_frame_bytes)
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
