#!/usr/bin/env python3
"""Build a large QUIC-heavy classic pcap by replicating the UDP flows of real seed captures (the
QUIC fixtures of captures/, made by aioquic peers), for the benchmark (bench/udp_cost.py).

    make_quic_capture.py [SEED.pcap ...] -o QUIC.pcap [--packets 200000] [--seed 1]
                         [--concurrent 50]

Every UDP flow of the seeds (client: the sender of its first datagram) becomes a template. Each
replica gets a fresh client address (127.0.0.0/8 for IPv4 seeds, fd00::/8 for IPv6 ones), a
fresh client port and fresh connection ids (same lengths): tshark, like any QUIC reader, keys
connections by their ids, so replicas must not share them. Initial packets are re-protected with
the keys of the new Destination Connection ID (their ClientHello/ServerHello read as in the seed)
and a Retry gets its integrity tag anew; Handshake, 0-RTT and 1-RTT packets only get the new ids,
so their AEAD tags no longer verify: they are opaque encrypted flights, as without a key log.
IPv4 header and UDP checksums are recomputed. About --concurrent flows are open at once, their
packets interleaved round-robin with strictly increasing timestamps; new replicas start until
about --packets packets are planned, and every replica is written whole. Deterministic for a
given --seed and seeds.
"""

from __future__ import annotations

import argparse
import random
import struct
import sys
from collections import deque
from pathlib import Path

from pcap_files import SeedError, l3_offset, read_pcap

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the analyzer's QUIC key schedule re-protects the Initials

from analyzer.errors import DecodeError  # noqa: E402
from analyzer.quic import versions as V  # noqa: E402
from analyzer.quic.keys import OpenError, initial_keys, retry_tag  # noqa: E402
from analyzer.quic.packet import LONG, decode_packet_number, open_packet, parse_long, protect, unmask  # noqa: E402
SEEDS = [ROOT / "captures" / f"quic-{n}.pcap" for n in ("v1", "large-client-hello", "chacha20", "v2", "retry")]
IPPROTO_UDP = 17


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def templates(path: Path) -> tuple[int, list[list[tuple[int, bool, bytes]]]]:
    """(linktype, flows): each flow a list of (ns since its first packet, from client, frame)."""
    linktype, _, _, records = read_pcap(str(path))
    flows: dict[tuple, list] = {}
    starts: dict[tuple, tuple[int, bytes, int]] = {}
    for ts, data, _ in records:
        l3 = l3_offset(linktype, data)
        if l3 is None:
            continue
        v6 = data[l3] >> 4 == 6
        proto = data[l3 + 6] if v6 else data[l3 + 9]
        if proto != IPPROTO_UDP:
            continue
        alen, src_at = (16, l3 + 8) if v6 else (4, l3 + 12)
        l4 = l3 + (40 if v6 else (data[l3] & 0x0F) * 4)
        src, dst = data[src_at:src_at + alen], data[src_at + alen:src_at + 2 * alen]
        sport, dport = struct.unpack_from("!HH", data, l4)
        key = tuple(sorted([(src, sport), (dst, dport)]))
        if key not in starts:
            starts[key] = (ts, src, sport)
            flows[key] = []
        t0, csrc, cport = starts[key]
        flows[key].append((ts - t0, (src, sport) == (csrc, cport), data))
    return linktype, list(flows.values())


class QuicTemplate:
    """One seed flow's QUIC packets, read once: Initial plaintexts, and where connection ids sit."""

    def __init__(self, linktype: int, flow: list[tuple[int, bool, bytes]]) -> None:
        self.cids: list[bytes] = []  # every connection id of the flow, first seen first
        self.datagrams: list[list[tuple]] = []  # per frame: its packets as ("raw", bytes) or ("initial", ...)
        self.odcid = b""
        keys_dcid = b""
        largest = {True: -1, False: -1}
        cid_length = {True: 0, False: 0}  # length of the ids each side chose (short headers)
        for _, from_client, frame in flow:
            payload = udp_payload(linktype, frame)
            parts: list[tuple] = []
            pos = 0
            while pos < len(payload):
                if not payload[pos] & LONG:
                    n = cid_length[not from_client]
                    parts.append(("short", payload[pos:pos + 1], payload[pos + 1:pos + 1 + n], payload[pos + 1 + n:]))
                    break
                version = int.from_bytes(payload[pos + 1:pos + 5], "big")
                try:
                    hdr = parse_long(payload, pos, V.lookup(version))
                except DecodeError:
                    parts.append(("raw", payload[pos:]))
                    break
                for cid in (hdr.dcid, hdr.scid):
                    if cid and cid not in self.cids:
                        self.cids.append(cid)
                if hdr.scid:
                    cid_length[from_client] = len(hdr.scid)
                if not self.odcid and from_client:
                    self.odcid = keys_dcid = hdr.dcid
                raw = payload[hdr.start:hdr.end]
                at = 6 + len(hdr.dcid) + 1 + len(hdr.scid)  # where the type-specific fields start
                if hdr.ptype == V.INITIAL and keys_dcid:
                    ck, sk = initial_keys(V.VERSIONS[version], keys_dcid)
                    keys = ck if from_client else sk
                    try:
                        u = unmask(payload, hdr.start, hdr.pn_offset, hdr.end, keys)
                        pn = decode_packet_number(largest[from_client], u.truncated_pn, u.pn_length * 8)
                        plain = open_packet(payload, u, pn, hdr.pn_offset, hdr.end, keys)
                    except (DecodeError, OpenError):
                        parts.append(("long", raw, hdr.dcid, hdr.scid, at))
                    else:
                        largest[from_client] = max(largest[from_client], pn)
                        middle = payload[hdr.start + at:hdr.pn_offset]  # token and length
                        parts.append(("initial", from_client, u.first, version, hdr.dcid, hdr.scid, middle,
                                      u.pn_length, pn, plain))
                elif hdr.ptype == V.RETRY:
                    parts.append(("retry", raw, hdr.dcid, hdr.scid, at, version))
                    keys_dcid = hdr.scid
                else:
                    parts.append(("long", raw, hdr.dcid, hdr.scid, at))
                pos = hdr.end
            self.datagrams.append(parts)

    def payloads(self, rng: random.Random) -> list[bytes]:
        """The flow's UDP payloads with fresh connection ids, Initials sealed with their keys."""
        new = {cid: rng.randbytes(len(cid)) for cid in self.cids}
        odcid = new.get(self.odcid, self.odcid)
        keys_dcid = odcid
        out = []
        for parts in self.datagrams:
            payload = b""
            for part in parts:
                kind = part[0]
                if kind == "raw":
                    payload += part[1]
                elif kind == "short":
                    payload += part[1] + new.get(part[2], part[2]) + part[3]
                elif kind == "long":
                    raw, dcid, scid, at = part[1:]
                    payload += raw[:5] + bytes((len(dcid),)) + new.get(dcid, dcid) + bytes((len(scid),)) + \
                        new.get(scid, scid) + raw[at:]
                elif kind == "retry":
                    raw, dcid, scid, at, version = part[1:]
                    body = raw[:5] + bytes((len(dcid),)) + new.get(dcid, dcid) + bytes((len(scid),)) + \
                        new.get(scid, scid) + raw[at:-16]
                    payload += body + (retry_tag(V.VERSIONS[version], odcid, body) or raw[-16:])
                    keys_dcid = new.get(scid, scid)
                else:
                    from_client, first, version, dcid, scid, middle, pn_length, pn, plain = part[1:]
                    ck, sk = initial_keys(V.VERSIONS[version], keys_dcid)
                    header = bytes((first,)) + version.to_bytes(4, "big") + bytes((len(dcid),)) + new.get(dcid, dcid) + \
                        bytes((len(scid),)) + new.get(scid, scid) + middle + (pn & ((1 << (8 * pn_length)) - 1)).to_bytes(pn_length, "big")
                    payload += protect(ck if from_client else sk, header, len(header) - pn_length, pn_length, pn, plain)
            out.append(payload)
        return out


def udp_payload(linktype: int, frame: bytes) -> bytes:
    l3 = l3_offset(linktype, frame)
    assert l3 is not None
    l4 = l3 + (40 if frame[l3] >> 4 == 6 else (frame[l3] & 0x0F) * 4)
    return frame[l4 + 8:l4 + struct.unpack_from("!H", frame, l4 + 4)[0]]


def rewrite(linktype: int, frame: bytes, from_client: bool, client: bytes, port: int, payload: bytes) -> bytes:
    """The frame with the client's address and port and the UDP payload (same length) replaced,
    checksums recomputed."""
    out = bytearray(frame)
    l3 = l3_offset(linktype, frame)
    assert l3 is not None
    v6 = out[l3] >> 4 == 6
    alen, src_at = (16, l3 + 8) if v6 else (4, l3 + 12)
    addr_at = src_at if from_client else src_at + alen
    out[addr_at:addr_at + alen] = client
    l4 = l3 + (40 if v6 else (out[l3] & 0x0F) * 4)
    struct.pack_into("!H", out, l4 if from_client else l4 + 2, port)
    assert len(payload) == struct.unpack_from("!H", out, l4 + 4)[0] - 8
    out[l4 + 8:l4 + 8 + len(payload)] = payload
    if not v6:
        struct.pack_into("!H", out, l3 + 10, 0)
        struct.pack_into("!H", out, l3 + 10, checksum(bytes(out[l3:l4])))
    ulen = struct.unpack_from("!H", out, l4 + 4)[0]
    struct.pack_into("!H", out, l4 + 6, 0)
    src, dst = bytes(out[src_at:src_at + alen]), bytes(out[src_at + alen:src_at + 2 * alen])
    pseudo = src + dst + (struct.pack("!I", ulen) + b"\x00\x00\x00\x11" if v6 else struct.pack("!BBH", 0, 17, ulen))
    if l4 + ulen <= len(out):
        struct.pack_into("!H", out, l4 + 6, checksum(pseudo + bytes(out[l4:l4 + ulen])) or 0xFFFF)
    return bytes(out)


def generate(seeds: list[Path], out: Path, packets: int, seed: int, concurrent: int, gap_us: float = 20.0) -> tuple[int, int]:
    rng = random.Random(seed)
    linktype = None
    pool = []
    for path in seeds:
        lt, flows = templates(path)
        if linktype is not None and lt != linktype:
            raise SeedError(f"{path}: link type {lt}, the others {linktype}")
        linktype = lt
        pool += [(flow, QuicTemplate(lt, flow)) for flow in flows]
    if not pool or linktype is None:
        raise SeedError("no UDP flows in the seeds")
    planned = written = replicas = 0
    used: set[tuple[bytes, int]] = set()
    active: deque = deque()
    ts_us = 1_700_000_000 * 1_000_000
    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype))
        while active or planned < packets:
            while len(active) < concurrent and planned < packets:
                flow, quic = rng.choice(pool)
                v6 = flow[0][2][l3_offset(linktype, flow[0][2]) or 0] >> 4 == 6
                while True:
                    client = (b"\xfd" + rng.randbytes(15)) if v6 else (b"\x7f" + rng.randbytes(3))
                    port = rng.randrange(1024, 65536)
                    if (client, port) not in used:
                        used.add((client, port))
                        break
                active.append([iter(zip(flow, quic.payloads(rng))), client, port])
                planned += len(flow)
                replicas += 1
            replica = active.popleft()
            step = next(replica[0], None)
            if step is None:
                continue
            (_, from_client, frame), payload = step
            data = rewrite(linktype, frame, from_client, replica[1], replica[2], payload)
            ts_us += int(gap_us)
            f.write(struct.pack("<IIII", ts_us // 1_000_000, ts_us % 1_000_000, len(data), len(data)) + data)
            written += 1
            active.append(replica)
    return written, replicas


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("seeds", nargs="*", type=Path, default=SEEDS)
    ap.add_argument("-o", "--output", type=Path, required=True)
    ap.add_argument("--packets", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--concurrent", type=int, default=50)
    a = ap.parse_args(argv)
    try:
        written, replicas = generate(a.seeds, a.output, a.packets, a.seed, a.concurrent)
    except (SeedError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{a.output}: {written} packets, {replicas} QUIC connections")
    return 0


if __name__ == "__main__":
    sys.exit(main())
