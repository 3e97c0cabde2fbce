"""Builders of hostile and pathological inputs, made in code so that no large binary file is kept.

Containers (pcap, pcapng, gzip), frames (Ethernet, IPv4, TCP), TLS records and messages, and the
inputs issue 23 lists, each sized by `n` so that tests can build small ones and bench/growth.py
can double them. TLS bytes that must be real come from the fixture captures (`fixture_streams`).
"""

from __future__ import annotations

import random
import struct
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CAPTURES = ROOT / "captures"

CLIENT = b"\x0a\x00\x00\x01"
SERVER = b"\x0a\x00\x00\x02"
CPORT, SPORT = 40000, 443
ISN_C, ISN_S = 1000, 900000
SYN, FIN, RST, PSH, ACK = 0x02, 0x01, 0x04, 0x08, 0x10

Frames = list[tuple[float, bytes]]

# ---------------------------------------------------------------------------------- containers


def pcap_header(linktype: int = 1, snaplen: int = 262144, endian: str = "<") -> bytes:
    return struct.pack(endian + "IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype)


def pcap_record(data: bytes, ts: float = 0.0, caplen: int | None = None, endian: str = "<") -> bytes:
    sec = int(ts)
    usec = round((ts - sec) * 1e6)
    n = len(data) if caplen is None else caplen
    return struct.pack(endian + "IIII", sec, usec, n, max(n, len(data))) + data


def pcap(frames: Iterable[tuple[float, bytes]], linktype: int = 1, snaplen: int = 262144) -> bytes:
    return pcap_header(linktype, snaplen) + b"".join(pcap_record(d, ts) for ts, d in frames)


def pcapng_block(btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    return struct.pack("<II", btype, len(body) + 12) + body + struct.pack("<I", len(body) + 12)


def pcapng_shb() -> bytes:
    return pcapng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))


def pcapng_idb(linktype: int = 1, snaplen: int = 0) -> bytes:
    return pcapng_block(1, struct.pack("<HHI", linktype, 0, snaplen))


def pcapng_epb(data: bytes, ts: float = 0.0, ifid: int = 0) -> bytes:
    ticks = round(ts * 1e6)
    return pcapng_block(6, struct.pack("<IIIII", ifid, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data)) + data)


def pcapng(frames: Iterable[tuple[float, bytes]], linktype: int = 1) -> bytes:
    return pcapng_shb() + pcapng_idb(linktype) + b"".join(pcapng_epb(d, ts) for ts, d in frames)


def gzip_bytes(data: bytes, level: int = 6) -> bytes:
    """One gzip member (RFC 1952) of `data`."""
    comp = zlib.compressobj(level, zlib.DEFLATED, 31)
    return comp.compress(data) + comp.flush()


# ---------------------------------------------------------------------------------- frames


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ether(payload: bytes, etype: int = 0x0800) -> bytes:
    return b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + struct.pack("!H", etype) + payload


def ipv4(payload: bytes, src: bytes = CLIENT, dst: bytes = SERVER, proto: int = 6, ident: int = 1,
         frag: int = 0) -> bytes:
    """An IPv4 header (with its checksum) and payload; `frag` is the flags/fragment-offset field."""
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, frag, 64, proto, 0, src, dst)
    return head[:10] + struct.pack("!H", checksum(head)) + head[12:] + payload


def tcp(sport: int, dport: int, seq: int, ack: int, flags: int, payload: bytes = b"",
        src: bytes = CLIENT, dst: bytes = SERVER) -> bytes:
    """A TCP header (checksum over the IPv4 pseudo-header) and payload."""
    head = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags, 65535, 0, 0)
    pseudo = struct.pack("!4s4sBBH", src, dst, 0, 6, len(head) + len(payload))
    return head[:16] + struct.pack("!H", checksum(pseudo + head + payload)) + head[18:] + payload


def tcp_frame(src: bytes, dst: bytes, sport: int, dport: int, seq: int, ack: int, flags: int,
              payload: bytes = b"") -> bytes:
    return ether(ipv4(tcp(sport, dport, seq, ack, flags, payload, src, dst), src, dst))


class Flow:
    """Frames of one TCP connection between CLIENT:cport and SERVER:sport, built in send order."""

    def __init__(self, cport: int = CPORT, sport: int = SPORT, client: bytes = CLIENT, server: bytes = SERVER) -> None:
        self.cport, self.sport, self.client, self.server = cport, sport, client, server
        self.sent = [0, 0]  # stream bytes sent per side (0 client, 1 server)

    def _frame(self, side: int, flags: int, rel_seq: int, payload: bytes = b"") -> bytes:
        isn, other = (ISN_C, ISN_S) if side == 0 else (ISN_S, ISN_C)
        src, dst = (self.client, self.server) if side == 0 else (self.server, self.client)
        sp, dp = (self.cport, self.sport) if side == 0 else (self.sport, self.cport)
        ack = other + 1 + self.sent[1 - side] if flags & ACK else 0
        return tcp_frame(src, dst, sp, dp, isn + rel_seq, ack, flags, payload)

    def handshake(self) -> list[bytes]:
        return [self._frame(0, SYN, 0), self._frame(1, SYN | ACK, 0), self._frame(0, ACK, 1)]

    def syn(self) -> bytes:
        return self._frame(0, SYN, 0)

    def data(self, side: int, payload: bytes, at: int | None = None) -> bytes:
        """A segment carrying `payload` at stream offset `at` (default: next), sequence numbers
        counted from the SYN (offset 0 is ISN + 1)."""
        off = self.sent[side] if at is None else at
        if at is None:
            self.sent[side] += len(payload)
        return self._frame(side, ACK | PSH, 1 + off, payload)

    def fin(self, side: int) -> bytes:
        return self._frame(side, FIN | ACK, 1 + self.sent[side])


def timed(frames: Iterable[bytes], step: float = 1e-4) -> Frames:
    return [(1_700_000_000 + i * step, f) for i, f in enumerate(frames)]


# ---------------------------------------------------------------------------------- TLS


def record(ct: int, body: bytes, version: int = 0x0303) -> bytes:
    return struct.pack("!BHH", ct, version, len(body)) + body


def handshake(htype: int, body: bytes) -> bytes:
    return struct.pack("!B", htype) + len(body).to_bytes(3, "big") + body


def extension(etype: int, body: bytes) -> bytes:
    return struct.pack("!HH", etype, len(body)) + body


def client_hello(sni: str = "example.test", suites: Iterable[int] = (0x1301, 0xC02F), tls13: bool = True,
                 rnd: bytes = b"\x11" * 32) -> bytes:
    """A ClientHello handshake message (header included)."""
    name = sni.encode()
    exts = extension(0, struct.pack("!HBH", len(name) + 3, 0, len(name)) + name)
    exts += extension(10, struct.pack("!HH", 2, 29))
    if tls13:
        exts += extension(43, b"\x02\x03\x04") + extension(51, struct.pack("!HHH", 36, 29, 32) + b"\x22" * 32)
    suite_bytes = b"".join(struct.pack("!H", s) for s in suites)
    body = struct.pack("!H", 0x0303) + rnd + b"\x00" + struct.pack("!H", len(suite_bytes)) + suite_bytes
    body += b"\x01\x00" + struct.pack("!H", len(exts)) + exts
    return handshake(1, body)


def server_hello(suite: int = 0xC02F, tls13: bool = False, rnd: bytes = b"\x33" * 32) -> bytes:
    exts = b""
    if tls13:
        exts = extension(43, b"\x03\x04") + extension(51, struct.pack("!HH", 29, 32) + b"\x44" * 32)
    body = struct.pack("!H", 0x0303) + rnd + b"\x00" + struct.pack("!HB", suite, 0) + struct.pack("!H", len(exts)) + exts
    return handshake(2, body)


def certificate(certs: Iterable[bytes]) -> bytes:
    """A TLS 1.2 Certificate message listing `certs` (any bytes: the list is what matters)."""
    items = b"".join(len(c).to_bytes(3, "big") + c for c in certs)
    return handshake(11, len(items).to_bytes(3, "big") + items)


def records(ct: int, data: bytes, size: int = 1 << 14) -> bytes:
    """`data` cut into records of at most `size` bytes."""
    return b"".join(record(ct, data[i:i + size]) for i in range(0, len(data), size))


# ---------------------------------------------------------------------------------- real TLS bytes


def fixture_streams(name: str) -> list[tuple[bytes, bytes]]:
    """(client bytes, server bytes) of every TCP connection of captures/NAME."""
    return tcp_streams(CAPTURES / name)


def tcp_streams(path: Path) -> list[tuple[bytes, bytes]]:
    """(client bytes, server bytes) of every TCP connection, in order of first packet, reassembled
    by our own reader and flow table; a byte missing from the capture fails the test."""
    from analyzer.net.decode import PacketDecoder, Segment
    from analyzer.net.flows import FlowTable
    from analyzer.net.tcp import Gap, StreamData
    from analyzer.sources.pcap import read_frames

    decoder, table = PacketDecoder(), FlowTable()
    data: dict[int, tuple[bytearray, bytearray]] = {}

    def take(conn_id: int, events: list) -> None:
        for ev in events:
            assert not isinstance(ev, Gap), f"{path.name}: bytes missing from the capture"
            if isinstance(ev, StreamData):
                buf = data.setdefault(conn_id, (bytearray(), bytearray()))[ev.direction]
                assert ev.offset == len(buf)
                buf += ev.data

    for frame in read_frames(str(path)):
        seg = decoder.decode(frame.linktype, frame.data)
        if not isinstance(seg, Segment):
            continue
        hit = table.lookup(seg, frame.number, frame.ts)
        if hit is None:
            continue
        conn, direction = hit
        events: list = []
        conn.segment(direction, seg, frame.number, frame.ts, events)
        take(conn.id, events)
    for conn in table.drain():
        events = []
        conn.finish("capture end", events)
        take(conn.id, events)
    return [(bytes(c), bytes(s)) for _, (c, s) in sorted(data.items())]


def replay(streams: tuple[bytes, bytes], mss: int = 1400, flow: Flow | None = None) -> list[bytes]:
    """A connection carrying the given client and server bytes: the client's first, then the
    server's, in segments of `mss`, then both FINs."""
    flow = flow or Flow()
    out = flow.handshake()
    for side, data in enumerate(streams):
        out += [flow.data(side, data[i:i + mss]) for i in range(0, len(data), mss)]
    return out + [flow.fin(0), flow.fin(1)]


def split_records(stream: bytes) -> list[bytes]:
    """A TLS stream cut into its records (header included); a cut-off tail is the last item."""
    out, pos = [], 0
    while pos < len(stream):
        end = pos + 5 + int.from_bytes(stream[pos + 3:pos + 5], "big")
        out.append(stream[pos:end])
        pos = end
    return out


def flights(streams: tuple[bytes, bytes], plan: Iterable[tuple[int, int]], mss: int = 1400) -> list[bytes]:
    """A connection sending the client's and server's records in the order a handshake does: `plan`
    is (side, how many records) in send order; records the plan leaves out follow at the end."""
    flow = Flow()
    queues = [split_records(s) for s in streams]
    order = [*plan, (0, len(queues[0])), (1, len(queues[1]))]
    out = flow.handshake()
    for side, n in order:
        data = b"".join(queues[side][:n])
        del queues[side][:n]
        out += [flow.data(side, data[i:i + mss]) for i in range(0, len(data), mss)]
    return out + [flow.fin(0), flow.fin(1)]


# ---------------------------------------------------------------------------------- issue 23 shapes


def reversed_segments(n: int, shuffle: int | None = None) -> Frames:
    """#23.6: one connection whose client sends n one-byte segments, the last first (the first,
    offset 0, arrives last), or in a random order when `shuffle` is a seed."""
    flow = Flow()
    hello = record(22, client_hello())
    payload = (hello * (n // len(hello) + 1))[:n]
    order = list(range(n - 1, -1, -1))
    if shuffle is not None:
        random.Random(shuffle).shuffle(order)
    frames = flow.handshake() + [flow.data(0, payload[i:i + 1], at=i) for i in order]
    flow.sent[0] = n
    return timed(frames + [flow.fin(0), flow.fin(1)])


def fragments_with_hole(n: int, datagrams: int = 1) -> Frames:
    """#23.7: IPv4 datagrams each cut into n 8-byte fragments, the last sent first and the first
    one missing, so that every fragment finds the total length known and a hole still open."""
    out = []
    for d in range(datagrams):
        payload = bytes(8 * n)
        for i in [n - 1, *range(1, n - 1)]:
            more = 0x2000 if i < n - 1 else 0
            piece = payload[8 * i:8 * i + 8]
            out.append(ether(ipv4(piece, proto=6, ident=d & 0xFFFF, frag=more | i)))
    return timed(out)


def certificate_flood(n: int, connections: int = 1) -> Frames:
    """#23.8: TLS 1.2 handshakes whose Certificate message lists n four-byte certificates."""
    server = records(22, server_hello() + certificate([b"\x30\x02\x05\x00"] * n))
    frames = []
    for i in range(connections):
        frames += replay((record(22, client_hello(tls13=False)), server), flow=Flow(cport=CPORT + i))
    return timed(frames)


def zero_flood(nbytes: int) -> Frames:
    """#23.9: after a real ClientHello, handshake records full of zero bytes: every four zero bytes
    decode as a HelloRequest."""
    return timed(replay((record(22, client_hello()) + records(22, bytes(nbytes)), b"")))


def ccs_flood(n: int) -> Frames:
    """#23.9: after a real ClientHello, n ChangeCipherSpec records."""
    return timed(replay((record(22, client_hello()) + record(20, b"\x01") * n, b"")))


def syn_flood(n: int, hello: bool = False) -> Iterator[tuple[float, bytes]]:
    """#23.11: n connections from distinct client ports and addresses, each a SYN (and a
    ClientHello when `hello`), never closed."""
    ch = record(22, client_hello())
    ts = 1_700_000_000.0
    for i in range(n):
        flow = Flow(cport=1024 + i % 60000, client=bytes((10, 1, (i // 60000) & 0xFF, 1 + (i // 60000 >> 8))))
        ts += 1e-5
        yield ts, flow.syn()
        if hello:
            yield ts, flow.data(0, ch)
