"""Frame bytes -> TCP segment fields: link layers (Ethernet, SLL/SLL2, raw IP, BSD loopback, PPP,
NFLOG), VLAN/QinQ and 802.1ah tags, PPPoE, MPLS, IPv4 (with fragments: net/fragments.py), IPv6, tunnels (GRE and
ERSPAN, IP-in-IP, GTP-U, VXLAN), TCP and UDP.

The hot path of the whole tool: plain tuples and `struct` at fixed offsets, no objects per layer.
A frame that is not TCP/UDP over IP yields None, never an exception; when it could have held
TCP (cut short, a header we cannot read, an encapsulation we do not know) it is counted by cause.
"""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass
from typing import Final

from analyzer.limits import Limits
from analyzer.net.fragments import FragmentCache
from analyzer.sources.shard import plain_ipv4_tcp

ETH_IPV4: Final = 0x0800
ETH_IPV6: Final = 0x86DD
VLAN_TAGS: Final = (0x8100, 0x88A8, 0x9100, 0x9200)
LINKTYPE_NULL: Final = 0
LINKTYPE_ETHERNET: Final = 1
LINKTYPE_RAW: Final = 101
LINKTYPE_LOOP: Final = 108
LINKTYPE_SLL: Final = 113
LINKTYPE_SLL2: Final = 276
LINKTYPE_IPV4: Final = 228
LINKTYPE_IPV6: Final = 229
LINKTYPE_PPP: Final = 9
LINKTYPE_PPP_HDLC: Final = 50  # PPP in HDLC-like framing (RFC 1662)
LINKTYPE_NFLOG: Final = 239
RAW_ALIASES: Final = (12, 14)  # DLT_RAW as some systems write it
ETH_PPPOE: Final = 0x8864  # PPPoE session stage
ETH_MPLS: Final = (0x8847, 0x8848)  # unicast, multicast
ETH_PBB: Final = 0x88E7  # IEEE 802.1ah I-TAG
# ethertypes that carry no IP: counted nowhere (ARP, RARP, LLDP, EAPOL, slow protocols, PPPoE
# discovery, loopback, PTP, CFM, MRP, IEEE 1905, Wake-on-LAN)
NOT_IP: Final = frozenset((0x0806, 0x8035, 0x88CC, 0x888E, 0x8809, 0x8863, 0x9000, 0x88F7, 0x8902, 0x88E3,
                           0x893A, 0x0842))
ETHERNET_PAYLOADS: Final = frozenset((ETH_IPV4, ETH_IPV6, ETH_PPPOE, ETH_PBB, *ETH_MPLS, *VLAN_TAGS))
GRE_BRIDGED: Final = 0x6558
GRE_ERSPAN_2: Final = 0x88BE  # ERSPAN type I and II
GRE_ERSPAN_3: Final = 0x22EB
PPP_IPV4: Final = 0x0021
PPP_IPV6: Final = 0x0057
PPP_MPLS: Final = (0x0281, 0x0283)
NFULA_PAYLOAD: Final = 9
AF_INET: Final = 2
AF_INET6: Final = 10
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


def _be32(buf: bytes, at: int) -> int:
    return buf[at] << 24 | buf[at + 1] << 16 | buf[at + 2] << 8 | buf[at + 3]


@dataclass(slots=True, init=False)
class Segment:
    """A TCP segment's fields that reassembly needs; addresses are raw 4- or 16-byte strings."""

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


class PacketDecoder:
    """Decodes frames of any supported link type. A frame that yields no TCP segment or UDP
    datagram is counted in `undecoded` by cause when it may have held one (cut short, a header
    we cannot read, an encapsulation we do not know); traffic that is plainly something else
    (ARP, LLDP, ICMP, PPP control, ...) is not."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.fragments = FragmentCache(limits)
        self.undecoded: Counter[str] = Counter()

    def finish(self) -> dict[str, int]:
        """At the end of the capture: the undecoded counts, fragments never completed included."""
        self.fragments.finish()
        if self.fragments.frames_lost:
            self.undecoded["IP fragments never reassembled"] = self.fragments.frames_lost
            self.fragments.frames_lost = 0
        return dict(sorted(self.undecoded.items()))

    def _skip(self, cause: str) -> None:
        self.undecoded[cause] += 1

    def decode(self, linktype: int, data: bytes) -> Segment | Datagram | None:
        """Return the TCP segment or UDP datagram in a frame, or None (counted in `undecoded`)."""
        if linktype == LINKTYPE_ETHERNET:
            # fast path for the common case, Ethernet + IPv4 without options or fragments + TCP, read
            # byte by byte (compiled, that boxes nothing); anything unusual takes the long way
            if plain_ipv4_tcp(data, 0):
                total, doff = data[16] << 8 | data[17], data[46] >> 4
                if doff >= 5 and total >= 20 + doff * 4:
                    end = 14 + total
                    return Segment(data[26:30], data[30:34], data[34] << 8 | data[35], data[36] << 8 | data[37],
                                   _be32(data, 38), _be32(data, 42), data[47],
                                   data[34 + doff * 4:end if end < len(data) else len(data)])
            return self._ethernet(data, 0)
        if linktype == LINKTYPE_SLL:
            if len(data) < 16:
                self._skip("truncated link-layer header")
                return None
            etype, off = _u16(data, 14)[0], 16
        elif linktype == LINKTYPE_SLL2:
            if len(data) < 20:
                self._skip("truncated link-layer header")
                return None
            etype, off = _u16(data, 0)[0], 20
        elif linktype in (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6) or linktype in RAW_ALIASES:
            if not data:
                self._skip("empty frame")
                return None
            etype, off = (ETH_IPV4 if data[0] >> 4 == 4 else ETH_IPV6), 0
        elif linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
            if len(data) < 4:
                self._skip("truncated link-layer header")
                return None
            fam = struct.unpack_from(">I" if linktype == LINKTYPE_LOOP else "<I", data, 0)[0]
            if fam > 0xFFFF:  # written in the other byte order
                fam = int.from_bytes(data[:4], "big" if linktype != LINKTYPE_LOOP else "little")
            if fam == NULL_FAMILY_IPV4:
                etype = ETH_IPV4
            elif fam in NULL_FAMILY_IPV6:
                etype = ETH_IPV6
            else:
                self._skip(f"unsupported address family {fam}")
                return None
            off = 4
        elif linktype == LINKTYPE_NFLOG:
            return self._nflog(data)
        elif linktype == LINKTYPE_PPP or linktype == LINKTYPE_PPP_HDLC:
            return self._ppp(data, 2 if data[:2] == b"\xff\x03" else 0, len(data), 0)
        else:
            self._skip(f"unsupported link type {linktype}")
            return None
        return self._ip(etype, data, off, 0)

    def _ip(self, etype: int, data: bytes, off: int, depth: int) -> Segment | Datagram | None:
        """Whatever an ethertype says follows at data[off:] (IP, or a shim or tunnel before it)."""
        if etype == ETH_IPV4:
            return self._ipv4(data, off, depth)
        if etype == ETH_IPV6:
            return self._ipv6(data, off, depth)
        if depth < MAX_TUNNEL_DEPTH:
            if etype == ETH_PPPOE:
                return self._pppoe(data, off, depth)
            if etype in ETH_MPLS:
                return self._mpls(data, off, depth)
            if etype == ETH_PBB:
                return self._pbb(data, off, depth)
        if etype in NOT_IP or etype <= 1500:  # nothing TLS could be in (<= 1500: an 802.3 length, LLC)
            return None
        self._skip(f"unsupported ethertype 0x{etype:04x}")
        return None

    def _ipv4(self, data: bytes, off: int, depth: int = 0) -> Segment | Datagram | None:
        if len(data) < off + 20:
            self._skip("truncated IPv4 header")
            return None
        vihl, total, ident, frag, _ttl, proto = _ipv4(data, off)
        ihl = (vihl & 0x0F) * 4
        if vihl >> 4 != 4 or ihl < 20 or total < ihl or len(data) < off + ihl:
            self._skip("bad IPv4 header")
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
            self._skip("truncated IPv6 header")
            return None
        plen = _u16(data, off + 4)[0]
        nxt = data[off + 6]
        src, dst = data[off + 8:off + 24], data[off + 24:off + 40]
        end = min(off + 40 + plen, len(data)) if plen else len(data)
        pos = off + 40
        while True:
            if nxt in IPV6_EXT_HEADERS or nxt == IPV6_AH:
                if pos + 2 > end:
                    self._skip("truncated IPv6 extension header")
                    return None
                hlen = (data[pos + 1] + 2) * 4 if nxt == IPV6_AH else (data[pos + 1] + 1) * 8
                nxt, pos = data[pos], pos + hlen
            elif nxt == IPV6_FRAGMENT:
                if pos + 8 > end:
                    self._skip("truncated IPv6 extension header")
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
                self._skip("truncated TCP header")
                return None
            sport, dport, seq, ack, doff, flags = _tcp(data, pos)
            hlen = (doff >> 4) * 4
            if hlen < 20 or pos + hlen > end:
                self._skip("bad TCP header")
                return None
            return Segment(src, dst, sport, dport, seq, ack, flags, data[pos + hlen:end])
        if proto == IPPROTO_UDP:
            if end - pos < 8:
                self._skip("truncated UDP header")
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
        return None  # ICMP, ESP, OSPF, ...: IP that carries no TCP or UDP

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
            self._skip("truncated tunnel header")
            return None
        flags, ptype = _u16(data, pos)[0], _u16(data, pos + 2)[0]
        p = pos + 4 + (4 if flags & 0x8000 else 0) + (4 if flags & 0x2000 else 0) + (4 if flags & 0x1000 else 0)
        if ptype == GRE_BRIDGED:  # transparent Ethernet bridging
            return self._ethernet(data[p:end], depth + 1)
        if ptype == GRE_ERSPAN_2:  # ERSPAN type II has an 8-byte header (GRE sequence number set); type I none
            return self._ethernet(data[p + (8 if flags & 0x1000 else 0):end], depth + 1)
        if ptype == GRE_ERSPAN_3:  # ERSPAN type III: 12 bytes, 8 more with the platform sub-header (O bit)
            if p + 12 > end:
                self._skip("truncated tunnel header")
                return None
            return self._ethernet(data[p + (20 if data[p + 11] & 1 else 12):end], depth + 1)
        return self._ip(ptype, data[:end], p, depth + 1)

    def _ethernet(self, data: bytes, depth: int) -> Segment | Datagram | None:
        if len(data) < 14:
            self._skip("truncated Ethernet header")
            return None
        etype, off = _u16(data, 12)[0], 14
        while etype in VLAN_TAGS and len(data) >= off + 4:
            etype = _u16(data, off + 2)[0]
            off += 4
        return self._ip(etype, data, off, depth)

    def _pppoe(self, data: bytes, off: int, depth: int) -> Segment | Datagram | None:
        """PPPoE session stage (RFC 2516): version/type, code, session id, length, then PPP."""
        if len(data) < off + 8:
            self._skip("truncated PPPoE header")
            return None
        end = min(off + 6 + _u16(data, off + 4)[0], len(data))
        return self._ppp(data[:end], off + 6, end, depth + 1)

    def _ppp(self, data: bytes, pos: int, end: int, depth: int) -> Segment | Datagram | None:
        """A PPP frame's protocol field (1 byte when compressed, RFC 1661 6.5) and what it carries."""
        if pos >= end:
            self._skip("truncated PPP header")
            return None
        if data[pos] & 1:
            proto, pos = data[pos], pos + 1
        elif pos + 2 <= end:
            proto, pos = _u16(data, pos)[0], pos + 2
        else:
            self._skip("truncated PPP header")
            return None
        if proto == PPP_IPV4:
            return self._ipv4(data[:end], pos, depth)
        if proto == PPP_IPV6:
            return self._ipv6(data[:end], pos, depth)
        if proto in PPP_MPLS and depth < MAX_TUNNEL_DEPTH:
            return self._mpls(data[:end], pos, depth + 1)
        if proto < 0x4000:  # a network-layer protocol we do not read (0x4000 and up: control, LCP, ...)
            self._skip(f"unsupported PPP protocol 0x{proto:04x}")
        return None

    def _mpls(self, data: bytes, off: int, depth: int) -> Segment | Datagram | None:
        """An MPLS label stack (RFC 3032), then IPv4 or IPv6 (told by the first nibble, as Wireshark
        does), else an Ethernet pseudowire (RFC 4448), with its control word when the ethertype after
        one is one we read (Wireshark guesses from the MAC addresses' vendors instead)."""
        while True:
            if len(data) < off + 4:
                self._skip("truncated MPLS label stack")
                return None
            bottom = data[off + 2] & 1
            off += 4
            if bottom:
                break
        if len(data) <= off:
            self._skip("truncated MPLS label stack")
            return None
        nibble = data[off] >> 4
        if nibble == 4:
            return self._ipv4(data, off, depth)
        if nibble == 6:
            return self._ipv6(data, off, depth)
        if nibble == 0 and len(data) >= off + 18 and _u16(data, off + 16)[0] in ETHERNET_PAYLOADS:
            return self._ethernet(data[off + 4:], depth + 1)  # control word, then the frame
        if len(data) >= off + 14 and _u16(data, off + 12)[0] in ETHERNET_PAYLOADS:
            return self._ethernet(data[off:], depth + 1)
        self._skip("unsupported MPLS payload")
        return None

    def _pbb(self, data: bytes, off: int, depth: int) -> Segment | Datagram | None:
        """IEEE 802.1ah (provider backbone bridging): the I-TAG, then the customer's Ethernet frame."""
        return self._ethernet(data[off + 4:], depth + 1)

    def _nflog(self, data: bytes) -> Segment | Datagram | None:
        """Linux NFLOG: family, version, resource id, then TLVs whose length and type are in the
        capturing host's byte order (told from the first TLV); the packet is NFULA_PAYLOAD."""
        if len(data) < 8:
            self._skip("truncated NFLOG header")
            return None
        order = "<H" if 4 <= struct.unpack_from("<H", data, 4)[0] <= len(data) - 4 else ">H"
        pos = 4
        while pos + 4 <= len(data):
            length = struct.unpack_from(order, data, pos)[0]
            tlv_type = struct.unpack_from(order, data, pos + 2)[0] & 0x7FFF  # (NLA_F_NESTED off)
            if length < 4 or pos + length > len(data):
                break
            if tlv_type == NFULA_PAYLOAD:
                if data[0] == AF_INET or (data[0] != AF_INET6 and length > 4 and data[pos + 4] >> 4 == 4):
                    return self._ipv4(data[:pos + length], pos + 4, 0)
                return self._ipv6(data[:pos + length], pos + 4, 0)
            pos += (length + 3) & ~3
        self._skip("NFLOG record without a packet")
        return None
