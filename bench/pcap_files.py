"""Classic pcap and pcapng seeds in, classic pcap out: the record-level helpers of
make_big_capture.py (reading seeds, finding the TCP fields it rewrites, counting and cutting
the capture it wrote). No dependency beyond the standard library and, for pcapng seeds, editcap.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile

PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", False),
    b"\xa1\xb2\xc3\xd4": (">", False),
    b"\x4d\x3c\xb2\xa1": ("<", True),
    b"\xa1\xb2\x3c\x4d": (">", True),
}
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"

TH_SYN, TH_ACK = 0x02, 0x10  # TCP flags


class SeedError(Exception):
    pass


# --------------------------------------------------------------------------- pcap reading


def read_pcap(path: str):
    """Return (linktype, nsec, snaplen, records) with records = [(ts_ns, data, origlen)]."""
    with open(path, "rb") as f:
        head = f.read(4)
    if head == PCAPNG_MAGIC:
        return _read_pcapng_via_editcap(path)
    return _read_classic(path)


def _read_pcapng_via_editcap(path: str):
    editcap = shutil.which("editcap")
    if not editcap:
        raise SeedError(f"{path}: pcapng seed and no editcap to convert it")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "seed.pcap")
        r = subprocess.run([editcap, "-F", "pcap", path, out], capture_output=True, text=True)
        if r.returncode != 0:
            raise SeedError(f"{path}: editcap failed: {r.stderr.strip()}")
        return _read_classic(out)


def _read_classic(path: str):
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < 24 or buf[:4] not in PCAP_MAGICS:
        raise SeedError(f"{path}: not a pcap file")
    end, nsec = PCAP_MAGICS[buf[:4]]
    snaplen, linktype = struct.unpack_from(end + "II", buf, 16)
    linktype &= 0x0FFFFFFF
    rec = struct.Struct(end + "IIII")
    scale = 1 if nsec else 1000
    out = []
    pos, n = 24, len(buf)
    while pos + 16 <= n:
        sec, frac, caplen, origlen = rec.unpack_from(buf, pos)
        pos += 16
        if pos + caplen > n:
            break  # truncated last record
        out.append((sec * 1_000_000_000 + frac * scale, buf[pos : pos + caplen], origlen))
        pos += caplen
    return linktype, nsec, snaplen, out


def iter_pcap_records(path: str):
    """Stream (ts_sec, ts_frac, data, origlen) from a classic pcap; first yields the header."""
    with open(path, "rb") as f:
        hdr = f.read(24)
        if len(hdr) < 24 or hdr[:4] not in PCAP_MAGICS:
            raise SeedError(f"{path}: not a classic pcap file")
        end, _ = PCAP_MAGICS[hdr[:4]]
        yield hdr
        rec = struct.Struct(end + "IIII")
        while True:
            h = f.read(16)
            if len(h) < 16:
                return
            sec, frac, caplen, origlen = rec.unpack(h)
            data = f.read(caplen)
            if len(data) < caplen:
                return
            yield h, data


# --------------------------------------------------------------------------- dissection


def l3_offset(linktype: int, data: bytes):
    """Offset of the IP header in a frame, or None."""
    n = len(data)
    if linktype == 1:  # Ethernet
        off, et = 14, (data[12] << 8 | data[13]) if n >= 14 else -1
        while et in (0x8100, 0x88A8, 0x9100) and n >= off + 4:
            et = data[off + 2] << 8 | data[off + 3]
            off += 4
        return off if et in (0x0800, 0x86DD) else None
    if linktype == 113:  # Linux SLL
        if n < 16:
            return None
        et = data[14] << 8 | data[15]
        return 16 if et in (0x0800, 0x86DD) else None
    if linktype == 276:  # Linux SLL2
        if n < 20:
            return None
        et = data[0] << 8 | data[1]
        return 20 if et in (0x0800, 0x86DD) else None
    if linktype in (0, 108):  # BSD NULL / OpenBSD LOOP: 4-byte family, then IP
        return 4 if n > 4 else None
    if linktype in (101, 12, 14, 228, 229):  # raw IP
        return 0
    return None


def dissect_tcp(linktype: int, data: bytes):
    """Return (l3, is_v6, tcp_off, seg_end, src, dst, sport, dport, seq, ack, flags) or None.

    seg_end is where the TCP segment ends according to the IP length (Ethernet padding excluded),
    capped at the captured length."""
    l3 = l3_offset(linktype, data)
    if l3 is None or len(data) < l3 + 20:
        return None
    ver = data[l3] >> 4
    if ver == 4:
        ihl = (data[l3] & 0x0F) * 4
        if ihl < 20 or data[l3 + 9] != 6:
            return None
        frag = (data[l3 + 6] << 8 | data[l3 + 7]) & 0x3FFF
        if frag:
            return None  # fragments are not replicated
        total = data[l3 + 2] << 8 | data[l3 + 3]
        src, dst = data[l3 + 12 : l3 + 16], data[l3 + 16 : l3 + 20]
        t = l3 + ihl
        ip_end = l3 + total
        v6 = False
    elif ver == 6:
        if len(data) < l3 + 40 or data[l3 + 6] != 6:
            return None  # no extension headers
        plen = data[l3 + 4] << 8 | data[l3 + 5]
        src, dst = data[l3 + 8 : l3 + 24], data[l3 + 24 : l3 + 40]
        t = l3 + 40
        ip_end = t + plen
        v6 = True
    else:
        return None
    if len(data) < t + 20:
        return None
    sport, dport, seq, ack, offflags = struct.unpack_from(">HHIIH", data, t)
    doff = (offflags >> 12) * 4
    if doff < 20:
        return None
    seg_end = min(ip_end, len(data))
    return l3, v6, t, seg_end, bytes(src), bytes(dst), sport, dport, seq, ack, offflags & 0x3F


def sack_edge_offsets(data: bytes, t: int, doff: int):
    """Offsets (relative to the TCP header) of the 4-byte SACK edges in the options."""
    out = []
    i, end = t + 20, min(t + doff, len(data))
    while i < end:
        kind = data[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        if i + 1 >= end:
            break
        ln = data[i + 1]
        if ln < 2:
            break
        if kind == 5:
            for j in range(i + 2, min(i + ln, end) - 3, 4):
                out.append(j - t)
        i += ln
    return out


# --------------------------------------------------------------------------- scanning


def scan_capture(path: str):
    """Count packets, TCP connections (4-tuples) and SYN destination ports of a classic pcap."""
    it = iter_pcap_records(path)
    hdr = next(it)
    end, _ = PCAP_MAGICS[hdr[:4]]
    linktype = struct.unpack_from(end + "I", hdr, 20)[0] & 0x0FFFFFFF
    packets = 0
    tuples = set()
    syn_ports: dict[int, int] = {}
    syns = 0
    for _h, data in it:
        packets += 1
        d = dissect_tcp(linktype, data)
        if d is None:
            continue
        src, dst, sport, dport, flags = d[4], d[5], d[6], d[7], d[10]
        a, b = (src, sport), (dst, dport)
        tuples.add((a, b) if a <= b else (b, a))
        if flags & (TH_SYN | TH_ACK) == TH_SYN:
            syns += 1
            syn_ports[dport] = syn_ports.get(dport, 0) + 1
    return {"packets": packets, "connections": len(tuples), "syns": syns,
            "server_ports": sorted(syn_ports), "linktype": linktype}


def truncate_capture(src: str, dst: str, packets: int) -> int:
    """Copy the first `packets` records of a classic pcap."""
    n = 0
    with open(dst, "wb") as out:
        it = iter_pcap_records(src)
        out.write(next(it))
        for h, data in it:
            if n >= packets:
                break
            out.write(h)
            out.write(data)
            n += 1
    return n
