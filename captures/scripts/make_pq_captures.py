#!/usr/bin/env python3
"""Post-quantum key exchange captures: real TLS 1.3 handshakes that negotiate X25519MLKEM768 or
ML-KEM-768, and PQ offers that a server declines, with and without a HelloRetryRequest (run as
root; the helpers of capture_kit.py):

    python3 captures/scripts/make_pq_captures.py [--only NAME ...] [--keep-tmp]

The PQ peer is pq_peer.py: pyOpenSSL over the OpenSSL that `cryptography` wheels bundle (ML-KEM
needs OpenSSL 3.5 or later; Debian's openssl 3.0 CLI has none, and plays the classical server).
Each peer's groups come from its own OPENSSL_CONF (`Groups = ...`). Every capture is checked with
tshark (handshake types, a HelloRetryRequest where expected), and the negotiated group against
what both peers say they negotiated.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import capture_kit as kit

PEER = Path(__file__).resolve().parent / "pq_peer.py"
HRR_RANDOM = "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c"
# what browsers offer: key shares (`*`, OpenSSL 3.5+ syntax) for the hybrid and x25519, P-256 and P-384 without
DEFAULT_CLIENT = "*X25519MLKEM768:*x25519:secp256r1:secp384r1"


def openssl_conf(s: kit.Session, name: str, groups: str) -> dict[str, str]:
    """The environment of a pyOpenSSL peer whose OpenSSL offers/accepts `groups`, in this order."""
    conf = s.work / f"{name}.cnf"
    conf.write_text("openssl_conf = init\n[init]\nssl_conf = ssl\n[ssl]\nsystem_default = defaults\n"
                    f"[defaults]\nGroups = {groups}\n")
    return {**os.environ, "OPENSSL_CONF": str(conf)}


def pq_client(s: kit.Session, groups: str, sni: str = "example.test") -> str:
    return kit.client([sys.executable, PEER, "client", s.port, sni, s.pki.root_pem, s.keylog], s.log("client"),
                      env=openssl_conf(s, "client", groups))


def negotiated(output: str) -> str:
    line = next((x for x in output.splitlines() if x.startswith("group=")), "")
    kit.check(bool(line), f"peer printed no negotiated group:\n{output}")
    return line.split()[0].removeprefix("group=")


def check_wire(s: kit.Session, hrr: bool) -> None:
    frames, conns = kit.analyze(s.pcap, s.port, s.keylog)
    kit.check_conns(conns, 1)
    kit.check_hs(conns[0], "c", [kit.CH] + ([kit.CH] if hrr else []) + [kit.FIN], "client")
    kit.check_hs(conns[0], "s", [kit.SH, kit.SH] if hrr else [kit.SH], "server")
    randoms = [r for f in frames if not f.from_client for r in f.randoms]
    kit.check((HRR_RANDOM in randoms) == hrr, f"HelloRetryRequest {'missing' if hrr else 'unexpected'}")


def pq_pair(s: kit.Session, server_groups: str, client_groups: str, want: str, hrr: bool) -> str:
    """pyOpenSSL server and client, each with its own groups; both must report `want`."""
    slog = s.log("server")
    with kit.capture(s.pcap, s.port):
        with kit.server([sys.executable, PEER, "server", s.port, s.pki.d / "server-chain.pem", s.pki.server_key],
                        s.port, slog, env=openssl_conf(s, "server", server_groups)):
            out = pq_client(s, client_groups)
    kit.check(negotiated(out) == want, f"client negotiated {negotiated(out)}, expected {want}")
    kit.check(negotiated(Path(slog).read_text()) == want, f"server negotiated {negotiated(Path(slog).read_text())}")
    check_wire(s, hrr)
    return f"{want}{' after a HelloRetryRequest' if hrr else ''}"


def with_classical_server(s: kit.Session, server_args: list[str], want: str, hrr: bool) -> str:
    """The PQ client against Debian's openssl 3.0 s_server, which knows no PQ group."""
    slog = s.log("server")
    with kit.capture(s.pcap, s.port):
        with kit.server(s.s_server("-tls1_3", *server_args), s.port, slog):
            out = pq_client(s, DEFAULT_CLIENT)
    kit.check(negotiated(out) == want, f"client negotiated {negotiated(out)}, expected {want}")
    check_wire(s, hrr)
    return f"X25519MLKEM768 offered, {want} negotiated{' after a HelloRetryRequest' if hrr else ''}"


def cap_hybrid(s: kit.Session) -> str:
    return pq_pair(s, "X25519MLKEM768:x25519", DEFAULT_CLIENT, "X25519MLKEM768", hrr=False)


def cap_mlkem(s: kit.Session) -> str:
    return pq_pair(s, "MLKEM768", "MLKEM768", "MLKEM768", hrr=False)


def cap_hrr_to_pq(s: kit.Session) -> str:
    # the client sends an x25519 key share only; the server accepts nothing but the hybrid
    return pq_pair(s, "X25519MLKEM768", "x25519:X25519MLKEM768", "X25519MLKEM768", hrr=True)


def cap_offered_classical(s: kit.Session) -> str:
    return with_classical_server(s, [], "x25519", hrr=False)


def cap_hrr_away(s: kit.Session) -> str:
    return with_classical_server(s, ["-groups", "P-256"], "secp256r1", hrr=True)


CAPTURES = {  # name -> (port, function); ports 19010-19014
    "pq-x25519mlkem768": (19010, cap_hybrid),
    "pq-mlkem768": (19011, cap_mlkem),
    "pq-hrr-to-pq": (19012, cap_hrr_to_pq),
    "pq-offered-classical": (19013, cap_offered_classical),
    "pq-hrr-away-from-pq": (19014, cap_hrr_away),
}


if __name__ == "__main__":
    kit.main(CAPTURES, description=__doc__.split("\n")[0])
