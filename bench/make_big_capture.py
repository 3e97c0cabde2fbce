#!/usr/bin/env python3
"""Build a large classic pcap by replicating the TCP connections of real seed captures.

    make_big_capture.py SEED.pcap [SEED2.pcap ...] -o BIG.pcap [--packets 200000] [--seed 1]
                        [--concurrent 50] [--keylog-in K --keylog-out K2]

Every TCP connection found in the seeds becomes a template. Replicas of the templates are
written with a fresh client address (inside 127.0.0.0/8 when the seed client is a loopback
address, 10.0.0.0/8 otherwise; for IPv6 the last 32 bits, under fd00::/8 for ::1), a fresh
client port and fresh sequence numbers: each direction gets a random offset added (mod 2**32) to
its sequence numbers, and the peer's offset is added to its acknowledgment numbers and SACK
edges, SYN and SYN-ACK included. About `--concurrent` connections are open at once; their
packets are interleaved round-robin with strictly increasing timestamps. New connections are
started until about `--packets` packets are planned; the connections that are open then are
completed, so every connection in the output is whole. IPv4 header and TCP checksums are
recomputed (a TCP checksum is left untouched when the seed record is truncated by its snaplen).

The link type (and link-layer bytes, e.g. MAC addresses) of the seeds is kept: Ethernet, Linux
cooked (SLL, SLL2), BSD loopback/NULL and raw IP are understood, carrying IPv4 or IPv6 (no IPv6
extension headers, no IP fragments). Non-TCP packets are dropped. pcapng seeds are converted with
`editcap -F pcap` first.

With --keylog-in, the 32-byte ClientHello random of each seed connection is found in its packets
(by the randoms listed in the key log) and replaced per replica by a fresh one; the key log lines
of that random are written to --keylog-out once per replica, with the new random. This is done
only for TLS 1.3 connections (the random has *_TRAFFIC_SECRET lines): TLS 1.3 traffic keys depend
on the logged secrets only, so decryption still works. TLS 1.2 keys are expanded from the master
secret *and both randoms*, so a rewritten random would make the logged master secret useless;
TLS 1.2 connections therefore keep their seed random, and their key log lines are written once
(identical replicas decrypt with the same keys). Note that rewriting the random changes the
TLS 1.3 transcript hash, so Finished verification fails on rewritten replicas.

The output is deterministic for a given --seed and seed files. Output is little-endian classic
pcap with the timestamp resolution (usec or nsec) of the first seed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import struct
import sys
import time
from collections import deque

from pcap_files import TH_ACK, TH_SYN, SeedError, dissect_tcp, read_pcap, sack_edge_offsets

M32 = 0xFFFFFFFF

TLS13_LABELS = {
    "CLIENT_EARLY_TRAFFIC_SECRET",
    "EARLY_EXPORTER_SECRET",
    "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
    "SERVER_HANDSHAKE_TRAFFIC_SECRET",
    "CLIENT_TRAFFIC_SECRET_0",
    "SERVER_TRAFFIC_SECRET_0",
    "EXPORTER_SECRET",
}

# --------------------------------------------------------------------------- templates


class TplPacket:
    __slots__ = (
        "dir", "data", "origlen", "l3", "v6", "t", "seq", "ack", "flags", "sacks", "randoms",
        "tcp_base", "ip_base", "csum_ok",
    )


class Template:
    def __init__(self, seed: str, client: tuple, server: tuple):
        self.seed = seed
        self.client = client  # (addr, port)
        self.server = server
        self.packets: list[TplPacket] = []
        self.randoms: list[bytes] = []  # seed ClientHello randoms rewritten per replica
        self.tls12_randoms: list[bytes] = []  # found but kept (TLS 1.2 or no TLS 1.3 labels)
        self.first_ts = 0


def fold(s: int) -> int:
    """Ones'-complement sum (as the 16-bit checksum field value) from a congruent integer."""
    s %= 0xFFFF
    return 0xFFFF - s if s else 0  # sum 0 mod 0xFFFF means the ones'-complement sum 0xFFFF


def build_templates(seeds, keys13: set[bytes], keys12: set[bytes]):
    """Split the seeds into TCP connections. Returns (linktype, nsec, snaplen, templates)."""
    linktype = nsec = None
    snaplen = 0
    templates: list[Template] = []
    for path in seeds:
        lt, ns, snap, records = read_pcap(path)
        if linktype is None:
            linktype, nsec = lt, ns
        elif lt != linktype:
            raise SeedError(f"{path}: link type {lt} differs from the first seed's {linktype}")
        snaplen = max(snaplen, snap)
        current: dict[tuple, Template] = {}
        for ts, data, origlen in records:
            d = dissect_tcp(lt, data)
            if d is None:
                continue
            l3, v6, t, seg_end, src, dst, sport, dport, seq, ack, flags = d
            a, b = (src, sport), (dst, dport)
            key = (a, b) if (a, b) <= (b, a) else (b, a)
            tpl = current.get(key)
            pure_syn = flags & (TH_SYN | TH_ACK) == TH_SYN
            if tpl is not None and pure_syn and any(
                not (p.flags & TH_SYN) for p in tpl.packets
            ):
                tpl = None  # port reuse: a new connection on the same 4-tuple
            if tpl is None:
                if pure_syn:
                    client, server = a, b
                elif flags & (TH_SYN | TH_ACK) == TH_SYN | TH_ACK:
                    client, server = b, a
                else:  # connection caught mid-stream: the lower port is the server
                    client, server = (a, b) if sport > dport else (b, a)
                tpl = Template(path, client, server)
                tpl.first_ts = ts
                current[key] = tpl
                templates.append(tpl)
            p = TplPacket()
            p.dir = 0 if a == tpl.client else 1
            p.data, p.origlen, p.l3, p.v6, p.t = data, origlen, l3, v6, t
            p.seq, p.ack, p.flags = seq, ack, flags
            doff = (data[t + 12] >> 4) * 4
            p.sacks = [(o, struct.unpack_from(">I", data, t + o)[0]) for o in
                       sack_edge_offsets(data, t, doff)]
            p.randoms = []
            if p.dir == 0 and (keys13 or keys12):
                payload = data[t + doff : seg_end]
                for r in keys13 | keys12:
                    i = payload.find(r)
                    while i >= 0:
                        if r in keys13:
                            p.randoms.append((doff + i, r))
                            if r not in tpl.randoms:
                                tpl.randoms.append(r)
                        elif r not in tpl.tls12_randoms:
                            tpl.tls12_randoms.append(r)
                        i = payload.find(r, i + 1)
            seg = data[t:seg_end]
            tcp_len = seg_end - t
            p.csum_ok = len(data) == origlen and tcp_len >= doff
            # Checksum bases: sums (mod 0xFFFF) with every rewritten field zeroed; per replica the
            # new field values are added (a field of even length at an odd offset counts x256).
            z = bytearray(seg)
            z[0:12] = bytes(12)  # ports, seq, ack
            z[16:18] = b"\0\0"
            for o, _ in p.sacks:
                z[o : o + 4] = bytes(4)
            for o, _ in p.randoms:
                z[o : o + 32] = bytes(32)
            if len(z) & 1:
                z.append(0)
            p.tcp_base = int.from_bytes(z, "big") + 6 + tcp_len
            if not v6:
                ih = bytearray(data[l3 : t])
                ih[10:12] = b"\0\0"
                ih[12:20] = bytes(8)
                if len(ih) & 1:
                    ih.append(0)
                p.ip_base = int.from_bytes(ih, "big")
            else:
                p.ip_base = 0
            tpl.packets.append(p)
    if not templates:
        raise SeedError("no TCP connections in the seeds")
    return linktype, nsec, snaplen, templates


# --------------------------------------------------------------------------- keylog


def read_keylog(path: str):
    """Return (lines_by_random, other_lines): {random: [(label, secret_hex)]}, [raw lines]."""
    by_random: dict[bytes, list[tuple[str, str]]] = {}
    other: list[str] = []
    with open(path, encoding="ascii", errors="replace") as f:
        for line in f:
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            parts = s.split()
            if len(parts) == 3 and len(parts[1]) == 64:
                try:
                    r = bytes.fromhex(parts[1])
                except ValueError:
                    other.append(s)
                    continue
                by_random.setdefault(r, []).append((parts[0], parts[2]))
            else:
                other.append(s)  # e.g. "RSA <encrypted premaster> <premaster>"
    return by_random, other


# --------------------------------------------------------------------------- generation


class Replica:
    __slots__ = ("tpl", "i", "caddr", "cport", "off", "rand", "fixed")


def generate(seeds, out_path, packets=200_000, seed=1, concurrent=50, gap_us=20.0,
             keylog_in=None, keylog_out=None, quiet=False):
    t0 = time.perf_counter()
    by_random, other_lines = read_keylog(keylog_in) if keylog_in else ({}, [])
    keys13 = {r for r, ls in by_random.items() if any(lab in TLS13_LABELS for lab, _ in ls)}
    keys12 = set(by_random) - keys13
    linktype, nsec, snaplen, templates = build_templates(seeds, keys13, keys12)
    rng = random.Random(seed)

    server_addrs = {t.server[0] for t in templates}
    v4_loop = any(len(t.client[0]) == 4 and t.client[0][0] == 127 for t in templates)
    v4_net = 0x7F000000 if v4_loop else 0x0A000000
    counter = rng.randrange(1 << 16, 1 << 23)

    def next_addr(orig: bytes) -> bytes:
        nonlocal counter
        while True:
            counter += 1
            low = counter & 0xFFFFFF
            if (low & 0xFF) in (0, 255):
                continue
            if len(orig) == 4:
                a = struct.pack(">I", v4_net | low)
            else:
                prefix = orig[:12] if any(orig[:12]) else b"\xfd" + bytes(11)  # ::1 -> fd00::/8
                a = prefix + struct.pack(">I", 0x0A000000 | low)
            if a not in server_addrs:
                return a

    kl = open(keylog_out, "w", encoding="ascii") if keylog_out else None
    if kl:
        kl.write("# SSL/TLS secrets log file, generated by bench/make_big_capture.py\n")
        written12: set[bytes] = set()
        seed_randoms = {r for t in templates for r in t.randoms + t.tls12_randoms}
        for r, ls in by_random.items():  # lines whose random is in no seed: copy once
            if r not in seed_randoms:
                for lab, sec in ls:
                    kl.write(f"{lab} {r.hex()} {sec}\n")
        for s in other_lines:
            kl.write(s + "\n")

    salt = str(seed).encode()
    tsres = 1 if nsec else 1000
    gap_ns = int(gap_us * 1000)
    out = open(out_path, "wb")
    out.write(struct.pack("<IHHiIII", 0xA1B23C4D if nsec else 0xA1B2C3D4, 2, 4, 0, 0,
                          snaplen or 262144, linktype))
    rec_hdr = struct.Struct("<IIII")
    pk_ports = struct.Struct(">HHII").pack_into
    pk_h = struct.Struct(">H").pack_into
    pk_i = struct.Struct(">I").pack_into

    active: deque[Replica] = deque()
    planned = written = nrep = 0
    chunks: list[bytes] = []
    per_tpl = [0] * len(templates)
    # first timestamp: that of the first seed packet, for realism; then strictly increasing
    t_ns = templates[0].first_ts

    while True:
        while len(active) < concurrent and planned < packets:
            ti = nrep % len(templates)
            tpl = templates[ti]
            r = Replica()
            r.tpl, r.i = tpl, 0
            r.caddr = next_addr(tpl.client[0])
            r.cport = rng.randrange(1024, 65536)
            r.off = (rng.getrandbits(32), rng.getrandbits(32))
            r.rand = {}
            for orig in tpl.randoms:
                new = hashlib.sha256(b"bench-random|" + salt + b"|%d|" % nrep + orig).digest()
                r.rand[orig] = new
                if kl:
                    for lab, sec in by_random[orig]:
                        kl.write(f"{lab} {new.hex()} {sec}\n")
            if kl:
                for orig in tpl.tls12_randoms:
                    if orig not in written12:
                        written12.add(orig)
                        for lab, sec in by_random[orig]:
                            kl.write(f"{lab} {orig.hex()} {sec}\n")
            # the address sums that enter both checksums, per direction
            ca = int.from_bytes(r.caddr, "big")
            sa = int.from_bytes(tpl.server[0], "big")
            r.fixed = ca + sa
            active.append(r)
            planned += len(tpl.packets)
            per_tpl[ti] += 1
            nrep += 1
        if not active:
            break
        r = active.popleft()
        p = r.tpl.packets[r.i]
        r.i += 1
        if r.i < len(r.tpl.packets):
            active.append(r)

        buf = bytearray(p.data)
        l3, t = p.l3, p.t
        if p.dir == 0:
            src, dst = r.caddr, r.tpl.server[0]
            sport, dport = r.cport, r.tpl.server[1]
            own, peer = r.off
        else:
            src, dst = r.tpl.server[0], r.caddr
            sport, dport = r.tpl.server[1], r.cport
            peer, own = r.off
        seq = (p.seq + own) & M32
        ack = (p.ack + peer) & M32 if p.flags & TH_ACK else p.ack
        if p.v6:
            buf[l3 + 8 : l3 + 24] = src
            buf[l3 + 24 : l3 + 40] = dst
        else:
            buf[l3 + 12 : l3 + 16] = src
            buf[l3 + 16 : l3 + 20] = dst
            pk_h(buf, l3 + 10, fold(p.ip_base + r.fixed))
        pk_ports(buf, t, sport, dport, seq, ack)
        s = p.tcp_base + r.fixed + (sport << 16 | dport) + seq + ack
        for o, v in p.sacks:
            v = (v + peer) & M32
            pk_i(buf, t + o, v)
            s += v << 8 if o & 1 else v
        for o, orig in p.randoms:
            new = r.rand[orig]
            buf[t + o : t + o + 32] = new
            v = int.from_bytes(new, "big")
            s += v << 8 if o & 1 else v
        if p.csum_ok:
            pk_h(buf, t + 16, fold(s))

        ts = t_ns // 1_000_000_000
        frac = (t_ns % 1_000_000_000) // tsres
        chunks.append(rec_hdr.pack(ts, frac, len(buf), p.origlen))
        chunks.append(buf)
        t_ns += gap_ns
        written += 1
        if len(chunks) >= 8192:
            out.write(b"".join(chunks))
            chunks.clear()
    out.write(b"".join(chunks))
    out.close()
    if kl:
        kl.close()
    elapsed = time.perf_counter() - t0
    stats = {
        "packets": written,
        "connections": nrep,
        "templates": len(templates),
        "bytes": os.path.getsize(out_path),
        "seconds": elapsed,
        "replicas_per_template": per_tpl,
        "server_ports": sorted({t.server[1] for t in templates}),
        "rewritten_randoms": sum(len(t.randoms) for t in templates),
        "kept_randoms": sum(len(t.tls12_randoms) for t in templates),
    }
    if not quiet:
        print(
            f"wrote {out_path}: {written} packets, {nrep} connections "
            f"({len(templates)} seed connections x ~{nrep // len(templates)}), "
            f"{stats['bytes'] / 1e6:.1f} MB in {elapsed:.2f} s",
            file=sys.stderr,
        )
        if keylog_in:
            missing = [r.hex()[:16] for r in by_random if r not in
                       {x for t in templates for x in t.randoms + t.tls12_randoms}]
            print(
                f"keylog: {stats['rewritten_randoms']} seed TLS 1.3 randoms rewritten per replica, "
                f"{stats['kept_randoms']} TLS 1.2 randoms kept; {len(missing)} key log randoms "
                f"not found in the seeds -> {keylog_out}",
                file=sys.stderr,
            )
    return stats


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("seeds", nargs="+", metavar="SEED.pcap")
    ap.add_argument("-o", "--output", required=True, metavar="BIG.pcap")
    ap.add_argument("--packets", type=int, default=200_000, help="about this many packets")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--concurrent", type=int, default=50, help="connections open at once")
    ap.add_argument("--gap-us", type=float, default=20.0, help="microseconds between packets")
    ap.add_argument("--keylog-in", metavar="K", help="key log of the seeds")
    ap.add_argument("--keylog-out", metavar="K2", help="key log to write for the big capture")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    if bool(a.keylog_in) != bool(a.keylog_out):
        ap.error("--keylog-in and --keylog-out go together")
    try:
        generate(a.seeds, a.output, a.packets, a.seed, a.concurrent, a.gap_us,
                 a.keylog_in, a.keylog_out, a.quiet)
    except (SeedError, OSError) as e:
        print(f"make_big_capture: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
