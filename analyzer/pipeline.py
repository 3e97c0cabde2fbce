"""Wires the stages: frames -> segments -> TCP events -> TLS events -> `Connection` facts ->
`Report`s (the facts judged); UDP datagrams -> QUIC/DTLS flows -> the same facts and reports.

The only module that knows every layer. Streams: reports are handed out as their connections
end, so memory depends on the connections open at once, not on the capture's length.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from analyzer.analysis.rulebook import Judge
from analyzer.assemble import ConnectionBuilder
from analyzer.limits import Limits
from analyzer.net.decode import Datagram, PacketDecoder, Segment
from analyzer.net.flows import FlowTable, TcpConnection
from analyzer.net.udp import UdpFlow, UdpFlowTable
from analyzer.report.build import judge
from analyzer.report.connection import Report
from analyzer.sources.pcap import TICK, Frame

if TYPE_CHECKING:
    from analyzer.datagrams import DatagramBuilder

SWEEP_EVERY: Final = 8192  # frames between looks for connections to hand out (more with many open: see _run)


@dataclass(slots=True)
class Stats:
    frames: int = 0
    udp_datagrams: int = 0
    connections: int = 0
    handed_out: int = 0  # connections handed out: the TLS ones (every one at depth "tcp")
    evicted: int = 0
    undecoded: dict[str, int] = field(default_factory=dict)  # frames that may have held TCP, by cause
    warnings: list[str] = field(default_factory=list)


class Pipeline:
    """Run frames through every stage. `depth="tcp"` stops after reassembly."""

    def __init__(self, limits: Limits | None = None, depth: str = "tls",
                 shard: tuple[int, int] | None = None, early: bool = False, keylog: Any = None,
                 policy: Any = None) -> None:
        self.limits = limits = limits or Limits()
        self.decoder = PacketDecoder(limits)
        self.flows = FlowTable(limits, discard=depth == "tcp")
        self.udp = UdpFlowTable(limits, self.flows)  # QUIC and DTLS flows (not at depth "tcp")
        self.depth = depth
        self.stats = Stats()
        self.shard = shard  # (k, n): only connections whose port sum is k mod n (see parallel.py)
        self.early = early  # live: hand a connection out as soon as its handshake settles
        self._watermark = 0
        self._udp_full = False  # more UDP flows than max_udp_flows: sweep them now
        self.keylog = keylog  # analyzer.tls.keylog.KeyLog: secrets to decrypt with (may grow while reading)
        self._udp_stack: Any = None  # analyzer.datagrams, loaded with the first UDP datagram (see _datagram)
        # the findings' policy, made ready once (a Judge given is used as it is; None: the default profile)
        self.judge = policy if isinstance(policy, Judge) else Judge(policy)

    def run(self, frames: Iterable[Frame]) -> Iterator[Report]:
        """Reports as their connections end. The cyclic GC is paused while the pipeline works (its
        objects hold no reference cycles once reported, and with millions of live objects GC passes
        would otherwise cost as much as the decoding itself), and given back as it was whenever a
        report is handed out: the caller's code between reports runs as it would anyway."""
        work = self._run(frames)
        restore = gc.isenabled()
        while True:
            gc.disable()
            try:
                report = next(work, None)
            finally:
                if restore:
                    gc.enable()
            if report is None:
                return
            yield report

    def _run(self, frames: Iterable[Frame]) -> Iterator[Report]:
        # typed calls, not bound methods kept in locals: compiled, those are native calls
        decoder, flows = self.decoder, self.flows
        stats = self.stats
        n = 0
        ts = 0.0
        out: list = []
        shard, shards = self.shard or (0, 1)
        early = self.early
        udp_on = self.depth != "tcp"  # (QUIC and DTLS are TLS: not read at depth "tcp")
        next_sweep = SWEEP_EVERY
        for n, ts, linktype, data in frames:
            if linktype == TICK:  # a live source's clock: time passes without packets
                yield from self._sweep(ts)
                continue
            pkt = decoder.decode(linktype, data)
            if not isinstance(pkt, Segment):
                if isinstance(pkt, Datagram):
                    stats.udp_datagrams += 1
                    if udp_on and (shards == 1 or (pkt.sport + pkt.dport) % shards == shard):
                        report = self._datagram(pkt, n, ts)
                        if report is not None:
                            yield report
                        if self._udp_full:  # a new flow passed the cap: it holds between sweeps too
                            self._udp_full = False
                            yield from self._report([], self.udp.sweep(ts))
                continue
            if shards > 1 and (pkt.sport + pkt.dport) % shards != shard:
                continue
            hit = flows.lookup(pkt, n, ts)
            if hit is None:
                continue
            conn, d = hit
            conn.segment(d, pkt, n, ts, out)
            if out:  # (a connection that never carried a byte never gets a builder: see FlowTable)
                app: ConnectionBuilder | None = conn.app
                if app is None:
                    app = conn.app = ConnectionBuilder(conn, self.keylog, self.limits)
                app.feed(out)
                out.clear()
                if early and app.settled and not app.reported:
                    app.reported = True
                    self.stats.connections += 1
                    self.stats.handed_out += 1
                    yield judge(app.finish(), self.judge)
            if n >= next_sweep:  # (frame numbers skip those a sharded reader left out)
                yield from self._sweep(ts)
                # a sweep visits every open connection: with many open, the next waits about as many
                # frames (time stays linear), or fewer when that many new ones could pass the cap
                live = len(flows.live)
                next_sweep = n + max(SWEEP_EVERY, min(live, self.limits.max_connections - live))
        stats.frames = n
        yield from self._report(self.flows.drain(), self.udp.drain())
        stats.evicted = self.flows.evicted
        stats.undecoded = self.decoder.finish()
        stats.warnings.extend(self.decoder.fragments.summary())
        stats.warnings.extend(self.flows.summary())
        stats.warnings.extend(self.udp.summary())

    @property
    def watermark(self) -> int:
        """Every connection with a lower id has been handed out (or was not TLS): output sorted by
        id can be released up to here while the capture is still being read."""
        return self._watermark

    def _datagram(self, pkt: Datagram, n: int, ts: float) -> Report | None:
        """A UDP datagram to its QUIC/DTLS flow; one that starts none (DNS, ...) costs a lookup and a
        look at its first bytes. A report when live mode hands a settled handshake out early."""
        udp = self.udp
        hit = udp.lookup(pkt) if udp.flows else None
        if hit is None:
            stack = self._udp_stack
            if stack is None:  # QUIC, DTLS and their ciphers load here: a capture without UDP never pays for them
                from analyzer import datagrams
                stack = self._udp_stack = datagrams
            transport = stack.detect(pkt.payload)
            if transport is None:
                return None
            flow = udp.create(pkt, n, ts)
            flow.app = stack.DatagramBuilder(transport, flow, self.keylog, self.limits)
            self._udp_full = udp.over_cap()
            side = 0
        else:
            flow, side = hit
        flow.datagram(side, pkt.payload, n, ts)
        if flow.app is None:  # not QUIC after all, or out already (live): swallowed until it goes idle
            return None
        app: DatagramBuilder = flow.app
        app.datagram(side, pkt.payload, n, ts)
        if app.ignored:
            flow.app = None  # (nothing kept; and no report will come: the watermark passes it)
            return None
        if app.closed and flow.closed_at is None:
            flow.closed_at = ts
        if self.early and app.settled:  # live: out now; later datagrams are only counted
            flow.app = None
            self.stats.connections += 1
            self.stats.handed_out += 1
            return judge(app.finish(), self.judge)
        return None

    def _sweep(self, now: float) -> Iterator[Report]:
        yield from self._report(self.flows.sweep(now), self.udp.sweep(now))

    def _report(self, conns: list[TcpConnection], flows: list[UdpFlow] | None = None) -> Iterator[Report]:
        """Hand out a batch (in id order) from a sweep or the drain. The watermark follows each one:
        every lower id is in the batch or out already, so output waits for nothing it need not (at
        the end of a capture with 100,000 connections open, all of their JSON would wait)."""
        final = self.flows.lowest_open  # set by the sweep or drain that made the batch
        udp_open = self.udp.lowest_open
        if udp_open is not None:
            final = min(final, udp_open)
        batch: list[TcpConnection | UdpFlow] = list(conns)
        if flows:
            batch = sorted(batch + list(flows), key=_id)
        for tcp in batch:
            self._watermark = max(self._watermark, min(tcp.id + 1, final))
            if isinstance(tcp, UdpFlow):
                report = self._finish_udp(tcp)
                if report is not None:
                    yield report
                continue
            if tcp.app is None and self.depth == "tcp":  # listed even if it never carried a byte
                tcp.app = ConnectionBuilder(tcp, None, self.limits)
            if not tcp.closed:
                out: list = []
                tcp.finish("capture end" if not tcp.end_reason else tcp.end_reason, out)
                if tcp.app is not None and out:
                    tcp.app.feed(out)
            self.flows.retire(tcp)
            builder = tcp.app
            conn = builder.finish() if builder is not None and not builder.reported else None
            tcp.app = None  # the tombstone only swallows late packets: keep nothing else
            tcp.halves = ()
            if conn is None:
                continue  # no bytes at all, or handed out already when its handshake settled
            self.stats.connections += 1
            if conn.tls or self.depth == "tcp":
                self.stats.handed_out += 1
                yield judge(conn, self.judge)
        self._watermark = max(self._watermark, final)

    def _finish_udp(self, flow: UdpFlow) -> Report | None:
        """A UDP flow that ended: its report, unless it never was QUIC/DTLS or went out early (live)."""
        if flow.app is None:
            return None
        app: DatagramBuilder = flow.app
        flow.app = None
        app.end()
        if app.ignored:
            return None
        self.stats.connections += 1
        conn = app.finish()
        if not conn.tls:
            return None
        self.stats.handed_out += 1
        return judge(conn, self.judge)


def _id(conn: TcpConnection | UdpFlow) -> int:
    return conn.id
