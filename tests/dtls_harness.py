"""Run the DTLS core over a capture the way the pipeline will: frames -> UDP datagrams -> one
DtlsConnection per 5-tuple, found by content (`looks_like_dtls`), sides by first sender."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analyzer.dtls import DtlsConnection, looks_like_dtls
from analyzer.net.decode import Datagram, PacketDecoder
from analyzer.sources.pcap import CaptureInfo, read_frames
from analyzer.tls.keylog import KeyLog


@dataclass
class Flow:
    first: tuple[bytes, int]  # (address, port) of the side numbered 0
    conn: DtlsConnection
    events: list = field(default_factory=list)


def keylog_for(capture: Path, keylog: Path | None = None) -> KeyLog:
    """The key log file given, plus any pcapng Decryption Secrets Block in the capture."""
    kl = KeyLog()
    if keylog is not None:
        kl.add_text(keylog.read_text(), str(keylog))
    info = CaptureInfo(str(capture))
    for _ in read_frames(str(capture), info):
        pass
    for block in info.secrets:
        kl.add_secrets_block(block.secrets_type, block.data)
    return kl


def run(capture: Path, keylog: Any = None) -> list[Flow]:
    """Every DTLS flow of the capture with the events its connection emitted (end() included)."""
    decoder = PacketDecoder()
    flows: dict[tuple, Flow] = {}
    for frame in read_frames(str(capture)):
        pkt = decoder.decode(frame.linktype, frame.data)
        if not isinstance(pkt, Datagram):
            continue
        a, b = (pkt.src, pkt.sport), (pkt.dst, pkt.dport)
        key = (min(a, b), max(a, b))
        flow = flows.get(key)
        if flow is None:
            if not looks_like_dtls(pkt.payload):
                continue  # not (yet) DTLS: the pipeline decides again on the flow's next datagram
            flow = flows[key] = Flow(a, DtlsConnection(keylog))
        side = 0 if a == flow.first else 1
        flow.events += flow.conn.datagram(side, pkt.payload, frame.number, frame.ts)
    out = list(flows.values())
    for f in out:
        f.events += f.conn.end()
    return out
