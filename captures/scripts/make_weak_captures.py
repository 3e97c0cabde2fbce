#!/usr/bin/env python3
"""Captures of weak TLS, one or two connections each, made by real stacks on 127.0.0.1, so that every
weakness rule (analyzer/analysis/weakness.py) has a real capture of its own (issue #6):

    python3 captures/scripts/make_weak_captures.py                  # all of them (root: tcpdump)
    python3 captures/scripts/make_weak_captures.py weak-sslv2 weak-rc4
    python3 captures/scripts/make_weak_captures.py --keep-tmp weak-heartbeat

Writes captures/<name>.pcap and, where a peer can write one, captures/keys/<name>.keys.
Same helpers (capture_kit.py) and conventions as make_captures.py (throwaway PKI, tcpdump on lo, every external
process under coreutils `timeout`, stopped by its own pid). Which stack speaks what:

* openssl s_server/s_client (OpenSSL 3.0): NULL-MD5, anonymous DH, DHE with 1024-bit and well-known
  groups, SHA-1 and DSA ServerKeyExchange signatures, TLS_FALLBACK_SCSV, extended_master_secret switched off
  (an OPENSSL_CONF with `Options = -ExtendedMasterSecret`, s_server has no flag for it), TLS 1.1,
  psk_ke resumption (-allow_no_dhe_kex), DOWNGRD01 on a TLS 1.2-only offer. This build has no RC4,
  DES, 3DES, IDEA nor zlib, and OpenSSL never sends the sentinel to a client that offered TLS 1.3.
* gnutls-serv/gnutls-cli (GnuTLS 3.7): no renegotiation_info at all (%DISABLE_SAFE_RENEGOTIATION)
  and an insecure renegotiation (--rehandshake).
* tlslite-ng 0.8 (run in a child process: weak_peers.py): SSL 3.0, RC4 with an MD5 MAC,
  heartbeat requests (a normal one and a Heartbleed-shaped one, built with tlslite's own Heartbeat
  message class), a server that answers TLS 1.3 clients with TLS 1.2 and the downgrade sentinel, and
  psk_ke-only resumption. tlslite-ng writes no key log: for TLS <= 1.2 the child writes the NSS
  CLIENT_RANDOM line from the connection's own client random and master secret.
* scapy's TLS automata (child processes too): SSL 2.0, export suites, single DES and IDEA, DEFLATE
  compression (the server automaton is told to pick the client's DEFLATE offer).
* explicit elliptic-curve parameters (KX-EXPLICIT-CURVE): no stack here sends them (OpenSSL >= 1.1 and
  GnuTLS refuse them, scapy only parses them), so a small server in a child process answers a real
  s_client with records built from scapy's TLS message classes: P-256 as explicit_prime parameters
  (SEC 2 constants from python-ecdsa, checked against cryptography's generator), a real ephemeral point
  and a real RSA-PKCS1-SHA256 signature by the fixture server key. s_client refuses the curve with a
  fatal illegal_parameter alert, as it should.

Not made here, because no stack on this machine can speak it: truncated_hmac (EXT-TRUNCATED-HMAC: none
of OpenSSL, GnuTLS 3.7, tlslite-ng or scapy implements truncated MACs).

Each capture is checked (connection count, FIN from both sides with tshark; the weak thing itself
from the analyzer's connection facts, never from its findings: the rules are what the tests judge)
before it is copied into captures/. tests/test_weakness_captures.py says which rule each proves.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
import capture_kit as kit  # noqa: E402
from weak_peers import DEFLATE, LINE, SERVER_NAME  # noqa: E402

ROOT = HERE.parent.parent


# --------------------------------------------------------------------------------------------------
# Peers that are Python libraries (captures/scripts/weak_peers.py) run as children, wrapped in `timeout`
# like every other process, so they die on their own even if this script does not.
# --------------------------------------------------------------------------------------------------
def peer(kind: str, **cfg) -> list:
    return [sys.executable, str(HERE / "weak_peers.py"), kind, json.dumps(cfg, default=str)]


# --------------------------------------------------------------------------------------------------
# Checks on the analyzer's facts (not its findings)
# --------------------------------------------------------------------------------------------------
def facts(s: kit.Session, n: int, *, keys: bool = False) -> list:
    """The capture's connections (n of them, each closed by both sides) as the analyzer reads them."""
    from analyzer import analyze

    _, tconns = kit.analyze(s.pcap, s.port)
    kit.check_conns(tconns, n)
    conns = [r.connection for r in analyze(s.pcap, keylog=s.keylog if keys and s.keylog.exists() else None).connections]
    kit.check(len(conns) == n and all(c.tls for c in conns), f"expected {n} TLS connection(s), got {len(conns)}")
    return conns


def served(s: kit.Session, times: int) -> None:
    """The servers' logs show the client's line of application data `times` times (it was decrypted)."""
    text = "".join(p.read_text(errors="replace") for p in sorted(s.work.glob("*-server.log")))
    kit.check(text.count(LINE.decode().strip()) >= times, f"the servers did not receive the line {times} time(s)")


def negotiated(conn, version: int, suite: int | None = None) -> None:  # noqa: ANN001
    kit.check(conn.version == version, f"negotiated version {conn.version!r}, expected {version:#06x}")
    if suite is not None:
        kit.check(conn.cipher_suite == suite, f"negotiated suite {conn.cipher_suite!r}, expected {suite:#06x}")


def sh_ext(conn, ext: int):  # noqa: ANN001, ANN201
    return [m for m in conn.server_hellos if not m.body.hello_retry_request][0].body.ext(ext)


# --------------------------------------------------------------------------------------------------
# Helpers over capture_kit's Session
# --------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def server(cmd: list, s: kit.Session, what: str = "server", env: dict | None = None):
    """kit.server with an environment (OPENSSL_CONF)."""
    kit.port_free(s.port)
    proc = kit.spawn(cmd, log=s.log(what), env=env)
    try:
        kit.wait_listening(s.port)
        yield proc
    finally:
        kit.stop(proc)
        proc.stdin.close()


def s_client(s: kit.Session, *args: str, ok=(0,), env: dict | None = None, www: bool = True) -> str:
    """One s_client run: against -www, a GET then wait for the answer; else one line, then EOF."""
    if www:
        return kit.client(s.s_client("-ign_eof", "-servername", SERVER_NAME, *args), s.log("client"),
                         send=kit.HTTP_GET, ok=ok, env=env)
    return kit.client(s.s_client("-servername", SERVER_NAME, *args), s.log("client"), send=LINE,
                     hold=kit.STDIN_HOLD, ok=ok, env=env)


def openssl_pairs(s: kit.Session, pairs: list[tuple[list, list]], ok=(0,)) -> list[str]:
    """One capture; for each (server args, client args) a fresh s_server (-www, one accept) and one s_client."""
    outs = []
    with kit.capture(s.pcap, s.port):
        for server_args, client_args in pairs:
            with server(s.s_server(*server_args), s):
                outs.append(s_client(s, *client_args, ok=ok))
    return outs


def tlslite_server(s: kit.Session, naccept: int = 1, **settings) -> list:
    return peer("tlslite-server", host="127.0.0.1", port=s.port, chain=s.pki.d / "server-chain.pem",
                key=s.pki.server_key, naccept=naccept, settings=settings)


def tlslite_client(s: kit.Session, connections: list[dict], failures: int = 0, **settings) -> list:
    return peer("tlslite-client", host="127.0.0.1", port=s.port, connections=connections, failures=failures,
                keylog=s.keylog, settings=settings)


def scapy_server(s: kit.Session, compression: int | None = None) -> list:
    return peer("scapy-server", host="127.0.0.1", port=s.port, cert=s.pki.server_pem, key=s.pki.server_key,
                compression=compression)


def scapy_client(s: kit.Session, version: str, ciphers: list[int] = (), comp: list[int] = (0,)) -> list:
    return peer("scapy-client", host="127.0.0.1", port=s.port, version=version, ciphers=list(ciphers), comp=list(comp))


def run_client(s: kit.Session, cmd: list, ok=(0,)) -> str:
    return kit.client(cmd, s.log("client"), ok=ok)


def dhparam(s: kit.Session, name: str, *pkeyopt: str) -> Path:
    out = s.work / f"{name}.pem"
    kit.run(["openssl", "genpkey", "-genparam", "-algorithm", "DH", *[a for o in pkeyopt for a in ("-pkeyopt", o)],
            "-out", out])
    return out


def seclevel0(cipher: str) -> list[str]:
    return ["-cipher", f"{cipher}:@SECLEVEL=0"]


def no_ems_env(s: kit.Session) -> dict:
    conf = s.work / "no-ems.cnf"
    conf.write_text("openssl_conf = weak_conf\n[weak_conf]\nssl_conf = weak_ssl\n[weak_ssl]\n"
                    "system_default = weak_defaults\n[weak_defaults]\nOptions = -ExtendedMasterSecret\n")
    return dict(os.environ, OPENSSL_CONF=str(conf))


# --------------------------------------------------------------------------------------------------
# The captures
# --------------------------------------------------------------------------------------------------
def cap_null_md5(s: kit.Session) -> str:
    args = ["-tls1_2", *seclevel0("NULL-MD5")]
    openssl_pairs(s, [(args, args)])
    (c,) = facts(s, 1)
    negotiated(c, 0x0303, 0x0001)
    return "openssl both sides: TLS 1.2 TLS_RSA_WITH_NULL_MD5 (plaintext application data)"


def cap_anon(s: kit.Session) -> str:
    args = ["-tls1_2", *seclevel0("ADH-AES128-GCM-SHA256")]
    openssl_pairs(s, [([*args, "-dhparam", s.pki.dh2048_pem], args)])
    (c,) = facts(s, 1)
    negotiated(c, 0x0303, 0x00A6)
    kit.check(not c.certificates, "an anonymous suite must not send a Certificate")
    return "openssl both sides: TLS_DH_anon_WITH_AES_128_GCM_SHA256 (ffdhe2048, no Certificate)"


def cap_dhe_1024(s: kit.Session) -> str:
    fresh = dhparam(s, "fresh1024", "dh_paramgen_prime_len:1024")
    rfc5114 = dhparam(s, "rfc5114-1024", "group:dh_1024_160")
    args = ["-tls1_2", *seclevel0("DHE-RSA-AES128-GCM-SHA256")]
    openssl_pairs(s, [([*args, "-dhparam", fresh], args), ([*args, "-dhparam", rfc5114], args)])
    conns = facts(s, 2)
    for c in conns:
        negotiated(c, 0x0303, 0x009E)
        kit.check(c.server_key_exchange.dh_bits == 1024, f"DH group of {c.server_key_exchange.dh_bits} bits")
    return "openssl: DHE-RSA with a freshly generated 1024-bit prime, then with RFC 5114's 1024-bit prime"


def cap_small_curve(s: kit.Session) -> str:
    args = ["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256", "-groups", "P-224"]
    openssl_pairs(s, [(args, args)])
    (c,) = facts(s, 1)
    negotiated(c, 0x0303, 0xC02F)
    kit.check(c.group == 0x0015, f"group {c.group}, not secp224r1")
    return "openssl both sides: ECDHE over secp224r1 (-groups P-224)"


def cap_dhe_modp2048(s: kit.Session) -> str:
    modp = dhparam(s, "modp2048", "group:modp_2048")
    args = ["-tls1_2", "-cipher", "DHE-RSA-AES128-GCM-SHA256"]
    openssl_pairs(s, [([*args, "-dhparam", modp], args)])
    (c,) = facts(s, 1)
    negotiated(c, 0x0303, 0x009E)
    kit.check(c.server_key_exchange.dh_bits == 2048, "expected a 2048-bit group")
    return "openssl: DHE-RSA with RFC 3526 group 14 (2048-bit MODP, a widely shared prime)"


def dsa_server_cert(s: kit.Session) -> str:
    """A DSA-2048 leaf for example.test from the fixture intermediate (in the PKI dir, as `cert=` wants)."""
    d = s.pki.d
    if not (d / "dsaserver.pem").exists():
        kit.run(["openssl", "genpkey", "-genparam", "-algorithm", "DSA", "-pkeyopt", "dsa_paramgen_bits:2048",
                "-out", d / "dsaparam.pem"])
        kit.run(["openssl", "genpkey", "-paramfile", d / "dsaparam.pem", "-out", d / "dsaserver.key"])
        (d / "dsaserver.ext").write_text("basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
                                         "subjectAltName=DNS:example.test,IP:127.0.0.1\n")
        kit.run(["openssl", "req", "-new", "-key", d / "dsaserver.key", "-subj", "/CN=example.test",
                "-out", d / "dsaserver.csr"])
        kit.run(["openssl", "x509", "-req", "-in", d / "dsaserver.csr", "-CA", s.pki.inter_pem, "-CAkey", s.pki.inter_key,
                "-CAcreateserial", "-days", "3650", "-sha256", "-extfile", d / "dsaserver.ext",
                "-out", d / "dsaserver.pem"])
    return "dsaserver"


def cap_kx_signatures(s: kit.Session) -> str:
    sha1 = ["-tls1_2", *seclevel0("ECDHE-RSA-AES128-GCM-SHA256"), "-sigalgs", "RSA+SHA1"]
    dsa = ["-tls1_2", *seclevel0("DHE-DSS-AES128-GCM-SHA256"), "-sigalgs", "DSA+SHA256"]
    cert = dsa_server_cert(s)
    with kit.capture(s.pcap, s.port):
        with server(s.s_server(*sha1), s):
            s_client(s, *sha1)
        with server(s.s_server(*dsa, "-dhparam", s.pki.dh2048_pem, cert=cert), s):
            s_client(s, *dsa)
    rsa_sha1, dsa_sha256 = facts(s, 2)
    negotiated(rsa_sha1, 0x0303, 0xC02F)
    kit.check(rsa_sha1.server_key_exchange.signature_scheme == 0x0201, "conn 1: SKE not signed rsa_pkcs1_sha1")
    negotiated(dsa_sha256, 0x0303, 0x00A2)
    kit.check(dsa_sha256.server_key_exchange.signature_scheme == 0x0402, "conn 2: SKE not signed dsa_sha256")
    return ("openssl at SECLEVEL 0: -sigalgs RSA+SHA1 (ServerKeyExchange signed rsa_pkcs1_sha1); "
            "DHE-DSS with a DSA-2048 certificate, -sigalgs DSA+SHA256 (signed dsa_sha256)")


def cap_fallback_scsv(s: kit.Session) -> str:
    outs = openssl_pairs(s, [([], ["-tls1_2", "-fallback_scsv"]), (["-no_tls1_3"], ["-tls1_2", "-fallback_scsv"])],
                         ok=None)
    refused, accepted = facts(s, 2)
    kit.check(refused.fallback_scsv and [a.description for a in refused.alerts] == [86],
             f"conn 1: alerts {refused.alerts}, expected inappropriate_fallback(86)")
    kit.check(accepted.fallback_scsv and accepted.complete and accepted.version == 0x0303
             and not any(a.level == 2 for a in accepted.alerts),
             "conn 2: the fallback to TLS 1.2 should be accepted by a TLS 1.2 server")
    kit.check("inappropriate fallback" in outs[0], "s_client did not report inappropriate fallback")
    return ("s_client -tls1_2 -fallback_scsv: to a TLS 1.3 s_server -> inappropriate_fallback(86); "
            "to a -no_tls1_3 s_server -> accepted")


def cap_no_ems(s: kit.Session) -> str:
    with kit.capture(s.pcap, s.port), server(s.s_server("-tls1_2"), s, env=no_ems_env(s)):
        out = s_client(s, "-tls1_2")
    (c,) = facts(s, 1)
    negotiated(c, 0x0303)
    kit.check(c.client_hellos[0].body.ext(23) is not None and sh_ext(c, 23) is None, "EMS offered and declined?")
    kit.check("Extended master secret: no" in out, "s_client reports EMS in use")
    return "s_server with OPENSSL_CONF Options=-ExtendedMasterSecret: client offers EMS, TLS 1.2 ServerHello without it"


def cap_tls11_no_ems(s: kit.Session) -> str:
    args = ["-tls1_1", *seclevel0("ECDHE-RSA-AES128-SHA")]
    with kit.capture(s.pcap, s.port), server(s.s_server(*args), s, env=no_ems_env(s)):
        s_client(s, *args)
    (c,) = facts(s, 1)
    negotiated(c, 0x0302, 0xC013)
    kit.check(sh_ext(c, 23) is None, "TLS 1.1 ServerHello has extended_master_secret")
    return "as weak-no-ems, with TLS 1.1 (ECDHE-RSA-AES128-SHA): no extended_master_secret"


GNUTLS_NO_RI = "NORMAL:-VERS-ALL:+VERS-TLS1.2:%DISABLE_SAFE_RENEGOTIATION"


def gnutls_serv(s: kit.Session, priority: str, mode: str = "--http") -> list:
    return ["gnutls-serv", "--port", s.port, mode, "--x509certfile", s.pki.d / "server-chain.pem",
            "--x509keyfile", s.pki.server_key, "--priority", priority]


def gnutls_cli(s: kit.Session, priority: str, *extra: str) -> list:
    return ["gnutls-cli", "--port", s.port, "--sni-hostname", SERVER_NAME, "--x509cafile", s.pki.root_pem,
            "--verify-hostname", SERVER_NAME, "--priority", priority, *extra, "127.0.0.1"]


def cap_no_secure_reneg(s: kit.Session) -> str:
    env = dict(os.environ, SSLKEYLOGFILE=str(s.keylog))
    with kit.capture(s.pcap, s.port):
        with server(gnutls_serv(s, GNUTLS_NO_RI, "--echo"), s):
            out1 = s_client(s, "-tls1_2", "-legacy_server_connect", www=False)
        with server(s.s_server("-tls1_2"), s):
            out2 = kit.client(gnutls_cli(s, GNUTLS_NO_RI), s.log("client"), send=kit.HTTP_GET, hold=1.0, env=env)
    server_only, client_only = facts(s, 2)
    kit.check("Secure Renegotiation IS NOT supported" in out1, "s_client saw secure renegotiation")
    kit.check("Handshake was completed" in out2, "gnutls-cli did not complete the handshake")
    ch1, ch2 = server_only.client_hellos[0].body, client_only.client_hellos[0].body
    kit.check(ch1.ext(0xFF01) is not None or 0x00FF in ch1.cipher_suites, "conn 1: s_client did not signal RI")
    kit.check(sh_ext(server_only, 0xFF01) is None, "conn 1: gnutls-serv answered renegotiation_info")
    kit.check(ch2.ext(0xFF01) is None and 0x00FF not in ch2.cipher_suites, "conn 2: gnutls-cli signalled RI")
    kit.check(sh_ext(client_only, 0xFF01) is None, "conn 2: s_server answered RI nobody asked for")
    return ("conn 1: s_client -legacy_server_connect (signals RI) -> gnutls-serv %DISABLE_SAFE_RENEGOTIATION (no RI); "
            "conn 2: gnutls-cli %DISABLE_SAFE_RENEGOTIATION (no RI, no SCSV) -> s_server (RI-capable, so silent)")


def cap_insecure_renegotiation(s: kit.Session) -> str:
    env = dict(os.environ, SSLKEYLOGFILE=str(s.keylog))
    with kit.capture(s.pcap, s.port), server(gnutls_serv(s, GNUTLS_NO_RI, "--echo"), s):
        out = kit.client(gnutls_cli(s, GNUTLS_NO_RI, "--rehandshake"), s.log("client"), send=LINE, hold=1.0, env=env)
    (c,) = facts(s, 1)
    kit.check("ReHandshake was completed" in out, "gnutls-cli did not renegotiate")
    kit.check(c.renegotiation, "no renegotiation seen")
    return "gnutls both sides %DISABLE_SAFE_RENEGOTIATION, gnutls-cli --rehandshake: renegotiation without RFC 5746"


def cap_tls13_downgrade(s: kit.Session) -> str:
    with kit.capture(s.pcap, s.port):
        # tlslite-ng configured up to TLS 1.3 but only TLS 1.2 enabled: it marks its random
        with server(tlslite_server(s, maxVersion=(3, 4), versions=[(3, 3)]), s):
            out = s_client(s, ok=None, www=False)
        # negative: a TLS 1.2-only client; OpenSSL's TLS 1.3 server marks its random too
        with server(s.s_server(), s):
            s_client(s, "-tls1_2")
    marked, plain12 = facts(s, 2)
    kit.check(0x0304 in marked.versions_offered and marked.downgrade_sentinel == "TLS1.2",
             "conn 1: no sentinel on a TLS 1.3 offer")
    kit.check([a.description for a in marked.alerts if a.side == "client"] == [47],
             "conn 1: the client should abort with illegal_parameter(47)")
    kit.check("inappropriate fallback" in out, "s_client did not detect the downgrade")  # OpenSSL's name for it
    kit.check(0x0304 not in plain12.versions_offered and plain12.downgrade_sentinel == "TLS1.2" and plain12.complete,
             "conn 2: OpenSSL's DOWNGRD01 on a TLS 1.2-only offer expected")
    return ("conn 1: s_client (offers TLS 1.3) -> tlslite-ng maxVersion 1.3, versions [1.2]: DOWNGRD01, client "
            "illegal_parameter; conn 2: s_client -tls1_2 -> s_server: DOWNGRD01 on a 1.2-only offer (no downgrade)")


def cap_psk_ke(s: kit.Session) -> str:
    with kit.capture(s.pcap, s.port):
        with server(s.s_server("-tls1_3", "-allow_no_dhe_kex", "-keylogfile", s.keylog, naccept=2), s):
            run_client(s, tlslite_client(s, [{"send": kit.HTTP_GET.decode(), "http": True},
                                             {"send": kit.HTTP_GET.decode(), "http": True, "resume": True}],
                                         psk_modes=["psk_ke"]))
    full, resumed = facts(s, 2, keys=True)
    for c in (full, resumed):
        kit.check(c.client_hellos[0].body.ext(45).fields.get("modes") == [0], "client offered more than psk_ke")
    kit.check(resumed.resumed == "psk" and sh_ext(resumed, 51) is None, "conn 2 is not a psk_ke resumption")
    return "tlslite-ng client psk_modes [psk_ke] -> s_server -allow_no_dhe_kex: conn 2 resumes with psk_ke (no key_share)"


def cap_psk_ke_chosen(s: kit.Session) -> str:
    sess = s.work / "sess.pem"
    with kit.capture(s.pcap, s.port):
        with server(tlslite_server(s, naccept=2, minVersion=(3, 4), ticketKeys=1, psk_modes=["psk_ke"]), s):
            s_client(s, "-tls1_3", "-allow_no_dhe_kex", "-sess_out", sess, www=False)
            s_client(s, "-tls1_3", "-allow_no_dhe_kex", "-sess_in", sess, www=False)
    full, resumed = facts(s, 2, keys=True)
    kit.check(set(resumed.client_hellos[0].body.ext(45).fields.get("modes")) == {0, 1}, "s_client should offer both")
    kit.check(resumed.resumed == "psk" and sh_ext(resumed, 51) is None, "conn 2 is not a psk_ke resumption")
    return ("s_client -allow_no_dhe_kex (psk_ke and psk_dhe_ke) -> tlslite-ng server psk_modes [psk_ke]: "
            "conn 2 resumed with psk_ke (ServerHello without key_share)")


def cap_sslv3(s: kit.Session) -> str:
    ssl3 = {"minVersion": (3, 0), "maxVersion": (3, 0), "keyExchangeNames": ["rsa"], "cipherNames": ["aes128"]}
    with kit.capture(s.pcap, s.port), server(tlslite_server(s, **ssl3), s):
        run_client(s, tlslite_client(s, [{}], **ssl3))
    (c,) = facts(s, 1)
    served(s, 1)
    negotiated(c, 0x0300, 0x002F)
    return "tlslite-ng both sides, SSL 3.0, TLS_RSA_WITH_AES_128_CBC_SHA; key log from the client"


def cap_rc4(s: kit.Session) -> str:
    offer = {"cipherNames": ["rc4", "aes128gcm"], "macNames": ["md5", "sha", "sha256", "aead"], "maxVersion": (3, 3)}
    with kit.capture(s.pcap, s.port):
        with server(tlslite_server(s, cipherNames=["rc4"], macNames=["md5"], maxVersion=(3, 3)), s):
            run_client(s, tlslite_client(s, [{}], **offer))
        with server(s.s_server("-tls1_2"), s):
            run_client(s, tlslite_client(s, [{"send": kit.HTTP_GET.decode(), "http": True}], **offer))
    rc4, aes = facts(s, 2)
    served(s, 1)
    negotiated(rc4, 0x0303, 0x0004)
    negotiated(aes, 0x0303, 0xC02F)
    kit.check(0x0004 in aes.client_hellos[0].body.cipher_suites, "conn 2: RC4 not offered")
    return ("tlslite-ng client (offers RC4-MD5 and AES-GCM): -> tlslite-ng RC4-only server: TLS_RSA_WITH_RC4_128_MD5; "
            "-> s_server (no RC4 in OpenSSL 3): TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")


def cap_heartbeat(s: kit.Session) -> str:
    with kit.capture(s.pcap, s.port), server(tlslite_server(s, naccept=2, maxVersion=(3, 3)), s):
        run_client(s, tlslite_client(s, [{"heartbeats": [{"payload": "are you there?"}]},
                                         {"heartbeats": [{"payload": "x", "claimed": 16384}]}], maxVersion=(3, 3)))
    normal, bleed = facts(s, 2, keys=True)
    served(s, 2)
    for c in (normal, bleed):
        kit.check(c.client_hellos[0].body.ext(15) is not None and sh_ext(c, 15) is not None, "heartbeat not negotiated")
    beats = [[(e.side, e.msg.body.heartbeat_type, e.msg.body.payload_length, e.msg.body.record_length)
              for e in c.entries if getattr(getattr(e, "msg", None), "name", "") == "Heartbeat"] for c in (normal, bleed)]
    kit.check(beats[0] == [("client", 1, 14, 33), ("server", 2, 14, 33)], f"conn 1 heartbeats {beats[0]}")
    kit.check(beats[1] == [("client", 1, 16384, 20)], f"conn 2 heartbeats {beats[1]} (server must stay silent)")
    return ("tlslite-ng both sides, TLS 1.2, heartbeat extension; conn 1 request/response (14-byte payload); "
            "conn 2 request claiming 16384 bytes in a 20-byte record, silently dropped; key log from the client")


def cap_sslv2(s: kit.Session) -> str:
    with kit.capture(s.pcap, s.port), server(scapy_server(s), s):
        run_client(s, scapy_client(s, "sslv2"))
    (c,) = facts(s, 1)
    served(s, 1)
    kit.check(c.client_hellos[0].body.sslv2 and c.versions_offered == [0x0002], "not an SSLv2 ClientHello")
    names = [e.msg.name for e in c.entries if hasattr(e, "msg")]
    kit.check(names[:3] == ["ClientHello", "SSLv2ServerHello", "SSLv2ClientMasterKey"], f"SSLv2 handshake? {names}")
    return "scapy TLS automata both sides: SSLv2 CLIENT-HELLO, SERVER-HELLO, CLIENT-MASTER-KEY, encrypted records"


def _scapy_pairs(s: kit.Session, suites: list[int], version: str = "TLS 1.0") -> list:
    with kit.capture(s.pcap, s.port), server(scapy_server(s), s):
        for suite in suites:
            run_client(s, scapy_client(s, version, [suite]))
    conns = facts(s, len(suites))
    served(s, len(suites))
    for c, suite in zip(conns, suites):
        negotiated(c, 0x0301, suite)
    return conns


def cap_export(s: kit.Session) -> str:
    _scapy_pairs(s, [0x0003, 0x0008])
    return "scapy automata, TLS 1.0: TLS_RSA_EXPORT_WITH_RC4_40_MD5, then TLS_RSA_EXPORT_WITH_DES40_CBC_SHA"


def cap_des_idea(s: kit.Session) -> str:
    _scapy_pairs(s, [0x0009, 0x0007])
    return "scapy automata, TLS 1.0: TLS_RSA_WITH_DES_CBC_SHA, then TLS_RSA_WITH_IDEA_CBC_SHA"


def cap_compression(s: kit.Session) -> str:
    client = scapy_client(s, "TLS 1.0", [0x002F], comp=[DEFLATE, 0])
    with kit.capture(s.pcap, s.port):
        with server(scapy_server(s, compression=DEFLATE), s):
            run_client(s, client)
        with server(s.s_server("-tls1", *seclevel0("AES128-SHA"), www=False), s):
            run_client(s, client)
    deflated, plain = facts(s, 2)
    served(s, 2)
    for c in (deflated, plain):
        negotiated(c, 0x0301, 0x002F)
        kit.check(c.client_hellos[0].body.compression_methods == [DEFLATE, 0], "DEFLATE not offered")
    kit.check(deflated.server_hellos[0].body.compression_method == DEFLATE, "conn 1: DEFLATE not chosen")
    kit.check(plain.server_hellos[0].body.compression_method == 0, "conn 2: s_server chose compression")
    return "scapy client offers DEFLATE: scapy server picks it (TLS 1.0 AES128-SHA); s_server (no zlib) picks null"


def explicit_curve_server(s: kit.Session, suite: int) -> list:
    return peer("explicit-curve-server", host="127.0.0.1", port=s.port, chain=s.pki.d / "server-chain.pem",
                key=s.pki.server_key, suite=suite)


def cap_explicit_curve(s: kit.Session) -> str:
    suite = 0xC02F
    with kit.capture(s.pcap, s.port), server(explicit_curve_server(s, suite), s):
        out = run_client(s, s.s_client("-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256", "-servername",
                                       SERVER_NAME), ok=(1,))
    (c,) = facts(s, 1)
    negotiated(c, 0x0303, suite)
    kit.check(c.server_key_exchange is not None and c.server_key_exchange.curve_type == 1,
             f"ServerKeyExchange {c.server_key_exchange}: not explicit_prime")
    fatal = [(a.side, a.description) for a in c.alerts if a.level == 2]
    kit.check(fatal == [("client", 47)], f"alerts {c.alerts}: expected the client's fatal illegal_parameter(47)")
    kit.check("wrong curve" in out, "s_client did not refuse the curve")
    log = "".join(p.read_text(errors="replace") for p in sorted(s.work.glob("*-server.log")))
    kit.check("client alert fatal" in log, "the server did not read the client's fatal alert")
    rows = kit.run(["tshark", "-n", "-r", s.pcap, "-d", f"tcp.port=={s.port},tls", "-Y", "tls.handshake.type == 12",
                   "-T", "fields", "-e", "tls.handshake.server_curve_type"]).decode().split()
    kit.check(rows == ["0x01"] or rows == ["1"], f"tshark: ServerKeyExchange curve_type {rows}, not explicit_prime")
    return ("s_client -tls1_2 ECDHE-RSA-AES128-GCM-SHA256 -> Python server of scapy-built records: ServerKeyExchange "
            "with P-256 as explicit_prime parameters, RSA-PKCS1-SHA256 signed; the client aborts with a fatal alert")


# name -> (port, function)
WEAK = {
    "weak-null-md5": (15001, cap_null_md5),
    "weak-anon": (15002, cap_anon),
    "weak-dhe-1024": (15003, cap_dhe_1024),
    "weak-dhe-modp2048": (15004, cap_dhe_modp2048),
    "weak-kx-signatures": (15005, cap_kx_signatures),
    "weak-fallback-scsv": (15006, cap_fallback_scsv),
    "weak-no-ems": (15007, cap_no_ems),
    "weak-tls11-no-ems": (15008, cap_tls11_no_ems),
    "weak-no-secure-reneg": (15009, cap_no_secure_reneg),
    "weak-insecure-renegotiation": (15010, cap_insecure_renegotiation),
    "weak-tls13-downgrade": (15011, cap_tls13_downgrade),
    "weak-psk-ke": (15012, cap_psk_ke),
    "weak-psk-ke-chosen": (15013, cap_psk_ke_chosen),
    "weak-sslv3": (15014, cap_sslv3),
    "weak-rc4": (15015, cap_rc4),
    "weak-heartbeat": (15016, cap_heartbeat),
    "weak-sslv2": (15017, cap_sslv2),
    "weak-export": (15018, cap_export),
    "weak-des-idea": (15019, cap_des_idea),
    "weak-compression": (15020, cap_compression),
    "weak-small-curve": (15021, cap_small_curve),
    "weak-explicit-curve": (15022, cap_explicit_curve),
}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("names", nargs="*", metavar="NAME", help=f"captures to make (default: all): {' '.join(WEAK)}")
    ap.add_argument("--keep-tmp", action="store_true", help="keep the temp dir (logs, certs) for debugging")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("must run as root (tcpdump)")
    names = [n.removesuffix(".pcap") for n in args.names] or list(WEAK)
    unknown = [n for n in names if n not in WEAK]
    if unknown:
        sys.exit(f"unknown capture(s): {unknown}; known: {list(WEAK)}")
    kit.make_all(WEAK, names, args.keep_tmp)

if __name__ == "__main__":
    main()
