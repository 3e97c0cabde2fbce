"""Which frames a sharded reader may leave unread, told from their first header bytes alone.

A parallel worker (analyzer/parallel.py) keeps the TCP connections whose port sum falls in its
shard; the frames of other shards it need not even copy. Only the common layout is recognised
here (Ethernet, IPv4 without options and not a fragment, TCP); anything else is read and sorted
by the decoder. The decoder's fast path reads the same layout (analyzer/net/decode.py).
"""

from __future__ import annotations

from typing import Final

LINKTYPE_ETHERNET: Final = 1
IPPROTO_TCP: Final = 6


def plain_ipv4_tcp(buf: bytes, start: int, end: int = -1) -> bool:
    """Whether the Ethernet frame at buf[start:end] (end -1: the buffer's end) carries IPv4 without
    options, not a fragment, and TCP with both ports: the layout the fast paths read directly."""
    return ((end if end >= 0 else len(buf)) - start >= 54 and buf[start + 12] == 8 and buf[start + 13] == 0
            and buf[start + 14] == 0x45 and buf[start + 23] == IPPROTO_TCP
            and not (buf[start + 20] & 0x3F or buf[start + 21]))


def other_shard(linktype: int, buf: bytes, start: int, end: int, shard: int, shards: int) -> bool:
    """Whether the frame at buf[start:end] is a plain Ethernet/IPv4/TCP segment of another shard
    (its port sum modulo `shards` is not `shard`), so a sharded reader drops it before it is copied
    or decoded. Anything else: False (decoded and sorted later)."""
    return (linktype == LINKTYPE_ETHERNET and plain_ipv4_tcp(buf, start, end)
            and buf[start + 46] >> 4 >= 5  # a TCP header the fast path reads (others are counted if bad)
            and ((buf[start + 34] << 8 | buf[start + 35]) + (buf[start + 36] << 8 | buf[start + 37])) % shards != shard)
