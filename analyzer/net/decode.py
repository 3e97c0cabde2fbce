"""Frame bytes -> TCP segment fields: link layers, VLAN tags, IPv4 (with fragments), IPv6, TCP.

The hot path of the whole tool: plain tuples and `struct` at fixed offsets, no objects per layer.
A frame that is not TCP/UDP over IP yields None and is counted, never raised.
"""

from __future__ import annotations

from typing import Final

import struct
from collections import Counter, OrderedDict
from dataclasses import dataclass

ETH_IPV4: Final = 0x0800
ETH_IPV6: Final = 0x86DD
VLAN_TAGS: Final = (0x8100, 0x88A8, 0x9100, 0x9200)
LINKTYPE_NULL: Final = 0
LINKTYPE_ETHERNET: Final = 1
LINKTYPE_RAW: Final = 101
LINKTYPE_LOOP: Final = 108
LINKTYPE_SLL: Final = 113
LINKTYPE_SLL2: Final = 276
LINKTYPE_PPP: Final = 9
LINKTYPE_PPP_HDLC: Final = 50
PPP_IPV4: Final = 0x0021
PPP_IPV6: Final = 0x0057
LINKTYPE_IPV4: Final = 228
LINKTYPE_IPV6: Final = 229
RAW_ALIASES: Final = (12, 14)  # DLT_RAW as some systems write it
IPPROTO_TCP: Final = 6
IPPROTO_UDP: Final = 17
IPPROTO_IPIP: Final = 4
IPPROTO_IPV6: Final = 41
IPPROTO_GRE: Final = 47
GTP_U_PORT: Final = 2152
VXLAN_PORT: Final = 4789
MAX_TUNNEL_DEPTH: Final = 4
IPV6_EXT_HEADERS: Final = (0, 43, 60, 135, 139, 140)  # hop-by-hop, routing, dest opts, mobility, HIP, shim6
IPV6_FRAGMENT: Final = 44
IPV6_AH: Final = 51
IPV6_NO_NEXT: Final = 59
NULL_FAMILY_IPV4: Final = 2
NULL_FAMILY_IPV6: Final = (10, 23, 24, 28, 30)  # Linux, Windows, NetBSD/OpenBSD, FreeBSD, macOS

# TCP flags
FIN: Final = 0x01
SYN: Final = 0x02
RST: Final = 0x04
ACK: Final = 0x10

_u16 = struct.Struct("!H").unpack_from
_ipv4 = struct.Struct("!BxHHHBB").unpack_from  # ver/ihl, total len, id, flags/frag, ttl, proto
_tcp = struct.Struct("!HHIIBB").unpack_from  # sport, dport, seq, ack, data offset, flags
_udp = struct.Struct("!HH").unpack_from


def _plain_ipv4_tcp(buf: bytes, start: int, end: int = -1) -> bool:
    """Whether the Ethernet frame at buf[start:end] (end -1: the buffer's end) carries IPv4 without
    options, not a fragment, and TCP with both ports: the layout the fast paths read directly."""
    return ((end if end >= 0 else len(buf)) - start >= 54 and buf[start + 12] == 8 and buf[start + 13] == 0
            and buf[start + 14] == 0x45 and buf[start + 23] == IPPROTO_TCP
            and not (buf[start + 20] & 0x3F or buf[start + 21]))


def _be32(buf: bytes, at: int) -> int:
    return buf[at] << 24 | buf[at + 1] << 16 | buf[at + 2] << 8 | buf[at + 3]


def other_shard(linktype: int, buf: bytes, start: int, end: int, shard: int, shards: int) -> bool:
    """Whether the frame at buf[start:end] is a plain Ethernet/IPv4/TCP segment of another shard
    (its port sum modulo `shards` is not `shard`), told from header bytes alone, so a sharded
    reader drops it before it is copied or decoded. Anything else: False (decoded and sorted later)."""
    return (linktype == LINKTYPE_ETHERNET and _plain_ipv4_tcp(buf, start, end)
            and ((buf[start + 34] << 8 | buf[start + 35]) + (buf[start + 36] << 8 | buf[start + 37])) % shards != shard)


@dataclass(slots=True, init=False)
class Segment:
    """A TCP segment's fields that reassembly needs; addresses are raw 4- or 16-byte strings.
    (A written __init__: see analyzer/native.py.)"""

    src: bytes
    dst: bytes
    sport: int
    dport: int
    seq: int
    ack: int
    flags: int
    payload: bytes

    def __init__(self, src: bytes, dst: bytes, sport: int, dport: int, seq: int, ack: int, flags: int,
                 payload: bytes) -> None:
        self.src, self.dst, self.sport, self.dport = src, dst, sport, dport
        self.seq, self.ack, self.flags, self.payload = seq, ack, flags, payload


@dataclass(slots=True, init=False)
class Datagram:
    """A UDP datagram, kept for DTLS/QUIC."""

    src: bytes
    dst: bytes
    sport: int
    dport: int
    payload: bytes

    def __init__(self, src: bytes, dst: bytes, sport: int, dport: int, payload: bytes) -> None:
        self.src, self.dst, self.sport, self.dport, self.payload = src, dst, sport, dport, payload


class FragmentCache:
    """Reassembles IPv4/IPv6 fragments with bounded memory (oldest datagrams dropped first)."""

    def __init__(self, max_datagrams: int = 1024, max_bytes: int = 65535 + 1024) -> None:
        self.max_datagrams = max_datagrams
        self.max_bytes = max_bytes
        self.pending: OrderedDict[tuple, dict] = OrderedDict()
        self.dropped = 0

    def add(self, key: tuple, offset: int, more: bool, data: bytes) -> bytes | None:
        """Store one fragment; return the whole payload once every piece is there."""
        entry = self.pending.get(key)
        if entry is None:
            if len(self.pending) >= self.max_datagrams:
                self.pending.popitem(last=False)
                self.dropped += 1
            entry = self.pending[key] = {"parts": {}, "total": None}
        if offset + len(data) > self.max_bytes:
            del self.pending[key]
            self.dropped += 1
            return None
        entry["parts"].setdefault(offset, data)
        if not more:
            entry["total"] = offset + len(data)
        total = entry["total"]
        if total is None:
            return None
        out = bytearray()
        for off in sorted(entry["parts"]):
            piece = entry["parts"][off]
            if off > len(out):
                return None  # still a hole
            out += piece[len(out) - off:]
        if len(out) < total:
            return None
        del self.pending[key]
        return bytes(out[:total])


class PacketDecoder:
    """Decodes frames of any supported link type; keeps counters of what it skipped."""

    def __init__(self) -> None:
        self.fragments = FragmentCache()
        self.skipped: Counter[str] = Counter()
        self.unsupported_linktypes: Counter[int] = Counter()

    def decode(self, linktype: int, data: bytes) -> Segment | Datagram | None:
        """Return the TCP segment or UDP datagram in a frame, or None (counted in `skipped`)."""
        if linktype == LINKTYPE_ETHERNET:
            # fast path for the common case, Ethernet + IPv4 without options or fragments + TCP, read
            # byte by byte (compiled, that boxes nothing); anything unusual takes the long way
            if _plain_ipv4_tcp(data, 0):
                total, doff = data[16] << 8 | data[17], data[46] >> 4
                if doff >= 5 and total >= 20 + doff * 4:
                    end = 14 + total
                    return Segment(data[26:30], data[30:34], data[34] << 8 | data[35], data[36] << 8 | data[37],
                                   _be32(data, 38), _be32(data, 42), data[47],
                                   data[34 + doff * 4:end if end < len(data) else len(data)])
            if len(data) < 14:
                self.skipped["short ethernet"] += 1
                return None
            return self._ethernet(data, 0)
        if linktype == LINKTYPE_SLL:
            if len(data) < 16:
                return None
            etype, off = _u16(data, 14)[0], 16
        elif linktype == LINKTYPE_SLL2:
            if len(data) < 20:
                return None
            etype, off = _u16(data, 0)[0], 20
        elif linktype == LINKTYPE_PPP or linktype == LINKTYPE_PPP_HDLC:
            off = 2 if data[:2] == b"\xff\x03" else 0  # HDLC address and control, when present
            if len(data) < off + 2:
                return None
            proto = data[off] if data[off] & 1 else _u16(data, off)[0]  # RFC 1661: odd first byte = 1-byte field
            off += 1 if data[off] & 1 else 2
            etype = ETH_IPV4 if proto == PPP_IPV4 else ETH_IPV6 if proto == PPP_IPV6 else 0
        elif linktype in (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6) or linktype in RAW_ALIASES:
            if not data:
                return None
            etype, off = (ETH_IPV4 if data[0] >> 4 == 4 else ETH_IPV6), 0
        elif linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
            if len(data) < 4:
                return None
            fam = struct.unpack_from(">I" if linktype == LINKTYPE_LOOP else "<I", data, 0)[0]
            if fam > 0xFFFF:  # written in the other byte order
                fam = int.from_bytes(data[:4], "big" if linktype != LINKTYPE_LOOP else "little")
            etype = ETH_IPV4 if fam == NULL_FAMILY_IPV4 else ETH_IPV6 if fam in NULL_FAMILY_IPV6 else 0
            off = 4
        else:
            self.unsupported_linktypes[linktype] += 1
            return None
        return self._ip(etype, data, off, 0)

    def _ip(self, etype: int, data: bytes, off: int, depth: int) -> Segment | Datagram | None:
        if etype == ETH_IPV4:
            return self._ipv4(data, off, depth)
        if etype == ETH_IPV6:
            return self._ipv6(data, off, depth)
        self.skipped["not IP"] += 1
        return None

    def _ipv4(self, data: bytes, off: int, depth: int = 0) -> Segment | Datagram | None:
        if len(data) < off + 20:
            self.skipped["short IPv4"] += 1
            return None
        vihl, total, ident, frag, _ttl, proto = _ipv4(data, off)
        ihl = (vihl & 0x0F) * 4
        if vihl >> 4 != 4 or ihl < 20 or total < ihl:
            self.skipped["bad IPv4 header"] += 1
            return None
        end = off + total if off + total <= len(data) else len(data)  # drop Ethernet padding
        src, dst = data[off + 12:off + 16], data[off + 16:off + 20]
        if frag & 0x3FFF:  # MF set or non-zero offset
            whole = self.fragments.add((src, dst, ident, proto), (frag & 0x1FFF) * 8,
                                       bool(frag & 0x2000), data[off + ihl:end])
            if whole is None:
                return None
            return self._transport(proto, src, dst, whole, 0, len(whole), depth)
        return self._transport(proto, src, dst, data, off + ihl, end, depth)

    def _ipv6(self, data: bytes, off: int, depth: int = 0) -> Segment | Datagram | None:
        if len(data) < off + 40:
            self.skipped["short IPv6"] += 1
            return None
        plen = _u16(data, off + 4)[0]
        nxt = data[off + 6]
        src, dst = data[off + 8:off + 24], data[off + 24:off + 40]
        end = min(off + 40 + plen, len(data)) if plen else len(data)
        pos = off + 40
        while True:
            if nxt in IPV6_EXT_HEADERS or nxt == IPV6_AH:
                if pos + 2 > end:
                    return None
                hlen = (data[pos + 1] + 2) * 4 if nxt == IPV6_AH else (data[pos + 1] + 1) * 8
                nxt, pos = data[pos], pos + hlen
            elif nxt == IPV6_FRAGMENT:
                if pos + 8 > end:
                    return None
                fo = _u16(data, pos + 2)[0]
                ident = data[pos + 4:pos + 8]
                proto = data[pos]
                whole = self.fragments.add((src, dst, ident, proto), fo & 0xFFF8, bool(fo & 1),
                                           data[pos + 8:end])
                if whole is None:
                    return None
                return self._transport(proto, src, dst, whole, 0, len(whole), depth)
            else:
                break
        return self._transport(nxt, src, dst, data, pos, end, depth)

    def _transport(self, proto: int, src: bytes, dst: bytes, data: bytes, pos: int,
                   end: int, depth: int = 0) -> Segment | Datagram | None:
        if proto == IPPROTO_TCP:
            if end - pos < 20:
                self.skipped["short TCP"] += 1
                return None
            sport, dport, seq, ack, doff, flags = _tcp(data, pos)
            hlen = (doff >> 4) * 4
            if hlen < 20 or pos + hlen > end:
                self.skipped["bad TCP header"] += 1
                return None
            return Segment(src, dst, sport, dport, seq, ack, flags, data[pos + hlen:end])
        if proto == IPPROTO_UDP:
            if end - pos < 8:
                return None
            sport, dport = _udp(data, pos)
            if depth < MAX_TUNNEL_DEPTH:
                if GTP_U_PORT in (sport, dport):
                    inner = self._gtp_u(data, pos + 8, end, depth)
                    if inner is not None:
                        return inner
                elif VXLAN_PORT in (sport, dport) and end - pos >= 8 + 8 + 14 and data[pos + 8] & 0x08:
                    return self._ethernet(data[pos + 16:end], depth + 1)
            return Datagram(src, dst, sport, dport, data[pos + 8:end])
        if depth < MAX_TUNNEL_DEPTH:
            if proto == IPPROTO_IPIP:
                return self._ipv4(data[:end], pos, depth + 1)
            if proto == IPPROTO_IPV6:
                return self._ipv6(data[:end], pos, depth + 1)
            if proto == IPPROTO_GRE:
                return self._gre(data, pos, end, depth)
        self.skipped["other IP protocol"] += 1
        return None

    # -- tunnels ---------------------------------------------------------------------------------

    def _gtp_u(self, data: bytes, pos: int, end: int, depth: int) -> Segment | Datagram | None:
        """GTP-U (3GPP TS 29.281) G-PDU: the user's IP packet inside."""
        if end - pos < 8 or data[pos] >> 5 != 1 or not data[pos] & 0x10 or data[pos + 1] != 0xFF:
            return None
        flags = data[pos]
        p = pos + 8
        if flags & 0x07:  # sequence number, N-PDU number or extension headers present
            if p + 4 > end:
                return None
            nxt = data[p + 3]
            p += 4
            while nxt and p < end:
                hlen = data[p] * 4
                if hlen == 0 or p + hlen > end:
                    return None
                nxt = data[p + hlen - 1]
                p += hlen
        if p >= end:
            return None
        version = data[p] >> 4
        etype = ETH_IPV4 if version == 4 else ETH_IPV6 if version == 6 else 0
        return self._ip(etype, data[:end], p, depth + 1) if etype else None

    def _gre(self, data: bytes, pos: int, end: int, depth: int) -> Segment | Datagram | None:
        if end - pos < 4:
            return None
        flags, ptype = _u16(data, pos)[0], _u16(data, pos + 2)[0]
        p = pos + 4 + (4 if flags & 0x8000 else 0) + (4 if flags & 0x2000 else 0) + (4 if flags & 0x1000 else 0)
        if ptype == 0x6558:  # transparent Ethernet bridging
            return self._ethernet(data[p:end], depth + 1)
        return self._ip(ptype, data[:end], p, depth + 1)

    def _ethernet(self, data: bytes, depth: int) -> Segment | Datagram | None:
        if len(data) < 14:
            return None
        etype, off = _u16(data, 12)[0], 14
        while etype in VLAN_TAGS and len(data) >= off + 4:
            etype = _u16(data, off + 2)[0]
            off += 4
        return self._ip(etype, data, off, depth)
