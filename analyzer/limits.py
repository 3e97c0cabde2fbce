"""Every resource a capture can make us hold, with its cap: one dataclass, documented in the README.

A passive analyzer reads what anyone on the path can shape. Each cap below bounds what one
sender can make us keep; reaching one is a warning that names it (once per connection, or once
per capture for the global ones), after which the excess is counted, not kept. The defaults keep
a worst-case capture within a few hundred MiB while no real capture we know of reaches any of
them. The Pipeline hands the same `Limits` to every layer; `--jobs N` splits the global TCP
caps between the workers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps and timeouts. Sizes are bytes, times are capture-time seconds."""

    # reading (analyzer/sources/pcap.py)
    max_frame_bytes: int = 256 << 10  # a record's captured length (Wireshark's limit for Ethernet)
    max_block_bytes: int = 16 << 20  # a pcapng block (a Decryption Secrets Block can be large)
    max_capture_warnings: int = 100  # capture-level warnings listed; the rest are counted
    # IP fragments (analyzer/net/fragments.py)
    max_fragment_sets: int = 1024  # datagrams being reassembled at once; the oldest is dropped
    max_fragments: int = 8192  # fragments held for one datagram (8 bytes each is 8191 for 64 KiB)
    max_fragment_bytes: int = 16 << 20  # fragment bytes held over all datagrams; the oldest go first
    # TCP (analyzer/net/tcp.py, flows.py)
    max_connections: int = 100_000  # connections held at once; the idlest are evicted beyond it
    max_pending_bytes: int = 4 << 20  # out-of-order bytes held per direction
    max_pending_segments: int = 4096  # out-of-order segments held per direction
    max_pending_total: int = 256 << 20  # out-of-order bytes held over all connections
    idle_timeout: float = 600.0  # without a packet for this long, a connection is over
    close_grace: float = 2.0  # after both FINs or a RST, late packets this close still count
    tombstone_timeout: float = 30.0  # until then, later packets are swallowed, not a new connection
    max_tombstones: int = 4096  # connections reported and still swallowing late packets; the oldest go first
    # UDP: QUIC and DTLS flows (analyzer/net/udp.py; the per-flow caps are the cores', analyzer/quic, analyzer/dtls)
    max_udp_flows: int = 10_000  # QUIC/DTLS candidate flows held at once; the idlest are ended beyond it
    udp_idle_timeout: float = 120.0  # a UDP flow without a datagram for this long is over
    # TLS (analyzer/tls/connection.py, decoders.py; analyzer/assemble.py)
    max_handshake_bytes: int = 1 << 20  # one handshake message; larger ones are skipped
    max_certificates: int = 64  # certificates kept from one Certificate message
    max_messages: int = 10_000  # messages (and runs of application data) kept per connection
    max_message_bytes: int = 8 << 20  # bytes of handshake messages kept per connection
    max_warnings: int = 100  # warnings kept per connection

    def split(self, parts: int) -> Limits:
        """The share of one of `parts` worker processes, each holding its own connections: the
        global TCP caps divided. (Every worker reassembles every IP fragment, so those stay.)"""
        if parts <= 1:
            return self
        from dataclasses import replace

        return replace(self, max_connections=max(1, self.max_connections // parts),
                       max_tombstones=max(1, self.max_tombstones // parts),
                       max_pending_total=max(1, self.max_pending_total // parts),
                       max_udp_flows=max(1, self.max_udp_flows // parts))
