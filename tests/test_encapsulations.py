"""The same real TLS 1.2 handshake (captures/tls12-ecdhe.pcap) re-encapsulated every way issue 3
lists (VLAN/QinQ, Linux SLL/SLL2, raw IP, BSD loopback, IPv4 fragments; big-endian, nanosecond
pcap; pcapng with several interfaces and SPB/OPB blocks) must decode to the same handshake."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from analyzer.sources.pcap import read_frames

from conftest import CAPTURES, facts

SOURCE = CAPTURES / "tls12-ecdhe.pcap"


def _frames() -> list[tuple[float, bytes]]:
    return [(f.ts, f.data) for f in read_frames(str(SOURCE))]


def _summary(path: Path) -> list[tuple]:
    return [(c.sni, c.version, c.cipher_suite, c.history, [e.msg.frame for e in c.entries if hasattr(e, "msg")])
            for c in facts(str(path))]


def pcap(path: Path, linktype: int, frames: list[tuple[float, bytes]], endian: str = "<", nano: bool = False) -> Path:
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, 262144, linktype)]
    for ts, data in frames:
        sec, frac = int(ts), round((ts - int(ts)) * (1e9 if nano else 1e6))
        out.append(struct.pack(endian + "IIII", sec, frac, len(data), len(data)) + data)
    path.write_bytes(b"".join(out))
    return path


IP = lambda eth: eth[14:]  # noqa: E731 - the fixture is Ethernet: strip its header


@pytest.mark.parametrize("name, linktype, wrap", [
    ("vlan", 1, lambda e: e[:12] + b"\x81\x00\x00\x2a" + e[12:]),
    ("qinq", 1, lambda e: e[:12] + b"\x88\xa8\x00\x0a\x81\x00\x00\x2a" + e[12:]),
    ("sll", 113, lambda e: struct.pack("!HHH8sH", 0, 772, 6, b"\0" * 8, 0x0800) + IP(e)),
    ("sll2", 276, lambda e: struct.pack("!HHIHBB8s", 0x0800, 0, 1, 772, 0, 6, b"\0" * 8) + IP(e)),
    ("raw", 101, IP),
    ("null", 0, lambda e: struct.pack("<I", 2) + IP(e)),
    ("loop", 108, lambda e: struct.pack(">I", 2) + IP(e)),
])
def test_link_layers(tmp_path: Path, name: str, linktype: int, wrap) -> None:  # noqa: ANN001
    frames = [(ts, wrap(data)) for ts, data in _frames()]
    assert _summary(pcap(tmp_path / f"{name}.pcap", linktype, frames)) == _summary(SOURCE)


@pytest.mark.parametrize("endian, nano", [(">", False), ("<", True), (">", True)])
def test_pcap_byte_orders_and_resolutions(tmp_path: Path, endian: str, nano: bool) -> None:
    path = pcap(tmp_path / "x.pcap", 1, _frames(), endian, nano)
    assert _summary(path) == _summary(SOURCE)
    assert [round(f.ts, 6) for f in read_frames(str(path))] == [round(ts, 6) for ts, _ in _frames()]


def _fragment(eth: bytes, size: int = 64) -> list[bytes]:
    ip = eth[14:]
    ihl = (ip[0] & 0x0F) * 4
    total = struct.unpack("!H", ip[2:4])[0]
    payload = ip[ihl:total]
    if len(payload) <= size:
        return [eth]
    out = []
    for off in range(0, len(payload), size):
        piece = payload[off:off + size]
        more = 0x2000 if off + size < len(payload) else 0
        hdr = bytearray(ip[:ihl])
        struct.pack_into("!H", hdr, 2, ihl + len(piece))
        struct.pack_into("!H", hdr, 6, more | (off // 8))
        out.append(eth[:14] + bytes(hdr) + piece)
    return out


def test_ipv4_fragments_in_any_order(tmp_path: Path) -> None:
    frames = []
    for ts, data in _frames():
        pieces = _fragment(data)
        frames += [(ts, p) for p in reversed(pieces)]  # last fragment first
    summary = _summary(pcap(tmp_path / "frag.pcap", 1, frames))
    original = _summary(SOURCE)
    assert [s[:4] for s in summary] == [o[:4] for o in original]  # frames renumber: more of them


def test_pcapng_with_two_interfaces_spb_and_opb(tmp_path: Path) -> None:
    def block(btype: int, body: bytes) -> bytes:
        body += b"\0" * (-len(body) % 4)
        return struct.pack("<II", btype, len(body) + 12) + body + struct.pack("<I", len(body) + 12)

    out = [block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)),
           block(1, struct.pack("<HHI", 101, 0, 0) + struct.pack("<HHB3xHH", 9, 1, 0x86, 0, 0)),  # raw, 2^-6 s
           block(1, struct.pack("<HHI", 1, 0, 0) + struct.pack("<HHB3xHH", 9, 1, 9, 0, 0))]  # Ethernet, ns
    for i, (ts, data) in enumerate(_frames()):
        if i == 0:  # a simple packet block: interface 0 (raw IP), no timestamp
            out.append(block(3, struct.pack("<I", len(IP(data))) + IP(data)))
        elif i % 2:
            ticks = int(ts * 1e9)
            out.append(block(6, struct.pack("<IIIII", 1, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data)) + data))
        else:  # the obsolete packet block, interface 1
            ticks = int(ts * 1e9)
            out.append(block(2, struct.pack("<HHIIII", 1, 0, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data)) + data))
    path = tmp_path / "multi.pcapng"
    path.write_bytes(b"".join(out))
    frames = list(read_frames(str(path)))
    assert [f.linktype for f in frames[:3]] == [101, 1, 1] and frames[0].ts == 0.0
    assert abs(frames[1].ts - _frames()[1][0]) < 1e-6
    assert _summary(path) == _summary(SOURCE)
