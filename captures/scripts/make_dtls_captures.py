#!/usr/bin/env python3
"""DTLS fixture captures from real peers on 127.0.0.1 (run as root; the helpers of capture_kit.py):

    python3 captures/scripts/make_dtls_captures.py [--only NAME ...] [--keep-tmp]

Each writes captures/<name>.pcap and, where secrets exist, captures/keys/<name>.keys (the client's
NSS key log); regenerate the goldens after (`python3 cli.py check captures --update`). Peers: openssl s_server/s_client 3.0
(`-dtls1_2`, `-dtls1`; OpenSSL always answers a first ClientHello with a HelloVerifyRequest and
fragments its flight to its default DTLS MTU) and gnutls-serv/gnutls-cli `--udp` (GnuTLS 3.7). Every
capture is checked with tshark (`-d udp.port==N,dtls`, and `-o tls.keylog_file:` so the encrypted
Finished messages are checked too) before it is published.

Not made, because no peer on this machine can: DTLS 1.3 (OpenSSL 3.0 and GnuTLS 3.7 do not speak
it; the corpus's wolfSSL and illustrated-dtls captures cover it) and RFC 9146 connection IDs
(neither OpenSSL 3.0 nor GnuTLS 3.7 implements them; the corpus's dtls13-cid capture covers the
DTLS 1.3 form).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import capture_kit as kit

OUT = kit.CAPDIR
KEYS = kit.KEYDIR
DATA = b"hello over DTLS\n"
# handshake types (RFC 6347 / 5246)
CH, SH, HVR, NST, CERT, SKE, CR, SHD, CKE, FIN = 1, 2, 3, 4, 11, 12, 13, 14, 16, 20
CT_CCS, CT_ALERT, CT_HANDSHAKE, CT_APPDATA = 20, 21, 22, 23
HANDSHAKE_FAILURE = 40


class DtlsSession(kit.Session):
    """A capture session publishing into captures/ and captures/keys/."""

    def __init__(self, name: str, port: int, tmp: Path, pki: kit.Pki) -> None:
        super().__init__(name, port, tmp, pki)
        self.out_pcap = OUT / (name + ".pcap")
        self.keydir = KEYS

    def openssl(self, server_args: list, client_args: list, *, ok: tuple = (0,)) -> str:
        """One s_server (one connection; it prints what it receives) and one s_client sending DATA,
        then EOF: both close with an encrypted close_notify alert. Returns the server's output."""
        pki = self.pki
        srv = ["openssl", "s_server", "-accept", f"127.0.0.1:{self.port}", "-cert", pki.server_pem,
               "-key", pki.server_key, "-cert_chain", pki.inter_pem, "-naccept", "1", *server_args]
        cli = ["openssl", "s_client", "-connect", f"127.0.0.1:{self.port}", "-CAfile", pki.root_pem,
               "-keylogfile", self.keylog, *client_args]
        slog = self.log("server")
        with kit.capture(self.pcap, self.port, proto="udp"), kit.server(srv, self.port, slog, proto="udp"):
            kit.client(cli, self.log("client"), send=DATA, hold=kit.STDIN_HOLD, ok=ok)
        return Path(slog).read_text(errors="replace")

    def gnutls(self, priority: str) -> str:
        pki = self.pki
        srv = ["gnutls-serv", "--udp", "--echo", "--port", self.port, "--x509certfile", pki.d / "server-chain.pem",
               "--x509keyfile", pki.server_key, "--priority", priority]
        cli = ["gnutls-cli", "--udp", "--port", self.port, "--x509cafile", pki.root_pem,
               "--verify-hostname", "example.test", "--priority", priority, "127.0.0.1"]
        env = dict(os.environ, SSLKEYLOGFILE=str(self.keylog))
        with kit.capture(self.pcap, self.port, proto="udp"), kit.server(srv, self.port, self.log("server"), proto="udp"):
            return kit.client(cli, self.log("client"), send=DATA, hold=1.0, env=env)


# --------------------------------------------------------------------------
# tshark's view, for the checks
# --------------------------------------------------------------------------
FIELDS = ["frame.number", "udp.srcport", "dtls.record.content_type", "dtls.handshake.type",
          "dtls.alert_message.desc", "dtls.handshake.fragment_length", "dtls.handshake.length"]


def tshark_records(s: DtlsSession, keyed: bool = True) -> list[dict]:
    """Per frame: sender ('c'/'s'), record content types, handshake types, alerts, fragments."""
    cmd = ["tshark", "-n", "-r", s.pcap, "-d", f"udp.port=={s.port},dtls", "-T", "fields",
           "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=,"]
    if keyed and s.keylog.exists():
        cmd += ["-o", f"tls.keylog_file:{s.keylog}"]
    for f in FIELDS:
        cmd += ["-e", f]
    out = []
    for line in kit.run(cmd).decode().splitlines():
        v = (line.split("\t") + [""] * len(FIELDS))[: len(FIELDS)]
        out.append({"frame": int(v[0]), "side": "s" if int(v[1]) == s.port else "c", "ct": kit._ints(v[2]),
                    "hs": kit._ints(v[3]), "alerts": kit._ints(v[4]),
                    "fragmented": any(a != b for a, b in zip(kit._ints(v[5]), kit._ints(v[6])))})
    return out


def hs(frames: list[dict], side: str) -> list[int]:
    return [t for f in frames if f["side"] == side for t in f["hs"]]


def check_handshake(s: DtlsSession, server_flight: list[int], tshark_decrypts: bool = True) -> list[dict]:
    """A full handshake with a key log: HelloVerifyRequest, both Finished decrypted (where tshark
    can), data and a close_notify alert from the client."""
    frames = tshark_records(s)
    fin = [FIN] if tshark_decrypts else []
    kit.check(kit.subseq(hs(frames, "c"), [CH, CH, CKE, *fin]), f"client handshake {hs(frames, 'c')}")
    kit.check(kit.subseq(hs(frames, "s"), [HVR, *server_flight, *fin]), f"server handshake {hs(frames, 's')}")
    for what, ct in (("application data", CT_APPDATA), ("close_notify alert", CT_ALERT)):
        kit.check(any(ct in f["ct"] for f in frames if f["side"] == "c"), f"no {what} from the client")
    return frames


# --------------------------------------------------------------------------
# the captures
# --------------------------------------------------------------------------
FULL_FLIGHT = [SH, CERT, SKE, SHD]


def openssl_suite(version: str, cipher: str, *server_extra: str, tshark_decrypts: bool = True):  # noqa: ANN201
    def make(s: DtlsSession) -> str:
        received = s.openssl([version, "-cipher", cipher, *server_extra], [version, "-cipher", cipher])
        kit.check(DATA.decode().strip() in received, "server did not receive the data")
        check_handshake(s, FULL_FLIGHT, tshark_decrypts)
        return f"{version[1:]} {cipher} {' '.join(server_extra)}".strip()
    return make


def small_mtu(s: DtlsSession) -> str:
    """A 256-byte link MTU: the certificate chain goes out in many fragments."""
    cipher = "ECDHE-RSA-AES128-GCM-SHA256"
    s.openssl(["-dtls1_2", "-cipher", cipher, "-mtu", "256"], ["-dtls1_2", "-cipher", cipher, "-mtu", "256"])
    frames = check_handshake(s, FULL_FLIGHT)
    cert_frames = [f for f in frames if f["side"] == "s" and CERT in f["hs"]]
    kit.check(len(cert_frames) >= 8 and any(f["fragmented"] for f in cert_frames),
              f"certificate in {len(cert_frames)} frames, expected many fragments")
    return f"-mtu 256: server Certificate in {len(cert_frames)} fragments"


def fatal_alert(s: DtlsSession) -> str:
    """The client offers only a suite the server refuses: a plaintext handshake_failure alert."""
    s.openssl(["-dtls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"], ["-dtls1_2", "-cipher", "AES256-SHA256"],
              ok=(0, 1))
    frames = tshark_records(s, keyed=False)
    kit.check(hs(frames, "s") == [HVR], f"server handshake {hs(frames, 's')}, expected only HelloVerifyRequest")
    alerts = [a for f in frames if f["side"] == "s" for a in f["alerts"]]
    kit.check(alerts == [HANDSHAKE_FAILURE], f"server alerts {alerts}")
    return "client suite refused: HelloVerifyRequest, then a fatal handshake_failure alert in the clear"


def gnutls(s: DtlsSession) -> str:
    out = s.gnutls("NORMAL:-VERS-ALL:+VERS-DTLS1.2")
    kit.check(DATA.decode().strip() in out, "gnutls-cli did not get the echo")
    check_handshake(s, [SH, CERT, SKE, CR, SHD])
    return "gnutls-serv --udp --echo <- gnutls-cli --udp, DTLS 1.2"


CAPTURES = {
    "dtls12-aes128-gcm": (15001, openssl_suite("-dtls1_2", "ECDHE-RSA-AES128-GCM-SHA256")),
    # tshark 4.0 does not decrypt DTLS ChaCha20-Poly1305 records (they stay "Encrypted Handshake
    # Message" with the right key log); the server's receipt of the data is the check there
    "dtls12-chacha20": (15002, openssl_suite("-dtls1_2", "ECDHE-RSA-CHACHA20-POLY1305", tshark_decrypts=False)),
    "dtls12-cbc-etm": (15003, openssl_suite("-dtls1_2", "ECDHE-RSA-AES256-SHA384")),
    "dtls12-cbc-mte": (15004, openssl_suite("-dtls1_2", "ECDHE-RSA-AES256-SHA384", "-no_etm")),
    "dtls10-cbc": (15005, openssl_suite("-dtls1", "ECDHE-RSA-AES128-SHA:@SECLEVEL=0")),
    "dtls12-small-mtu": (15006, small_mtu),
    "dtls12-fatal-alert": (15007, fatal_alert),
    "dtls12-gnutls": (15008, gnutls),
}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", nargs="+", metavar="NAME", help="capture names")
    ap.add_argument("--keep-tmp", action="store_true", help="keep the temp dir (logs, certs) for debugging")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("must run as root (tcpdump)")
    names = args.only or list(CAPTURES)
    unknown = [n for n in names if n not in CAPTURES]
    if unknown:
        sys.exit(f"unknown capture(s): {unknown}; known: {list(CAPTURES)}")
    tmp = Path(tempfile.mkdtemp(prefix="dtls-fixtures-"))
    failed = []
    try:
        (tmp / "pki").mkdir()
        pki = kit.Pki(tmp / "pki")
        for name in names:
            port, make = CAPTURES[name]
            s = DtlsSession(name, port, tmp, pki)
            try:
                what = make(s)
                s.publish()
                frames = len(tshark_records(s, keyed=False))
                print(f"{s.out_pcap.name:28} {frames:3d} frames  {what}", flush=True)
            except (kit.CaptureError, subprocess.SubprocessError, OSError) as e:
                failed.append(name)
                print(f"{name:28} FAILED: {e}", file=sys.stderr, flush=True)
    finally:
        if args.keep_tmp:
            print(f"temp dir kept: {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    if failed:
        sys.exit(f"FAILED: {' '.join(failed)}")


if __name__ == "__main__":
    main()
