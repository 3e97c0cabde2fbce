#!/usr/bin/env python3
"""Derive captures with lost segments from real fixture captures (a capture point that missed
packets): `tls12-gap.pcap` drops the server segment carrying the middle of its Certificate
flight from `tls12-ecdhe.pcap`; `tls13-gap-appdata.pcap` drops a server application-data segment
from `tls13.pcap`. Run after make_captures.py:  python captures/scripts/make_lossy_captures.py
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent  # captures/


def records(raw: bytes) -> tuple[bytes, list[bytes]]:
    """(pcap header, [record header + data, ...]) of a little- or big-endian classic pcap."""
    order = "<" if raw[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    out, pos = [], 24
    while pos + 16 <= len(raw):
        caplen = struct.unpack_from(order + "I", raw, pos + 8)[0]
        out.append(raw[pos:pos + 16 + caplen])
        pos += 16 + caplen
    return raw[:24], out


def tcp_payload_len(rec: bytes) -> tuple[int, int]:
    """(source port, TCP payload length) of an Ethernet/IPv4/TCP record."""
    frame = rec[16:]
    ihl = (frame[14] & 0x0F) * 4
    total = struct.unpack_from("!H", frame, 16)[0]
    tcp = 14 + ihl
    sport = struct.unpack_from("!H", frame, tcp)[0]
    doff = (frame[tcp + 12] >> 4) * 4
    return sport, total - ihl - doff


def drop(source: str, target: str, server_port: int, nth_server_data: int) -> None:
    head, recs = records((HERE / source).read_bytes())
    seen = 0
    kept = []
    for rec in recs:
        sport, n = tcp_payload_len(rec)
        if sport == server_port and n > 0:
            seen += 1
            if seen == nth_server_data:
                continue
        kept.append(rec)
    if len(kept) != len(recs) - 1:
        sys.exit(f"{source}: no server data segment #{nth_server_data} to drop")
    (HERE / target).write_bytes(head + b"".join(kept))
    print(f"{target}: {len(kept)} packets (dropped server data segment #{nth_server_data} of {source})")


def server_port_of(source: str) -> int:
    _head, recs = records((HERE / source).read_bytes())
    frame = recs[0][16:]
    ihl = (frame[14] & 0x0F) * 4
    return struct.unpack_from("!H", frame, 14 + ihl + 2)[0]  # the SYN's destination port


if __name__ == "__main__":
    import argparse

    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    drop("tls12-ecdhe.pcap", "tls12-gap.pcap", server_port_of("tls12-ecdhe.pcap"), 1)
    drop("tls13.pcap", "tls13-gap-appdata.pcap", server_port_of("tls13.pcap"), 3)
