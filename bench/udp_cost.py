#!/usr/bin/env python3
"""What UDP costs the pipeline: non-TLS datagrams (DNS) against TCP of the same size, and a
QUIC-heavy capture against tshark.

    python3 bench/udp_cost.py [--packets 100000] [--runs 3] [--cmd "python3 cli.py"]

Builds in bench/out/ (once; delete them to rebuild):
- dns.pcap: --packets DNS queries and answers over UDP port 53 between 1,000 clients and 4
  resolvers (what a busy capture is full of and no TLS rides on);
- tcp.pcap: about --packets packets of TLS over TCP (make_big_capture.py from the fixtures);
- quic.pcap: about --packets packets of QUIC handshakes (make_quic_capture.py from the fixtures).
Each is analysed (`analyze --format json`) --runs times in turns; tshark reads quic.pcap's
handshake fields for the ratio. Prints seconds (best of the runs) and microseconds per packet.
A benchmark, not a test: the exit status is 0.
"""

from __future__ import annotations

import argparse
import os
import random
import shlex
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, "out")


def _dns_frame(rng: random.Random, client: int, answer: bool, qid: int, sport: int) -> bytes:
    """Ethernet/IPv4/UDP/DNS: a query for one name, or its answer with one A record."""
    name = b"".join(bytes([len(p)]) + p for p in (b"host%d" % rng.randrange(10_000), b"example", b"net")) + b"\0"
    dns = struct.pack("!HHHHHH", qid, 0x8180 if answer else 0x0100, 1, 1 if answer else 0, 0, 0) + name + b"\0\1\0\1"
    if answer:
        dns += b"\xc0\x0c\0\1\0\1\0\0\x0e\x10\0\4" + bytes([93, 184, 216, rng.randrange(256)])
    cli, srv = bytes([10, 1, client >> 8, client & 0xFF]), bytes([10, 0, 0, 53 + client % 4])
    src, dst, sp, dp = (srv, cli, 53, sport) if answer else (cli, srv, sport, 53)
    udp = struct.pack("!HHHH", sp, dp, 8 + len(dns), 0) + dns
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, src, dst)
    return b"\x02\0\0\0\0\1\x02\0\0\0\0\2\x08\x00" + ip + udp


def make_dns(path: str, packets: int) -> None:
    rng = random.Random(53)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        t = 1_700_000_000.0
        for i in range(packets):
            client = rng.randrange(1000)
            frame = _dns_frame(rng, client, i % 2 == 1, i // 2 & 0xFFFF, 1024 + (i // 2) % 60000)
            t += 0.0001
            fh.write(struct.pack("<IIII", int(t), int(t % 1 * 1e6), len(frame), len(frame)) + frame)


def _build(path: str, cmd: list[str]) -> None:
    if not os.path.exists(path):
        subprocess.run(cmd, check=True, capture_output=True)


def _time(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def _frames(path: str) -> int:
    out = subprocess.run(["capinfos", "-c", "-M", path], capture_output=True, text=True).stdout
    return int(out.split(":")[-1].strip())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--packets", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cmd", default=f"{sys.executable} {os.path.join(ROOT, 'cli.py')}")
    a = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    dns, tcp, quic = (os.path.join(OUT, n) for n in ("dns.pcap", "tcp.pcap", "quic.pcap"))
    if not os.path.exists(dns):
        make_dns(dns, a.packets)
    _build(tcp, [sys.executable, os.path.join(HERE, "make_big_capture.py"), os.path.join(ROOT, "captures", "tls13.pcap"),
                 os.path.join(ROOT, "captures", "tls12-ecdhe.pcap"), "-o", tcp, "--packets", str(a.packets), "--quiet"])
    _build(quic, [sys.executable, os.path.join(HERE, "make_quic_capture.py"), "-o", quic, "--packets", str(a.packets)])
    ours = shlex.split(a.cmd)
    jobs = {
        "ours dns.pcap": ours + ["analyze", dns, "--format", "json"],
        "ours tcp.pcap": ours + ["analyze", tcp, "--format", "json"],
        "ours quic.pcap": ours + ["analyze", quic, "--format", "json"],
        "tshark quic.pcap": ["tshark", "-n", "-r", quic, "-Y", "tls.handshake.type", "-T", "fields",
                             "-e", "frame.number", "-e", "tls.handshake.type"],
    }
    best = {k: min(_time(cmd) for _ in range(a.runs)) for k, cmd in jobs.items()}
    frames = {p: _frames(p) for p in (dns, tcp, quic)}
    for k, secs in best.items():
        path = os.path.join(OUT, k.split()[1])
        print(f"{k:<18} {secs:7.2f} s  {1e6 * secs / frames[path]:6.2f} us/packet  ({frames[path]} packets)")
    per = {k: best[k] / frames[os.path.join(OUT, k.split()[1])] for k in best}
    print(f"DNS datagram / TCP packet cost: {per['ours dns.pcap'] / per['ours tcp.pcap']:.2f}")
    print(f"QUIC capture, ours / tshark: {best['ours quic.pcap'] / best['tshark quic.pcap']:.2f}")


if __name__ == "__main__":
    main()
