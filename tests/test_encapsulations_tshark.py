"""PPPoE, MPLS (IP and Ethernet pseudowire), 802.1ah, ERSPAN I/II/III and NFLOG carrying a real
TLS 1.2 handshake (captures/tls12-ecdhe.pcap): frames built by scapy (NFLOG, which scapy lacks,
by hand from libpcap's LINKTYPE_NFLOG description), then our handshake messages must be the
original's and tshark's, frame by frame. Frames we cannot decode are counted by cause, in the
capture JSON and the stderr summary, so an empty result is never silent."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from scapy.all import GRE, IP, Ether, Raw
from scapy.contrib.erspan import ERSPAN_II, ERSPAN_III
from scapy.contrib.mpls import MPLS
from scapy.layers.l2 import Dot1AD, Dot1AH
from scapy.layers.ppp import PPP, PPPoE

from analyzer.api import analyze
from analyzer.sources.pcap import read_frames

from conftest import CAPTURES, ROOT, facts
from hostile_inputs import pcap

SOURCE = CAPTURES / "tls12-ecdhe.pcap"
MAC = {"dst": "02:00:00:00:00:02", "src": "02:00:00:00:00:01"}
INNER_MAC = bytes.fromhex("001b21000002" "001b54000001")  # Intel, Cisco: an Ethernet pseudowire's frame


def _pw(eth: bytes, control_word: bool) -> bytes:
    """The fixture's frame (its MACs are zeros, from loopback) with vendor MACs, as a pseudowire
    carries it (RFC 4448): Wireshark tells a control word from the vendors of the MACs."""
    return (b"\0\0\0\1" if control_word else b"") + INNER_MAC + eth[12:]


def _nflog(ip: bytes) -> bytes:
    """LINKTYPE_NFLOG: family AF_INET, version 0, resource id; TLVs in the host's (little-endian)
    order: NFULA_PACKET_HDR (hw protocol, hook), NFULA_PREFIX, then NFULA_PAYLOAD, each padded to 4."""
    def tlv(t: int, value: bytes) -> bytes:
        return struct.pack("<HH", 4 + len(value), t) + value + b"\0" * (-len(value) % 4)
    return struct.pack("!BBH", 2, 0, 7) + tlv(1, struct.pack("!HBB", 0x0800, 3, 0)) + tlv(10, b"lab\0") + tlv(9, ip)


def _outer_ip(inner: bytes, proto: int = 47) -> bytes:
    return bytes(Ether(**MAC) / IP(src="192.0.2.1", dst="192.0.2.2", proto=proto) / Raw(inner))


WRAPS: dict[str, tuple[int, Callable[[bytes], bytes]]] = {
    "pppoe": (1, lambda e: bytes(Ether(**MAC) / PPPoE(sessionid=0x1234) / PPP(proto=0x0021) / Raw(e[14:]))),
    "mpls-ip": (1, lambda e: bytes(Ether(**MAC, type=0x8847) / MPLS(label=16, s=0) / MPLS(label=17, s=1)
                                   / Raw(e[14:]))),
    "mpls-ethernet-pw": (1, lambda e: bytes(Ether(**MAC, type=0x8847) / MPLS(label=18, s=1) / Raw(_pw(e, True)))),
    "mpls-ethernet-pw-no-cw": (1, lambda e: bytes(Ether(**MAC, type=0x8847) / MPLS(label=18, s=1)
                                                  / Raw(_pw(e, False)))),
    "pppoe-mpls": (1, lambda e: bytes(Ether(**MAC) / PPPoE(sessionid=1) / PPP(proto=0x0281) / MPLS(label=19, s=1)
                                      / Raw(e[14:]))),
    "802.1ah": (1, lambda e: bytes(Ether(**MAC, type=0x88A8) / Dot1AD(vlan=10, type=0x88E7) / Dot1AH(isid=1000)
                                   / Raw(e))),
    "erspan-1": (1, lambda e: _outer_ip(bytes(GRE(proto=0x88BE) / Raw(e)))),
    "erspan-2": (1, lambda e: _outer_ip(bytes(GRE(proto=0x88BE, seqnum_present=1) / ERSPAN_II(session_id=5)
                                              / Raw(e)))),
    "erspan-3": (1, lambda e: _outer_ip(bytes(GRE(proto=0x22EB, seqnum_present=1) / ERSPAN_III(session_id=5, o=0)
                                              / Raw(e)))),
    "nflog": (239, lambda e: _nflog(e[14:])),
}


def _messages(path: Path) -> list[tuple[int, int]]:
    """(frame, handshake type) of every clear handshake message we decode."""
    return [(e.msg.frame, e.msg.type) for c in facts(str(path)) for e in c.entries
            if hasattr(e, "msg") and e.msg.type is not None and not e.msg.encrypted]


def _wrapped(tmp_path: Path, name: str) -> Path:
    linktype, wrap = WRAPS[name]
    path = tmp_path / f"{name}.pcap"
    path.write_bytes(pcap([(f.ts, wrap(f.data)) for f in read_frames(str(SOURCE))], linktype=linktype))
    return path


@pytest.mark.parametrize("name", sorted(WRAPS))
def test_encapsulated_handshake_decodes_as_the_original(tmp_path: Path, name: str) -> None:
    path = _wrapped(tmp_path, name)
    assert _messages(path) == _messages(SOURCE) != []
    assert analyze(str(path)).info.undecoded == {}


@pytest.mark.parametrize("name", sorted(WRAPS))
def test_encapsulated_handshake_agrees_with_tshark(tmp_path: Path, name: str, tshark: str) -> None:
    path = _wrapped(tmp_path, name)
    port = facts(str(SOURCE))[0].server.port
    out = subprocess.run([tshark, "-n", "-r", str(path), "-d", f"tcp.port=={port},tls", "-Y", "tls.handshake.type",
                          "-T", "fields", "-e", "frame.number", "-e", "tls.handshake.type"],
                         capture_output=True, text=True, check=True).stdout
    theirs = [(int(frame), int(t)) for line in out.splitlines() for frame, types in [line.split("\t")]
              for t in types.split(",")]
    assert _messages(path) == theirs


def test_frames_we_cannot_decode_are_counted_by_cause(tmp_path: Path) -> None:
    """A capture of MACsec frames (encrypted: nothing to read), cut IPv4 headers and a link type we do not
    know, beside ARP and PPP LCP, which carry no TCP and are not counted."""
    frames = [bytes(Ether(**MAC, type=0x88E5) / Raw(b"\0" * 40))] * 3          # MACsec
    frames += [bytes(Ether(**MAC, type=0x0800)) + b"\x45\x00"] * 2             # IPv4 cut after 2 bytes
    frames += [bytes(Ether(**MAC, type=0x0806) / Raw(b"\0" * 28))]             # ARP
    frames += [bytes(Ether(**MAC) / PPPoE(sessionid=1) / PPP(proto=0xC021) / Raw(b"\x01\x01\x00\x04"))]  # LCP
    path = tmp_path / "odd.pcap"
    path.write_bytes(pcap([(float(i), f) for i, f in enumerate(frames)]))
    other = tmp_path / "other-link.pcap"
    other.write_bytes(pcap([(0.0, b"\0" * 40)], linktype=147))
    assert analyze(str(path)).info.undecoded == {"unsupported ethertype 0x88e5": 3, "truncated IPv4 header": 2}
    assert analyze(str(other)).info.undecoded == {"unsupported link type 147": 1}

    run = subprocess.run([sys.executable, str(ROOT / "cli.py"), "analyze", str(path), str(other), "--format", "json"],
                         capture_output=True, text=True)
    docs = json.loads(run.stdout)
    assert [d["capture"]["undecoded"] for d in docs] == [
        {"truncated IPv4 header": 2, "unsupported ethertype 0x88e5": 3}, {"unsupported link type 147": 1}]
    summary = run.stderr.strip().splitlines()[-1]
    assert summary.startswith("0 connections, 8 frames (6 not decoded: 3 unsupported ethertype 0x88e5, "
                              "2 truncated IPv4 header, 1 unsupported link type 147), ")


def test_the_summary_says_nothing_of_decoding_when_every_frame_decoded() -> None:
    run = subprocess.run([sys.executable, str(ROOT / "cli.py"), "analyze", str(SOURCE)], capture_output=True, text=True)
    assert "not decoded" not in run.stderr and run.returncode == 0
