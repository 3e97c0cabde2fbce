#!/usr/bin/env python3
"""QUIC fixture captures from real aioquic peers (quic_peers.py) on 127.0.0.1 / ::1, each with the
client's key log (run as root; the helpers of capture_kit.py):

    python3 captures/scripts/make_quic_captures.py [--only NAME ...]

Each writes captures/<name>.pcap and captures/keys/<name>.keys, after tshark (which decodes
QUIC by itself) has confirmed, plain and with `-o tls.keylog_file:`, what the capture must show.
Regenerate the goldens after (`python3 cli.py check captures --update`) and read their diff.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import capture_kit as kit

PEERS = Path(__file__).resolve().parent / "quic_peers.py"
QUIC_DIR = kit.CAPDIR
FIELDS = ["frame.number", "udp.srcport", "quic.long.packet_type", "quic.long.packet_type_v2", "quic.version",
          "tls.handshake.type", "tls.handshake.length", "quic.frame_type", "quic.cc.error_code",
          "quic.retry_integrity_tag", "tls.handshake.ciphersuite"]
INITIAL, ZERO_RTT, RETRY = 0, 1, 3  # tshark's long packet type values (v1 numbering; v2 has its own field)


@dataclass
class Row:
    frame: int
    from_client: bool
    packet_types: list[int]
    versions: list[str]
    handshake: list[int]
    handshake_lengths: list[int]
    frame_types: list[int]
    close_codes: list[int]
    retry_tag: bool
    suites: list[int]


def tshark_rows(pcap: Path, port: int, keylog: Path | None = None) -> list[Row]:
    cmd = ["tshark", "-n", "-r", pcap, "-Y", "quic", "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a",
           "-E", "aggregator=,"]
    if keylog is not None:
        cmd += ["-o", f"tls.keylog_file:{keylog}"]
    for f in FIELDS:
        cmd += ["-e", f]
    rows = []
    for line in kit.run(cmd).decode().splitlines():
        v = (line.split("\t") + [""] * len(FIELDS))[: len(FIELDS)]
        rows.append(Row(int(v[0]), int(v[1]) != port, kit._ints(v[2]) + kit._ints(v[3]), [x for x in v[4].split(",") if x],
                        kit._ints(v[5]), kit._ints(v[6]), kit._ints(v[7]), kit._ints(v[8]), bool(v[9]),
                        [int(x, 16) for x in v[10].split(",") if x]))
    return rows


def types(rows: list[Row], client: bool) -> list[int]:
    return [t for r in rows if r.from_client == client for t in r.handshake]


def peer(s: kit.Session, role: str, *args: str, host: str = "127.0.0.1") -> list:
    common = ["--host", host, "--port", str(s.port)]
    if role == "server":
        return [sys.executable, PEERS, "server", *common, "--cert", s.pki.d / "server-chain.pem",
                "--key", s.pki.server_key, *args]
    return [sys.executable, PEERS, "client", *common, "--ca", s.pki.root_pem, "--keylog", s.keylog, *args]


def handshake(s: kit.Session, server_args: tuple = (), client_args: tuple = (), host: str = "127.0.0.1",
              refused: bool = False, keyed: bool = True) -> tuple[list[Row], list[Row]]:
    """One server, one client, captured into captures/; returns tshark's rows plain and with the key log.
    keyed=False: tshark cannot use the key log (after a Retry or a Version Negotiation aioquic
    sends a new ClientHello, and tshark 4.0 keeps the first one's random); the tests check those
    captures' decryption through our core instead."""
    s.out_pcap = QUIC_DIR / s.pcap.name
    QUIC_DIR.mkdir(exist_ok=True)
    with kit.capture(s.pcap, s.port, proto="udp"), \
            kit.server(peer(s, "server", *server_args, host=host), s.port, s.log("server"), proto="udp"):
        out = kit.client(peer(s, "client", *client_args, host=host), s.log("client"), ok=(3,) if refused else (0,))
    kit.check(("refused" in out) == refused, f"client: {out.strip()}")
    plain, decrypted = tshark_rows(s.pcap, s.port), tshark_rows(s.pcap, s.port, s.keylog)
    kit.check(types(plain, True)[:1] == [kit.CH], f"no ClientHello in the first client packets: {types(plain, True)}")
    if not refused:
        kit.check(kit.SH in types(plain, False), "no ServerHello")
    if not refused and keyed:
        kit.check(kit.subseq(types(decrypted, False), [kit.SH, kit.EE, kit.CERT, kit.CV, kit.FIN]),
                  f"key log: server flight {types(decrypted, False)}")
        kit.check(kit.FIN in types(decrypted, True), "key log: no client Finished")
    return plain, decrypted


def plain_v1(s: kit.Session) -> str:
    handshake(s)
    return "QUIC v1 handshake, ping, close"


def retry(s: kit.Session) -> str:
    plain, _ = handshake(s, ("--retry",), keyed=False)
    retries = [r for r in plain if RETRY in r.packet_types and not r.from_client]
    kit.check(len(retries) == 1 and retries[0].retry_tag, "expected one Retry with an integrity tag")
    return "Retry (stateless address validation), then the handshake"


def large_client_hello(s: kit.Session) -> str:
    plain, _ = handshake(s, client_args=("--alpn-count", "60"))
    ch = next(r for r in plain if kit.CH in r.handshake)
    initials = [r for r in plain if r.from_client and r.frame <= ch.frame and INITIAL in r.packet_types]
    kit.check(ch.handshake_lengths[0] > 2400 and len(initials) >= 3,
              f"ClientHello of {ch.handshake_lengths} bytes in {len(initials)} Initial packets")
    return f"{ch.handshake_lengths[0]}-byte ClientHello (61 ALPN ids) over {len(initials)} Initial packets"


def chacha20(s: kit.Session) -> str:
    plain, _ = handshake(s, client_args=("--chacha20",))
    suites = [x for r in plain if not r.from_client for x in r.suites]
    kit.check(suites == [0x1303], f"server suites {suites}")
    return "TLS_CHACHA20_POLY1305_SHA256 (ChaCha20 header protection after the Initials)"


def v2(s: kit.Session) -> str:
    plain, _ = handshake(s, ("--versions", "v2", "v1"), ("--versions", "v2"), host="::1")
    kit.check({v for r in plain for v in r.versions} == {"0x6b3343cf"}, "expected QUIC v2 only")
    return "QUIC v2 (RFC 9369) over IPv6"


def version_negotiation(s: kit.Session) -> str:
    plain, _ = handshake(s, ("--versions", "v1"), ("--versions", "v2", "v1"), keyed=False)
    vn = [r for r in plain if "0x00000000" in r.versions]
    kit.check(len(vn) == 1 and not vn[0].from_client, "expected one Version Negotiation from the server")
    first = next(r for r in plain if r.from_client)
    again = [r for r in plain if r.from_client and r.frame > vn[0].frame and "0x00000001" in r.versions]
    kit.check(first.versions == ["0x6b3343cf"] and again, "expected a v2 Initial, then v1 Initials after the VN")
    return "client offers v2, the server only v1: Version Negotiation, then a v1 handshake"


def zero_rtt(s: kit.Session) -> str:
    plain, decrypted = handshake(s, ("--tickets",), ("--resume",))
    kit.check(len([r for r in plain if kit.CH in r.handshake]) == 2, "expected two connections")
    early = [r for r in plain if r.from_client and ZERO_RTT in r.packet_types]
    kit.check(len(early) >= 1, "no 0-RTT packet from the client")
    kit.check(kit.NST in types(decrypted, False), "key log: no NewSessionTicket in the server's 1-RTT CRYPTO")
    return "two connections: the second resumes with the first's ticket and sends 0-RTT stream data"


def alpn_refused(s: kit.Session) -> str:
    plain, _ = handshake(s, ("--alpn", "h3"), refused=True)
    codes = [c for r in plain if not r.from_client for c in r.close_codes]
    kit.check(codes == [0x100 + 120], f"expected CONNECTION_CLOSE CRYPTO_ERROR(no_application_protocol): {codes}")
    return "ALPN mismatch: the server closes with CRYPTO_ERROR 0x178 (alert no_application_protocol)"


QUIC = {
    "quic-v1": (14001, plain_v1),
    "quic-retry": (14002, retry),
    "quic-large-client-hello": (14003, large_client_hello),
    "quic-chacha20": (14004, chacha20),
    "quic-v2": (14005, v2),
    "quic-version-negotiation": (14006, version_negotiation),
    "quic-alpn-refused": (14007, alpn_refused),
    "quic-0rtt": (14008, zero_rtt),
}

if __name__ == "__main__":
    kit.main(QUIC, description=__doc__.split("\n")[0])
