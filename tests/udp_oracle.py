"""A reusable harness for TLS-over-UDP cores (QUIC now, DTLS next) against the corpus's tshark oracles.

It does what the pipeline will do once it reads UDP, in the smallest way: frames from
analyzer.sources.pcap, UDP datagrams from analyzer.net.decode, datagrams grouped by their
5-tuple (either direction; side 0 is whoever sent first), each flow fed to a sans-IO core made by
`make_core(keylog)` once a datagram passes `prefilter`. Key logs: the MANIFEST's files, plus the
pcapng Decryption Secrets Blocks met while reading. The comparison of a tshark handshake row with
one of our messages uses the fields /work/shared/tools/fidelity.py compares.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analyzer.net.decode import Datagram, PacketDecoder
from analyzer.sources.pcap import CaptureInfo, read_frames
from analyzer.tls.events import Message
from analyzer.tls.keylog import KeyLog


def oracle_rows(oracle: Path, proto: str) -> list[dict]:
    """tshark's handshake rows of one protocol ("quic", "dtls") with a visible type."""
    return [h for h in json.loads(oracle.read_text())["handshakes"]
            if h.get("proto") == proto and isinstance(h.get("handshake_type"), int)]


def captures_with(corpus: Path, proto: str, decrypted: bool = False) -> Iterator[tuple[Path, Path]]:
    """(capture, oracle) for every corpus capture whose oracle has rows of `proto`."""
    suffix = ".tshark-decrypted.json" if decrypted else ".tshark.json"
    for oracle in sorted(corpus.rglob("*" + suffix)):
        if oracle_rows(oracle, proto):
            yield Path(str(oracle)[: -len(suffix)]), oracle


def manifest_keylogs(corpus: Path) -> dict[str, Path]:
    """Capture path relative to the corpus -> its key log, as MANIFEST.tsv names it."""
    out = {}
    for row in (corpus / "MANIFEST.tsv").read_text().splitlines()[1:]:
        f = row.split("\t")
        if len(f) > 7 and f[7].startswith("yes ("):
            out[f[2]] = corpus / f[2].split("/")[0] / f[7][5:-1]
    return out


@dataclass
class Flow:
    key: tuple
    core: Any = None
    events: list = field(default_factory=list)


def run_core(capture: Path, make_core: Callable[[KeyLog | None], Any], prefilter: Callable[[bytes], bool],
             keylog_path: Path | None = None, use_keys: bool = False) -> list[Flow]:
    """Every UDP flow of the capture that passed the prefilter, with the events its core gave."""
    keylog = KeyLog()
    if keylog_path is not None and use_keys:
        keylog.add_text(keylog_path.read_text(errors="replace"), str(keylog_path))
    info = CaptureInfo(str(capture))
    on_secrets = (lambda b: keylog.add_secrets_block(b.secrets_type, b.data)) if use_keys else None
    decoder = PacketDecoder()
    flows: dict[tuple, Flow] = {}
    order: list[Flow] = []
    for frame in read_frames(str(capture), info, on_secrets=on_secrets):
        pkt = decoder.decode(frame.linktype, frame.data)
        if not isinstance(pkt, Datagram):
            continue
        a, b = (pkt.src, pkt.sport), (pkt.dst, pkt.dport)
        key = (a, b) if (a, b) <= (b, a) else (b, a)
        flow = flows.get(key)
        if flow is None:
            flow = flows[key] = Flow(key=(a, b))
        side = 0 if (a, b) == flow.key else 1
        if flow.core is None:
            if not prefilter(pkt.payload):
                continue
            flow.core = make_core(keylog if use_keys else None)
            order.append(flow)
        flow.events += flow.core.datagram(side, pkt.payload, frame.number, frame.ts)
    for flow in order:
        flow.events += flow.core.end()
    return order


def messages_by_key(flows: list[Flow]) -> dict[tuple[int, int], list[Message]]:
    """Our visible handshake messages by (frame, handshake type), in order."""
    ours: dict[tuple[int, int], list[Message]] = defaultdict(list)
    for flow in flows:
        for e in flow.events:
            if isinstance(e, Message) and e.type is not None and not e.encrypted:
                ours[(e.frame, e.type)].append(e)
    return ours


def _hex(xs: Any) -> list[int]:
    return [int(x, 16) if isinstance(x, str) else int(x) for x in (xs or [])]


def oracle_view(h: dict) -> dict:
    """The fields fidelity.py compares, from a tshark row."""
    t, v = h["handshake_type"], {}
    if h.get("cipher_suites") and t == 1:
        v["cipher_suites"] = _hex(h["cipher_suites"])
    if h.get("selected_cipher_suite") and t == 2:
        v["cipher_suite"] = int(h["selected_cipher_suite"], 16)
    if h.get("extension_types") is not None and t in (1, 2):
        v["extension_types"] = list(h["extension_types"])
    if h.get("sni") and t == 1:
        v["sni"] = h["sni"][0]
    if h.get("alpn") and t in (1, 2):
        v["alpn"] = list(h["alpn"])
    if h.get("supported_versions") and t == 1:
        v["supported_versions"] = _hex(h["supported_versions"])
    if h.get("selected_version") and t == 2:
        v["selected_version"] = int(h["selected_version"], 16)
    if h.get("key_share_groups") and t == 1:
        v["key_share_groups"] = [int(g) for g in h["key_share_groups"]]
    if h.get("is_hello_retry_request") and h.get("key_share_selected_group") is not None:
        v["hrr_group"] = int(h["key_share_selected_group"])
    return v


def our_view(m: Message, keys: Any) -> dict:
    """The same fields from one of our messages."""
    body = m.body

    def ext(*types: int) -> dict:
        for e in getattr(body, "extensions", None) or []:
            if e.type in types:
                return e.fields
        return {}

    getters = {
        "cipher_suites": lambda: getattr(body, "cipher_suites", None),
        "cipher_suite": lambda: getattr(body, "cipher_suite", None),
        "extension_types": lambda: [e.type for e in getattr(body, "extensions", None) or []],
        "sni": lambda: ext(0).get("host_name"),
        "alpn": lambda: ext(16).get("protocols"),
        "supported_versions": lambda: ext(43).get("versions"),
        "selected_version": lambda: ext(43).get("selected_version"),
        "key_share_groups": lambda: ext(51, 40).get("groups"),
        "hrr_group": lambda: ext(51, 40).get("selected_group"),
    }
    return {k: getters[k]() for k in keys}


@dataclass
class Agreement:
    total: int = 0
    agree: int = 0
    excused: int = 0
    problems: list[str] = field(default_factory=list)
    excused_seen: set = field(default_factory=set)

    def figure(self, what: str) -> str:
        pct = 100.0 * self.agree / self.total if self.total else 0.0
        return f"{what}: {self.agree}/{self.total} tshark messages agree ({pct:.1f}%), {self.excused} explained"


def compare(rows: list[dict], ours: dict[tuple[int, int], list[Message]], rel: str, known: dict,
            result: Agreement) -> None:
    """Match each tshark row to our message by (frame, type) and compare; `known` excuses
    (rel, frame, type) with a reason."""
    for h in rows:
        result.total += 1
        key = (h["frame"], h["handshake_type"])
        want = oracle_view(h)
        got = our_view(ours[key].pop(0), want.keys()) if ours.get(key) else None
        if got == want:
            result.agree += 1
        elif (rel, h["frame"], h["handshake_type"]) in known:
            result.excused += 1
            result.excused_seen.add((rel, h["frame"], h["handshake_type"]))
        else:
            result.problems.append(f"{rel} frame {h['frame']} type {h['handshake_type']}: tshark {want} ours {got}")


TSHARK_FIELDS = ["frame.number", "tls.handshake.type", "tls.handshake.ciphersuite", "tls.handshake.extension.type",
                 "tls.handshake.extensions_server_name", "tls.handshake.extensions_alpn_str",
                 "tls.handshake.extensions.supported_version", "tls.handshake.extensions_key_share_group"]


def tshark_handshakes(tshark: str, capture: Path, keylog: Path | None = None, hello_fields: bool = True) -> list[dict]:
    """tshark run live: one row per handshake message, in the corpus oracles' shape. tshark's fields
    aggregate a frame's messages, so hello fields are only right for a hello alone in its frame's
    plaintext (the fixtures' hellos are, without a key log); hello_fields=False: frame and type only."""
    import subprocess

    cmd = [tshark, "-n", "-r", str(capture), "-Y", "tls.handshake.type", "-T", "fields", "-E", "separator=/t",
           "-E", "occurrence=a", "-E", "aggregator=,"]
    if keylog is not None:
        cmd += ["-o", f"tls.keylog_file:{keylog}"]
    for f in TSHARK_FIELDS:
        cmd += ["-e", f]
    rows = []
    for line in subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True).stdout.splitlines():
        cells = (line.split("\t") + [""] * len(TSHARK_FIELDS))[: len(TSHARK_FIELDS)]
        split = [[x for x in c.split(",") if x] for c in cells]
        hello_done = False
        for t in (int(x) for x in split[1]):
            row: dict = {"frame": int(cells[0]), "handshake_type": t}
            if t in (1, 2) and hello_fields and not hello_done:
                hello_done = True
                row["extension_types"] = [int(x) for x in split[3]]
                row["alpn"] = split[5] or None
                if t == 1:
                    row.update(cipher_suites=split[2], sni=split[4] or None, supported_versions=split[6] or None,
                               key_share_groups=split[7] or None)
                else:
                    row.update(selected_cipher_suite=split[2][0] if split[2] else None,
                               selected_version=split[6][0] if split[6] else None)
            rows.append(row)
    return rows
