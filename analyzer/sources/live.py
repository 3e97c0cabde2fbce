"""Live capture with scapy: raw frames from a PF_PACKET socket into the same pipeline as files.

scapy only opens the socket, compiles the BPF filter and hands back raw bytes; no scapy packet is
built per frame. Loopback's outgoing copies are dropped (as tcpdump does). While no packet comes,
a TICK frame every `tick` seconds lets idle connections be reported.
"""

from __future__ import annotations

import logging
import os
import signal
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from analyzer.errors import BackendUnavailable, UsageError
from analyzer.sources.pcap import TICK, Frame

SOL_PACKET, PACKET_STATISTICS = 263, 6
# ARPHRD (the interface's hardware type) -> pcap link type of the frames read from it
ARPHRD_LINKTYPES = {1: 1, 772: 1, 65534: 101, 776: 101, 778: 101, 280: 113, 519: 101}


@dataclass(slots=True)
class LiveStats:
    packets: int = 0
    kernel_drops: int = 0
    started: float = field(default_factory=time.monotonic)


def interfaces() -> list[str]:
    try:
        return sorted(os.listdir("/sys/class/net"))
    except OSError:
        return []


class LiveCapture:
    def __init__(self, iface: str, bpf: str | None = None, snaplen: int = 262144, count: int | None = None,
                 duration: float | None = None, tick: float = 0.25) -> None:
        self.iface, self.snaplen, self.count, self.duration, self.tick = iface, snaplen, count, duration, tick
        self.stats = LiveStats()
        self.stopped_by: int | None = None  # the signal that asked the capture to stop
        if iface not in interfaces():
            raise UsageError(f"no interface named {iface!r}",
                             "available: " + (", ".join(interfaces()) or "none found"))
        try:
            logging.getLogger("scapy.runtime").setLevel(logging.ERROR)  # no warnings on our stderr
            from scapy.arch.linux import L2Socket  # imported here: scapy is slow to import

            self.sock: Any = L2Socket(iface=iface, filter=bpf)
        except PermissionError:
            raise BackendUnavailable(f"no permission to capture on {iface}",
                                     "run as root, or: setcap cap_net_raw,cap_net_admin=eip "
                                     "$(readlink -f $(which python3))") from None
        except Exception as exc:  # noqa: BLE001 - scapy reports a bad filter as Scapy_Exception
            if bpf and "filter" in str(exc).lower():
                raise UsageError(f"invalid BPF filter {bpf!r}", str(exc).splitlines()[-1][:160]) from None
            raise BackendUnavailable(f"cannot capture on {iface}: {exc}", "is tcpdump installed?") from None
        self.linktype = ARPHRD_LINKTYPES.get(self.sock.ins.getsockname()[3], 1)

    def frames(self) -> Iterator[Frame]:
        from scapy.supersocket import SuperSocket

        sock, index = self.sock, 0
        deadline = None if self.duration is None else time.monotonic() + self.duration
        last_tick = time.monotonic()
        try:
            while (self.count is None or index < self.count) and self.stopped_by is None:
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    break
                wait = self.tick if deadline is None else max(0.0, min(self.tick, deadline - now))
                if SuperSocket.select([sock], wait):
                    _cls, data, ts = sock.recv_raw(self.snaplen)
                    if data is None:  # an outgoing copy on loopback
                        continue
                    index += 1
                    self.stats.packets = index
                    yield Frame(index, ts or time.time(), self.linktype, data[: self.snaplen])
                if time.monotonic() - last_tick >= self.tick:
                    last_tick = time.monotonic()
                    yield Frame(index, time.time(), TICK, b"")
        finally:
            self.close()

    def stop(self, signum: int) -> None:
        """End the capture at the next packet or tick (at most `tick` seconds): safe in a signal handler."""
        self.stopped_by = signum

    def close(self) -> None:
        if self.sock is not None:
            try:
                packets, drops = struct.unpack("II", self.sock.ins.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
                self.stats.kernel_drops += drops
            except OSError:
                pass
            self.sock.close()
            self.sock = None


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def stop_on_signals(capture: LiveCapture) -> Callable[[], None]:
    """SIGINT and SIGTERM stop `capture` cleanly; a second one raises KeyboardInterrupt. Installed
    whatever the current disposition: a shell starts background jobs with SIGINT ignored. Returns
    what puts the previous handlers back (nothing is installed outside the main thread)."""
    def handle(signum: int, frame: object) -> None:
        if capture.stopped_by is not None:
            raise KeyboardInterrupt
        capture.stop(signum)

    previous = {}
    try:
        for sig in STOP_SIGNALS:
            previous[sig] = signal.signal(sig, handle)
    except ValueError:  # not the main thread: the caller's own handling stays
        pass

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
    return restore
