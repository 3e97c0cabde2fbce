"""UDP flows that may carry TLS (QUIC, DTLS): 5-tuple keys, sides, idle ends and a cap.

UDP has no handshake to say who is the client, nor an end: a flow's side 0 is whoever sent its
first datagram (the QUIC and DTLS cores then say which side is the client), and a flow ends when
its consumer says it closed (QUIC CONNECTION_CLOSE, after `Limits.close_grace`), after
`Limits.udp_idle_timeout` without a datagram, at the capture's end, or when more than
`Limits.max_udp_flows` are open (the idlest go first; one capture warning names the cap).

Only datagrams a consumer wanted get a flow (the pipeline asks QUIC and DTLS detection first):
DNS, NTP, syslog and the like cost one dict lookup each and hold nothing. Connection ids come
from the TCP flow table (`FlowTable.new_id`), so TCP and UDP connections share one id order.
"""

from __future__ import annotations

from typing import Any

from analyzer.limits import Limits
from analyzer.net.decode import Datagram
from analyzer.net.flows import Endpoint, FlowTable, ip_text


class UdpFlow:
    """One UDP 5-tuple, both directions: counts and the consumer of its datagrams (`app`)."""

    __slots__ = ("id", "key", "rkey", "first_frame", "last_frame", "first_ts", "last_ts", "packets", "bytes",
                 "app", "end_reason", "closed_at")

    def __init__(self, cid: int, key: tuple, frame: int, ts: float) -> None:
        self.id = cid
        self.key = key  # (side 0's ip, side 1's ip, side 0's port, side 1's port), addresses raw
        self.rkey = (key[1], key[0], key[3], key[2])
        self.first_frame = self.last_frame = frame
        self.first_ts = self.last_ts = ts
        self.packets = 0
        self.bytes = [0, 0]  # UDP payload bytes by side
        self.app: Any = None  # the QUIC or DTLS consumer (analyzer/datagrams.py)
        self.end_reason = ""
        self.closed_at: float | None = None  # when the consumer saw the connection close

    def endpoint(self, side: int) -> Endpoint:
        return Endpoint(ip_text(self.key[side]), self.key[2 + side])

    def datagram(self, side: int, payload: bytes, frame: int, ts: float) -> None:
        self.last_frame, self.last_ts = frame, ts
        self.packets += 1
        self.bytes[side] += len(payload)


class UdpFlowTable:
    """The UDP flows a consumer took, by both directional 5-tuples (one dict lookup a datagram)."""

    def __init__(self, limits: Limits, ids: FlowTable) -> None:
        self.limits = limits
        self.ids = ids
        self.flows: dict[tuple, tuple[UdpFlow, int]] = {}
        self.live: dict[int, UdpFlow] = {}  # by id: creation order is id order
        self.evicted = 0

    def lookup(self, dgram: Datagram) -> tuple[UdpFlow, int] | None:
        """The flow and side of a datagram, if its 5-tuple has a live flow."""
        return self.flows.get((dgram.src, dgram.dst, dgram.sport, dgram.dport))

    def create(self, dgram: Datagram, frame: int, ts: float) -> UdpFlow:
        """A new flow whose side 0 sent this datagram."""
        key = (dgram.src, dgram.dst, dgram.sport, dgram.dport)
        flow = UdpFlow(self.ids.new_id(frame), key, frame, ts)
        self.flows[key] = (flow, 0)
        self.flows[flow.rkey] = (flow, 1)
        self.live[flow.id] = flow
        return flow

    def sweep(self, now: float) -> list[UdpFlow]:
        """Flows over by now: closed past the grace, idle, or the idlest beyond the cap (id order)."""
        limits = self.limits
        done: list[UdpFlow] = []
        open_: list[UdpFlow] = []
        for flow in self.live.values():
            if flow.closed_at is not None and now - flow.closed_at > limits.close_grace:
                flow.end_reason = flow.end_reason or "closed"
                done.append(flow)
            elif now - flow.last_ts > limits.udp_idle_timeout:
                flow.end_reason = flow.end_reason or "idle"
                done.append(flow)
            else:
                open_.append(flow)
        excess = len(open_) - limits.max_udp_flows
        if excess > 0:  # down to 3/4 of the cap, as TCP's eviction
            open_.sort(key=lambda f: f.last_ts)
            for flow in open_[:excess + limits.max_udp_flows // 4]:
                flow.end_reason = flow.end_reason or "evicted"
                done.append(flow)
                self.evicted += 1
        for flow in done:
            self._forget(flow)
        done.sort(key=lambda f: f.id)
        return done

    def over_cap(self) -> bool:
        """More flows than the cap: the pipeline sweeps at once (not at its next sweep)."""
        return len(self.live) > self.limits.max_udp_flows

    def drain(self) -> list[UdpFlow]:
        """Every flow not yet handed back (capture end), in id order."""
        out = list(self.live.values())
        self.live.clear()
        self.flows.clear()
        return out

    @property
    def lowest_open(self) -> int | None:
        """The lowest id that may still be reported (None: none), for the pipeline's watermark: a
        flow whose consumer gave up (`app` None) only swallows datagrams until it goes idle."""
        for cid, flow in self.live.items():
            if flow.app is not None:
                return cid
        return None

    def _forget(self, flow: UdpFlow) -> None:
        self.live.pop(flow.id, None)
        for key in (flow.key, flow.rkey):
            hit = self.flows.get(key)
            if hit is not None and hit[0] is flow:
                del self.flows[key]

    def summary(self) -> list[str]:
        if not self.evicted:
            return []
        return [f"{self.evicted} UDP flows ended before they went quiet: more than {self.limits.max_udp_flows} "
                "QUIC/DTLS flows were open at once (max_udp_flows); the idlest went first and each says "
                "'evicted' as its end"]
