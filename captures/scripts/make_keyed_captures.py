#!/usr/bin/env python3
"""Captures with key logs, one per cipher family the decryptor handles, from real openssl peers
on 127.0.0.1 (run as root; the helpers of capture_kit.py, the conventions of make_captures.py):

    python3 captures/scripts/make_keyed_captures.py [--only NAME ...]

Each writes captures/<name>.pcap and captures/keys/<name>.keys. 3DES comes from GnuTLS peers
(gnutls-serv/gnutls-cli: this OpenSSL 3 build has no 3DES suites); a TLS 1.3 KeyUpdate and a TLS 1.2
client-initiated renegotiation come from s_client's interactive 'K' and 'R' commands.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import capture_kit as kit  # noqa: E402


def tls13(suite: str):  # noqa: ANN201
    def make(s: kit.Session) -> str:
        s.simple(["-tls1_3", "-ciphersuites", suite], [["-tls1_3", "-ciphersuites", suite, "-servername", "keyed.test"]])
        return f"TLS 1.3 {suite}"
    return make


def tls12(cipher: str, *extra: str, version: str = "-tls1_2", client_extra: tuple[str, ...] = ()):  # noqa: ANN201
    def make(s: kit.Session) -> str:
        s.simple([version, "-cipher", cipher, *extra],
                 [[version, "-cipher", cipher, "-servername", "keyed.test", *client_extra]])
        return f"{version[1:]} {cipher} {' '.join(extra)}".strip()
    return make


def gnutls(priority: str, *server_priority: str):  # noqa: ANN201
    """GnuTLS on both sides (gnutls-cli writes SSLKEYLOGFILE); server_priority appends e.g. %NO_ETM."""
    def make(s: kit.Session) -> str:
        pki = s.pki
        srv = ["gnutls-serv", "--port", s.port, "--http", "--x509certfile", pki.d / "server-chain.pem",
               "--x509keyfile", pki.server_key, "--priority", priority + "".join(server_priority)]
        cli = ["gnutls-cli", "--port", s.port, "--sni-hostname", "example.test", "--x509cafile", pki.root_pem,
               "--verify-hostname", "example.test", "--priority", priority, "127.0.0.1"]
        env = dict(os.environ, SSLKEYLOGFILE=str(s.keylog))
        with kit.capture(s.pcap, s.port), kit.server(srv, s.port, s.log("server")):
            out = kit.client(cli, s.log("client"), send=kit.HTTP_GET, hold=1.0, env=env)
        kit.check("Handshake was completed" in out, "gnutls-cli did not complete the handshake")
        return f"gnutls {priority}{''.join(server_priority)}"
    return make


def interactive(version: str, cipher_opt: str, cipher: str, steps: list[bytes], *server_extra: str):  # noqa: ANN201
    """s_server (echo mode) and an s_client fed `steps` one read at a time: a line starting with
    'K' makes s_client send KeyUpdate(update_requested), 'R' a renegotiation ClientHello."""
    def make(s: kit.Session) -> str:
        slog = s.log("server")
        with kit.capture(s.pcap, s.port), \
                kit.server(s.s_server(version, cipher_opt, cipher, *server_extra, www=False), s.port, slog):
            log = s.log("client")
            proc = kit.spawn(s.s_client(version, cipher_opt, cipher, "-servername", "keyed.test"), log=log)
            try:
                for step in steps:
                    time.sleep(kit.STDIN_HOLD)
                    proc.stdin.write(step)
                    proc.stdin.flush()
                time.sleep(kit.STDIN_HOLD)
                proc.stdin.close()
                proc.wait(kit.CLIENT_TIMEOUT)
            finally:
                kit.stop(proc, grace=0)
        received = Path(slog).read_text(errors="replace")
        for step in steps:
            if step[:1] not in (b"K", b"R"):
                kit.check(step.decode().strip() in received, f"server did not receive {step!r}")
        client_log = Path(log).read_text(errors="replace")
        kit.check("KEYUPDATE" in client_log or "RENEGOTIATING" in client_log, "no KeyUpdate/renegotiation")
        return f"{version[1:]} {cipher}: {b' '.join(x.strip() for x in steps).decode()}"
    return make


GNUTLS_3DES = "NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+3DES-CBC:-MAC-ALL:+SHA1:-KX-ALL:+ECDHE-RSA"

KEYED = {
    "keyed-tls13-chacha20": (13001, tls13("TLS_CHACHA20_POLY1305_SHA256")),
    "keyed-tls13-aes128-ccm": (13002, tls13("TLS_AES_128_CCM_SHA256")),
    "keyed-tls13-aes128-ccm8": (13003, tls13("TLS_AES_128_CCM_8_SHA256")),
    "keyed-tls12-chacha20": (13004, tls12("ECDHE-RSA-CHACHA20-POLY1305")),
    "keyed-tls12-aes128-ccm": (13005, tls12("AES128-CCM")),
    "keyed-tls12-aes128-ccm8": (13006, tls12("AES128-CCM8")),
    "keyed-tls12-cbc-etm": (13007, tls12("ECDHE-RSA-AES128-SHA256")),
    "keyed-tls12-cbc-mte": (13008, tls12("ECDHE-RSA-AES128-SHA256", "-no_etm")),
    "keyed-tls10-cbc": (13010, tls12("ECDHE-RSA-AES128-SHA:@SECLEVEL=0", version="-tls1")),
    "keyed-tls10-cbc-mte": (13011, tls12("ECDHE-RSA-AES128-SHA:@SECLEVEL=0", "-no_etm", version="-tls1")),
    "keyed-tls11-cbc-mte": (13012, tls12("ECDHE-RSA-AES256-SHA:@SECLEVEL=0", "-no_etm", version="-tls1_1")),
    "keyed-tls12-cbc-sha1-etm": (13013, tls12("AES256-SHA")),  # static RSA: the key log has an RSA line too
    "keyed-tls12-cbc-sha1-mte": (13014, tls12("AES256-SHA", "-no_etm")),
    "keyed-tls12-cbc-sha384": (13015, tls12("ECDHE-RSA-AES256-SHA384", "-no_etm")),
    "keyed-tls12-camellia": (13016, tls12("ECDHE-RSA-CAMELLIA128-SHA256")),
    "keyed-tls12-null": (13017, tls12("ECDHE-RSA-NULL-SHA:@SECLEVEL=0")),
    "keyed-tls12-3des-etm": (13018, gnutls(GNUTLS_3DES)),
    "keyed-tls12-3des-mte": (13019, gnutls(GNUTLS_3DES, ":%NO_ETM")),
    "keyed-tls13-keyupdate": (13020, interactive("-tls1_3", "-ciphersuites", "TLS_AES_128_GCM_SHA256",
                                                 [b"before the key update\n", b"K\n", b"after the key update\n"])),
    "keyed-tls12-renegotiation": (13021, interactive("-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256",
                                                     [b"before renegotiation\n", b"R\n", b"after renegotiation\n"],
                                                     "-client_renegotiation")),
}

if __name__ == "__main__":
    kit.main(KEYED, description=__doc__.split("\n")[0])
