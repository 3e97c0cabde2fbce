#!/usr/bin/env python3
"""Captures (and key logs) for "explain what happened": one real capture per reason a connection
does not decrypt and per cause a handshake fails (real openssl peers on 127.0.0.1, ports
47001-47099; run as root, after make_captures.py and make_lossy_captures.py):

    python3 captures/scripts/make_explain_captures.py [--only NAME ...]
    python3 captures/scripts/make_explain_captures.py --keylogs-only   # only the derived key logs

The key logs in captures/keys/explain/ are cut from the key logs real clients wrote for the
fixture captures (lines left out, lines of another session, a TLS 1.2 line for a TLS 1.3 session):
each is named after the reason it produces. See captures/README.md.
"""

from __future__ import annotations

import sys
import capture_kit as kit  # noqa: E402

EXPLAIN_KEYS = kit.KEYDIR / "explain"


def lines(name: str) -> list[tuple[str, str, str]]:
    """(label, client random, secret) of each line of captures/keys/<name>.keys."""
    out = []
    for line in (kit.KEYDIR / f"{name}.keys").read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and not line.startswith("#"):
            out.append((parts[0], parts[1], parts[2]))
    return out


def write(name: str, rows: list[tuple[str, str, str]], why: str) -> None:
    EXPLAIN_KEYS.mkdir(exist_ok=True)
    text = f"# derived by make_explain_captures.py: {why}\n" + "".join(f"{a} {b} {c}\n" for a, b, c in rows)
    (EXPLAIN_KEYS / f"{name}.keys").write_text(text)
    print(f"keys/explain/{name}.keys: {len(rows)} lines ({why})")


def derive_keylogs() -> None:
    tls13, hrr, tls12 = lines("tls13"), lines("tls13-hrr"), lines("tls12-ecdhe")
    random13 = tls13[0][1]
    write("tls13-no-line", lines("tls12-ecdhe"), "tls12-ecdhe's line only: nothing for tls13.pcap's client random")
    write("tls13-only-tls12-label", [("CLIENT_RANDOM", random13, tls12[0][2])],
          "a CLIENT_RANDOM line (a TLS 1.2 label) for tls13.pcap's client random")
    wrong = {label: secret for label, _random, secret in hrr}
    write("tls13-wrong-key", [(label, random13, wrong[label]) for label, _r, _s in tls13 if label in wrong],
          "tls13.pcap's client random with the secrets of tls13-hrr's session")
    write("tls13-no-traffic-secrets", [r for r in tls13 if not r[0].endswith("TRAFFIC_SECRET_0")],
          "tls13.keys without CLIENT_/SERVER_TRAFFIC_SECRET_0")
    write("tls13-no-handshake-secrets", [r for r in tls13 if "HANDSHAKE" not in r[0]],
          "tls13.keys without CLIENT_/SERVER_HANDSHAKE_TRAFFIC_SECRET")
    write("tls12-renegotiation-first-only", lines("keyed-tls12-renegotiation")[:1],
          "keyed-tls12-renegotiation.keys without the renegotiated session's line")
    write("tls13-0rtt-no-early-secret", [r for r in lines("tls13-0rtt") if r[0] != "CLIENT_EARLY_TRAFFIC_SECRET"],
          "tls13-0rtt.keys without CLIENT_EARLY_TRAFFIC_SECRET")


def cap_aria(s: kit.Session) -> str:
    """A TLS 1.2 suite this decryptor cannot open (ARIA-GCM: `cryptography` has no ARIA AEAD)."""
    s.simple(["-tls1_2", "-cipher", "ECDHE-ARIA256-GCM-SHA384"],
             [["-tls1_2", "-cipher", "ECDHE-ARIA256-GCM-SHA384", "-servername", "explain.test"]])
    _, conns = kit.analyze(s.pcap, s.port, s.keylog)
    kit.check_conns(conns, 1)
    kit.check_hs(conns[0], "s", [kit.SH, kit.CERT, kit.SKE, kit.SHD], "aria")
    kit.check(any(0xC061 in f.suites for f in conns[0].frames if not f.from_client),
              "server did not choose ECDHE-RSA-ARIA256-GCM-SHA384 (0xC061)")
    return "TLS 1.2 ECDHE-RSA-ARIA256-GCM-SHA384 with its key log"


CAPTURES = {
    "explain-tls12-aria": (47001, cap_aria),
}

if __name__ == "__main__":
    if "--keylogs-only" in sys.argv[1:]:
        derive_keylogs()
        sys.exit(0)
    kit.main(CAPTURES, description=__doc__.split("\n")[0])
    derive_keylogs()
