#!/usr/bin/env python3
"""Captures (and key logs) for "explain what happened": one real capture per reason a connection
does not decrypt and per cause a handshake fails (real openssl peers on 127.0.0.1, ports
47001-47099; run as root, after make_captures.py and make_lossy_captures.py):

    python3 captures/scripts/make_explain_captures.py [--only NAME ...]
    python3 captures/scripts/make_explain_captures.py --derived-only   # only the key logs and capture cut from others

The key logs in captures/keys/explain/ are cut from the key logs real clients wrote for the
fixture captures (lines left out, lines of another session, a TLS 1.2 line for a TLS 1.3 session):
each is named after the reason it produces. See captures/README.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

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


def derive_cut_capture() -> None:
    """explain-tls13-cut.pcap: tls13.pcap up to the server's first data segment (its hello and
    encrypted flight): a capture that ends in the middle of the handshake."""
    from make_lossy_captures import records, server_port_of, tcp_payload_len

    head, recs = records((kit.CAPDIR / "tls13.pcap").read_bytes())
    port = server_port_of("tls13.pcap")
    keep = next(i for i, rec in enumerate(recs) if tcp_payload_len(rec)[0] == port and tcp_payload_len(rec)[1] > 0)
    (kit.CAPDIR / "explain-tls13-cut.pcap").write_bytes(head + b"".join(recs[:keep + 1]))
    print(f"explain-tls13-cut.pcap: the first {keep + 1} of tls13.pcap's {len(recs)} packets")


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


def cap_version_mismatch(s: kit.Session) -> str:
    s.simple(["-tls1_3"], [["-tls1_2", "-servername", "explain.test"]], ok=None)
    _, conns = kit.analyze(s.pcap, s.port)
    kit.check_conns(conns, 1)
    kit.check(conns[0].alerts("s") == [70], f"server alerts {conns[0].alerts('s')}, expected protocol_version(70)")
    return "TLS 1.3-only server, TLS 1.2-only client: server alert protocol_version(70)"


def _client_rejects(version: str):  # noqa: ANN202
    """The client checks the server's name against one the certificate does not hold and gives up."""
    def make(s: kit.Session) -> str:
        s.simple([version], [[version, "-servername", "explain.test", "-verify_hostname", "other.test",
                              "-verify_return_error"]], ok=None)
        _, conns = kit.analyze(s.pcap, s.port, s.keylog)
        kit.check_conns(conns, 1)
        kit.check(conns[0].hs("s")[:2] == [kit.SH, kit.CERT] or kit.CERT in conns[0].hs("s"),
                  f"server handshake {conns[0].hs('s')}: no Certificate")
        kit.check(conns[0].alerts("c") == [42], f"client alerts {conns[0].alerts('c')}, expected bad_certificate(42)")
        return f"{version[1:]}: s_client -verify_hostname other.test -verify_return_error: client alert bad_certificate(42)"
    return make


def cap_client_cert_missing(s: kit.Session) -> str:
    """TLS 1.3: the server asks for a client certificate, the client has none, and the server's
    fatal alert comes encrypted (readable only with the key log)."""
    s.simple(["-tls1_3", "-Verify", "1"], [["-tls1_3", "-servername", "explain.test"]], ok=None)
    _, conns = kit.analyze(s.pcap, s.port, s.keylog)
    kit.check_conns(conns, 1)
    kit.check(kit.CR in conns[0].hs("s"), f"server handshake {conns[0].hs('s')}: no CertificateRequest")
    kit.check(conns[0].alerts("s") == [116], f"server alerts {conns[0].alerts('s')}, expected certificate_required")
    return "TLS 1.3 s_server -Verify 1, client without a certificate: encrypted alert certificate_required(116)"


def _python_server(s: kit.Session, serve, client_cmd: list, **client_kw) -> None:  # noqa: ANN001
    """Capture one connection from `client_cmd` to a server thread running `serve(listening socket)`."""
    import socket
    import threading

    kit.port_free(s.port)
    with kit.capture(s.pcap, s.port), socket.create_server(("127.0.0.1", s.port)) as lsock:
        lsock.settimeout(kit.SOCK_TIMEOUT)
        th = threading.Thread(target=serve, args=(lsock,), daemon=True)
        th.start()
        kit.client(client_cmd, s.log("client"), **client_kw)
        th.join(kit.SOCK_TIMEOUT)


def cap_hrr_cookie(s: kit.Session) -> str:
    """A HelloRetryRequest with a cookie: a tlslite-ng server (it puts a cookie in every HRR) that
    accepts only secp256r1, and `s_client -groups X25519:P-256` (a key share for X25519 only)."""
    import socket

    from tlslite import HandshakeSettings, TLSConnection, X509CertChain, parsePEMKey

    pki = s.pki
    chain = X509CertChain()
    chain.parsePemList(Path(pki.d / "server-chain.pem").read_text())
    key = parsePEMKey(Path(pki.server_key).read_text(), private=True)
    settings = HandshakeSettings()
    settings.minVersion = settings.maxVersion = (3, 4)
    settings.eccCurves = ["secp256r1"]
    settings.keyShares = ["secp256r1"]
    errors: list[BaseException] = []

    def serve(lsock: socket.socket) -> None:
        try:
            sock, _ = lsock.accept()
            sock.settimeout(kit.SOCK_TIMEOUT)
            conn = TLSConnection(sock)
            conn.handshakeServer(certChain=chain, privateKey=key, settings=settings)
            conn.read(max=4096)
            conn.write(b"HTTP/1.0 200 OK\r\n\r\nhello after a retry\n")
            conn.close()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    _python_server(s, serve, s.s_client("-tls1_3", "-groups", "X25519:P-256", "-servername", "explain.test",
                                         "-ign_eof"), send=kit.HTTP_GET)
    kit.check(not errors, f"tlslite-ng server: {errors}")
    _, conns = kit.analyze(s.pcap, s.port, s.keylog)
    kit.check(len(conns) == 1, f"expected 1 connection, found {len(conns)}")
    c = conns[0]
    kit.check(c.hs("c").count(kit.CH) == 2, f"expected 2 ClientHellos, got {c.hs('c')}")
    hellos = [f for f in c.frames if f.from_client and kit.CH in f.hs]
    kit.check(44 not in hellos[0].exts and 44 in hellos[1].exts, "the second ClientHello does not carry a cookie")
    return "tlslite-ng server (secp256r1 only): HRR with a cookie, CH2 echoes it; full handshake, app data"


def _raw_server(s: kit.Session, linger_reset: bool) -> str:
    """A TCP server that reads the ClientHello and closes: with SO_LINGER 0 (an RST), or a FIN."""
    import socket
    import struct

    errors: list[BaseException] = []

    def serve(lsock: socket.socket) -> None:
        try:
            conn, _ = lsock.accept()
            conn.settimeout(kit.SOCK_TIMEOUT)
            conn.recv(4096)
            if linger_reset:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
        except OSError as exc:
            errors.append(exc)

    _python_server(s, serve, s.s_client("-tls1_3", "-servername", "explain.test", keylog=False), ok=None)
    kit.check(not errors, f"server: {errors}")
    frames, conns = kit.analyze(s.pcap, s.port)
    kit.check(len(conns) == 1 and conns[0].hs("c") == [kit.CH] and conns[0].hs("s") == [],
              "expected a ClientHello and no answer")
    return "a ClientHello, then the server closes " + ("with an RST (SO_LINGER 0)" if linger_reset else "(FIN)")


def cap_reset(s: kit.Session) -> str:
    return _raw_server(s, True)


def cap_closed(s: kit.Session) -> str:
    return _raw_server(s, False)


CAPTURES = {
    "explain-tls12-aria": (47001, cap_aria),
    "explain-version-mismatch": (47002, cap_version_mismatch),
    "explain-tls12-cert-rejected": (47003, _client_rejects("-tls1_2")),
    "explain-tls13-cert-rejected": (47004, _client_rejects("-tls1_3")),
    "explain-tls13-client-cert-missing": (47007, cap_client_cert_missing),
    "explain-hrr-cookie": (47008, cap_hrr_cookie),
    "explain-reset": (47005, cap_reset),
    "explain-closed": (47006, cap_closed),
}

if __name__ == "__main__":
    if "--derived-only" in sys.argv[1:]:
        derive_keylogs()
        derive_cut_capture()
        sys.exit(0)
    kit.main(CAPTURES, description=__doc__.split("\n")[0])
    derive_keylogs()
    derive_cut_capture()
