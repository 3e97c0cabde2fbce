#!/usr/bin/env python3
"""Captures with key logs, one per cipher family the decryptor handles, from real openssl peers
on 127.0.0.1 (run as root after make_captures.py; same helpers, same conventions):

    python3 captures/make_keyed_captures.py [--only NAME ...]

Each writes captures/<name>.pcap and captures/keys/<name>.keys. Not here: 3DES (this OpenSSL 3
will not start a server with it; the third-party corpus covers it) and renegotiation (s_server
answers no_renegotiation).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_captures as mc  # noqa: E402


def tls13(suite: str):  # noqa: ANN201
    def make(s: mc.Session) -> str:
        s.simple(["-tls1_3", "-ciphersuites", suite], [["-tls1_3", "-ciphersuites", suite, "-servername", "keyed.test"]])
        return f"TLS 1.3 {suite}"
    return make


def tls12(cipher: str, *extra: str, version: str = "-tls1_2", client_extra: tuple[str, ...] = ()):  # noqa: ANN201
    def make(s: mc.Session) -> str:
        s.simple([version, "-cipher", cipher, *extra],
                 [[version, "-cipher", cipher, "-servername", "keyed.test", *client_extra]])
        return f"{version[1:]} {cipher} {' '.join(extra)}".strip()
    return make


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
}

if __name__ == "__main__":
    mc.CAPTURES = KEYED
    mc.main()
