#!/usr/bin/env python3
"""Generate the TLS fixture captures in captures/ from real TLS peers.

Run as root (tcpdump, dumpcap, ip netns):

    python captures/scripts/make_captures.py                 # all captures
    python captures/scripts/make_captures.py --only tls13 tls13-hrr

Every run creates a throwaway CA, keys and certificates in a temporary
directory, starts real TLS peers (openssl s_server/s_client, gnutls-cli,
Python's ssl module, tlslite-ng) on 127.0.0.1 / ::1 (or inside two network
namespaces this script creates and deletes), captures the traffic with
tcpdump (dumpcap for the pcapng fixture), checks with tshark that the
expected handshake messages are present, and only then copies the capture
(and the NSS key log, when the client can write one) into captures/ and
captures/keys/.  Any failed check aborts with a non-zero exit status.

Every external process is wrapped in coreutils `timeout`, so it stops on its
own even if this script dies.
"""

from __future__ import annotations

import gzip
import os
import shutil
import socket
import ssl
import struct
import subprocess
import threading
from pathlib import Path

from capture_kit import (CAPDIR, CERT, CH, CKE, CR, CV, EE, EOED, FIN, HTTP_GET, NST, READY_TIMEOUT,  # noqa: E402
                         SH, SHD, SKE, SOCK_TIMEOUT, STDIN_HOLD, Session, analyze, capture, check, check_conns,
                         check_hs, client, main, port_free, run, server)

HRR_RANDOM = "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c"

# Extension types
EXT_SNI, EXT_ALPN, EXT_TICKET, EXT_PSK, EXT_EARLY = 0, 16, 35, 41, 42

# A long ALPN list: makes the ClientHello bigger than one 536-byte TCP
# segment / one 512-byte TLS record.
LONG_ALPN = ["h2", "http/1.1"] + [f"fixture-proto-{i:02d}-padding-padding" for i in range(40)]

# Hostile strings (tls13-hostile-strings).
HOSTILE_SNI = b"evil\x1b[31m.red\r\nX-Injected: 1\xe2\x80\xaeexe.test"  # ESC, CR/LF, U+202E
HOSTILE_SNI_NUL = HOSTILE_SNI + b"\x00.nul.test"  # only tlslite-ng can send NUL
HOSTILE_ALPN = [b"=cmd|' /C calc'!A0", b"\x1b]0;title\x07", b"http/1.1"]
# Markup and script for the HTML report (tls-hostile-html): what a page would run if it pasted wire
# strings into its markup, a long string with bidi overrides, and one beyond what OpenSSL sends.
HTML_SCRIPT = b"<script>document.title='pwned'</script>"
HTML_IMG = b'"><img src=x onerror=alert(1)>'
HTML_CLOSE = b"</script><!--"
HTML_LONG = ("\u202e<b>" + "\u2066long-label-" * 17 + "</b>\u202c").encode()  # 251 bytes
HTML_HUGE = "<marquee>" + "x" * 1990 + "</marquee>"  # over OpenSSL's 255-byte host name limit
HTML_CERT_SUBJECT = "/CN=<img src=x onerror=alert(2)>/O=<\\/script><!-- \"'&amp;"
HTML_CERT_EXT = ("basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
                 "subjectAltName=DNS:><svg onload=alert(3)>,DNS:</script><!--,DNS:example.test\n")


# --------------------------------------------------------------------------
# Raw pcap reading (only for exact ClientHello bytes)
# --------------------------------------------------------------------------
def client_payloads(pcap, port):
    """{client_port: bytes sent by the client} for a little-endian/BE pcap on Ethernet/lo."""
    data = Path(pcap).read_bytes()
    magic = data[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    check(linktype == 1, f"unexpected linktype {linktype}")
    off, streams = 24, {}
    while off + 16 <= len(data):
        incl = struct.unpack(endian + "I", data[off + 8: off + 12])[0]
        pkt = data[off + 16: off + 16 + incl]
        off += 16 + incl
        etype = struct.unpack(">H", pkt[12:14])[0]
        if etype == 0x0800:
            ihl = (pkt[14] & 15) * 4
            proto, l4 = pkt[23], pkt[14 + ihl:]
        elif etype == 0x86DD:
            proto, l4 = pkt[20], pkt[54:]
        else:
            continue
        if proto != 6:
            continue
        sport, dport = struct.unpack(">HH", l4[:4])
        payload = l4[(l4[12] >> 4) * 4:]
        if dport == port and payload:
            streams.setdefault(sport, bytearray()).extend(payload)  # lo: no loss, no reordering
    return streams


def parse_client_hello(stream):
    """(sni bytes, [alpn protocols], number of TLS records the ClientHello spans)."""
    hs, off, nrec = bytearray(), 0, 0
    while True:
        ctype, _ver, ln = struct.unpack(">BHH", stream[off: off + 5])
        check(ctype == 22, "client did not start with a handshake record")
        hs += stream[off + 5: off + 5 + ln]
        off += 5 + ln
        nrec += 1
        if len(hs) >= 4 and len(hs) >= 4 + int.from_bytes(hs[1:4], "big"):
            break
    body = bytes(hs[4: 4 + int.from_bytes(hs[1:4], "big")])
    p = 2 + 32
    p += 1 + body[p]  # session id
    p += 2 + int.from_bytes(body[p: p + 2], "big")  # cipher suites
    p += 1 + body[p]  # compression
    end = p + 2 + int.from_bytes(body[p: p + 2], "big")
    p += 2
    sni, alpn = None, []
    while p < end:
        et, el = struct.unpack(">HH", body[p: p + 4])
        ed = body[p + 4: p + 4 + el]
        p += 4 + el
        if et == EXT_SNI:
            sni = ed[5: 5 + int.from_bytes(ed[3:5], "big")]
        elif et == EXT_ALPN:
            q = 2
            while q < len(ed):
                alpn.append(ed[q + 1: q + 1 + ed[q]])
                q += 1 + ed[q]
    return sni, alpn, nrec


# --------------------------------------------------------------------------
# The captures: one function each. Each returns a short description of what
# was verified.
# --------------------------------------------------------------------------
def cap_tls13(s: Session):
    s.simple(["-tls1_3", "-alpn", "http/1.1"],
             [["-tls1_3", "-servername", "example.test", "-alpn", "h2,http/1.1"]])
    _, conns = analyze(s.pcap, s.port, s.keylog)
    check_conns(conns, 1)
    c = conns[0]
    check_hs(c, "c", [CH, FIN], "tls13")
    check_hs(c, "s", [SH, EE, CERT, CV, FIN, NST], "tls13")
    check(c.appdata("c") >= 1 and c.appdata("s") >= 1, "application data missing")
    # gzip copy (deterministic header)
    with open(s.pcap, "rb") as src, open(s.work / "tls13.pcap.gz", "wb") as raw:
        with gzip.GzipFile(filename="tls13.pcap", mode="wb", fileobj=raw, mtime=0) as gz:
            shutil.copyfileobj(src, gz)
    shutil.copyfile(s.work / "tls13.pcap.gz", CAPDIR / "tls13.pcap.gz")
    return "CH, SH, (decrypted) EE, Certificate, CertificateVerify, Finished x2, NST; app data both ways; +tls13.pcap.gz"


def cap_tls13_hrr(s: Session):
    s.simple(["-tls1_3", "-groups", "P-256"],
             [["-tls1_3", "-groups", "X25519:P-256", "-servername", "example.test"]])
    _, conns = analyze(s.pcap, s.port, s.keylog)
    check_conns(conns, 1)
    c = conns[0]
    check(c.hs("c").count(CH) == 2, f"expected 2 ClientHellos, got {c.hs('c')}")
    server_hellos = [f for f in c.frames if not f.from_client and SH in f.hs]
    randoms = [f.randoms[0] for f in server_hellos]
    check(len(randoms) == 2 and randoms[0] == HRR_RANDOM and randoms[1] != HRR_RANDOM,
          f"ServerHello randoms {randoms}: first must be the HRR magic")
    check_hs(c, "s", [SH, SH, EE, CERT, CV, FIN], "hrr")
    return "CH(X25519 share), HRR (SH with magic random), CH2, SH, encrypted flight; app data"


def cap_tls13_psk_resumption(s: Session):
    sess = s.work / "sess.pem"
    s.simple(["-tls1_3"], [["-tls1_3", "-servername", "example.test", "-sess_out", sess],
                           ["-tls1_3", "-servername", "example.test", "-sess_in", sess]], naccept=2)
    _, conns = analyze(s.pcap, s.port, s.keylog)
    check_conns(conns, 2)
    first, second = conns
    check_hs(first, "s", [SH, EE, CERT, CV, FIN, NST], "full")
    check(EXT_PSK in second.first("c", CH).exts, "2nd ClientHello has no pre_shared_key")
    check(EXT_PSK in second.first("s", SH).exts, "2nd ServerHello did not accept the PSK")
    check(CERT not in second.hs("s"), "resumed handshake still sent a Certificate")
    return "conn1 full handshake + NST; conn2 CH+SH with pre_shared_key, no Certificate"


def cap_tls13_0rtt(s: Session):
    sess, early = s.work / "sess.pem", s.work / "early.txt"
    early.write_bytes(b"GET /early HTTP/1.0\r\n\r\n")
    (c1, c2), srv = s.simple(
        ["-tls1_3", "-early_data"],
        [["-tls1_3", "-servername", "example.test", "-sess_out", sess],
         ["-tls1_3", "-servername", "example.test", "-sess_in", sess, "-early_data", early]],
        naccept=2, www=False, send=b"hello after handshake\n")
    check("Early data was accepted" in c2, "client: early data not accepted")
    check("Early data received" in srv and "GET /early" in srv, "server did not print the early data")
    _, conns = analyze(s.pcap, s.port, s.keylog)
    check_conns(conns, 2)
    second = conns[1]
    ch = second.first("c", CH)
    check(EXT_EARLY in ch.exts and 23 in ch.ctypes[ch.ctypes.index(22):],
          "2nd ClientHello lacks early_data ext / 0-RTT record")
    check(EXT_EARLY in second.first("s", EE).exts, "EncryptedExtensions lacks early_data (not accepted)")
    check_hs(second, "c", [CH, EOED, FIN], "0rtt")
    return "conn2: CH with early_data + pre_shared_key, 0-RTT app data record, EE(early_data), EndOfEarlyData"


def _tls12(s: Session, cipher, *extra_s):
    return s.simple(["-tls1_2", "-cipher", cipher, *extra_s],
                    [["-tls1_2", "-cipher", cipher, "-servername", "example.test"]])


def cap_tls12_ecdhe(s: Session):
    _tls12(s, "ECDHE-RSA-AES128-GCM-SHA256")
    _, conns = analyze(s.pcap, s.port)
    check_conns(conns, 1)
    c = conns[0]
    check_hs(c, "c", [CH, CKE], "ecdhe")
    check_hs(c, "s", [SH, CERT, SKE, SHD], "ecdhe")
    check(c.first("s", SH).suites == [0xC02F], "server did not pick ECDHE-RSA-AES128-GCM-SHA256")
    return "CH(SNI), SH(0xc02f), Certificate, ServerKeyExchange, SHD, CKE, CCS, Finished; app data"


def cap_tls12_dhe(s: Session):
    _tls12(s, "DHE-RSA-AES256-GCM-SHA384", "-dhparam", s.pki.dh2048_pem)
    _, conns = analyze(s.pcap, s.port)
    check_conns(conns, 1)
    c = conns[0]
    check_hs(c, "s", [SH, CERT, SKE, SHD], "dhe")
    check(c.first("s", SH).suites == [0x009F], "server did not pick DHE-RSA-AES256-GCM-SHA384")
    ske = c.first("s", SKE)
    check(ske.length > 256 + 256, "ServerKeyExchange too small for 2048-bit DH")
    return "SH(0x009f), ServerKeyExchange with ffdhe2048 p/g/Ys, CKE; app data"


def cap_tls12_rsa(s: Session):
    _tls12(s, "AES128-GCM-SHA256")
    _, conns = analyze(s.pcap, s.port)
    check_conns(conns, 1)
    c = conns[0]
    check_hs(c, "s", [SH, CERT, SHD], "rsa")
    check(SKE not in c.hs("s"), "static RSA must not have a ServerKeyExchange")
    check(c.first("s", SH).suites == [0x009C], "server did not pick AES128-GCM-SHA256")
    return "SH(0x009c), Certificate, SHD (no SKE), RSA-encrypted CKE; app data"


def _tls12_resumption(s: Session, *server_extra):
    sess = s.work / "sess.pem"
    s.simple(["-tls1_2", *server_extra],
             [["-tls1_2", "-servername", "example.test", "-sess_out", sess],
              ["-tls1_2", "-servername", "example.test", "-sess_in", sess]], naccept=2)
    _, conns = analyze(s.pcap, s.port)
    check_conns(conns, 2)
    first, second = conns
    check_hs(first, "s", [SH, CERT, SKE, SHD], "full")
    check(CERT not in second.hs("s") and CKE not in second.hs("c"), "2nd handshake is not abbreviated")
    return first, second


def cap_tls12_session_resumption(s: Session):
    first, second = _tls12_resumption(s, "-no_ticket")
    sh1, ch2, sh2 = first.first("s", SH), second.first("c", CH), second.first("s", SH)
    check(NST not in first.hs("s") + second.hs("s"), "server sent a NewSessionTicket despite -no_ticket")
    check(ch2.sids and ch2.sids == sh2.sids == sh1.sids, "session id not reused")
    return "conn1 full (session id S); conn2 CH/SH with same session id S, no Certificate/CKE"


def cap_tls12_ticket_resumption(s: Session):
    first, second = _tls12_resumption(s)
    check(NST in first.hs("s"), "no NewSessionTicket in 1st connection")
    ch2, sh2 = second.first("c", CH), second.first("s", SH)
    check(EXT_TICKET in ch2.exts and EXT_TICKET in first.first("s", SH).exts, "session_ticket extension missing")
    check(ch2.sids and ch2.sids == sh2.sids, "server did not echo the session id (ticket not accepted)")
    return "conn1 full + NewSessionTicket; conn2 CH with the ticket, SH (echoed session id), CCS, Finished"


def cap_tls12_mtls(s: Session):
    s.simple(["-tls1_2", "-Verify", "1", "-CAfile", s.pki.root_pem],
             [["-tls1_2", "-servername", "example.test", "-cert", s.pki.client_pem, "-key", s.pki.client_key]])
    _, conns = analyze(s.pcap, s.port)
    check_conns(conns, 1)
    c = conns[0]
    check_hs(c, "s", [SH, CERT, SKE, CR, SHD], "mtls12")
    check_hs(c, "c", [CH, CERT, CKE, CV], "mtls12")
    return "SH, Certificate, SKE, CertificateRequest, SHD; client Certificate, CKE, CertificateVerify"


def cap_tls13_mtls(s: Session):
    s.simple(["-tls1_3", "-Verify", "1", "-CAfile", s.pki.root_pem],
             [["-tls1_3", "-servername", "example.test", "-cert", s.pki.client_pem, "-key", s.pki.client_key]])
    _, conns = analyze(s.pcap, s.port, s.keylog)
    check_conns(conns, 1)
    c = conns[0]
    check_hs(c, "s", [SH, EE, CR, CERT, CV, FIN], "mtls13")
    check_hs(c, "c", [CH, CERT, CV, FIN], "mtls13")
    return "(decrypted) EE, CertificateRequest, Certificate, CV, Finished; client Certificate, CV, Finished"


def cap_tls13_fragmented_ch(s: Session):
    pid = os.getpid()
    ns_s, ns_c, if_s, if_c = f"tlsfx{pid}s", f"tlsfx{pid}c", f"tfx{pid}s", f"tfx{pid}c"
    created = []
    try:
        for ns in (ns_s, ns_c):
            run(["ip", "netns", "add", ns])
            created.append(ns)
        run(["ip", "link", "add", if_s, "netns", ns_s, "mtu", "576", "type", "veth",
             "peer", "name", if_c, "netns", ns_c, "mtu", "576"])
        for ns, ifc, addr in ((ns_s, if_s, "10.99.0.1/30"), (ns_c, if_c, "10.99.0.2/30")):
            run(["ip", "-n", ns, "addr", "add", addr, "dev", ifc])
            # one MSS per skb, so the capture shows the real wire segments, not GSO super-packets
            run(["ip", "-n", ns, "link", "set", ifc, "gso_max_segs", "1", "up"])
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
        srv = s.s_server("-tls1_3", "-alpn", "http/1.1", host="10.99.0.1")
        cli = s.s_client("-ign_eof", "-tls1_3", "-servername", "example.test", "-alpn", ",".join(LONG_ALPN),
                         host="10.99.0.1")
        with capture(s.pcap, s.port, iface=if_s, netns=ns_s):
            with server(srv, s.port, s.log("server"), netns=ns_s):
                client(cli, s.log("client"), send=HTTP_GET, netns=ns_c)
    finally:
        for ns in created:
            subprocess.run(["ip", "netns", "del", ns], timeout=READY_TIMEOUT, check=False)
    frames, conns = analyze(s.pcap, s.port, s.keylog)
    check_conns(conns, 1)
    c = conns[0]
    ch = c.first("c", CH)
    check(ch.segments >= 2, f"ClientHello reassembled from {ch.segments} segment(s), expected >= 2")
    check(max(f.length for f in frames) <= 576 + 14, "frame larger than the 576 MTU: GSO not disabled?")
    check_hs(c, "s", [SH, EE, CERT, CV, FIN], "frag")
    return f"ClientHello ({len(LONG_ALPN)} ALPN ids) spans {ch.segments} TCP segments (MTU 576, netns veth); full handshake"


def cap_tls12_ch_multirecord(s: Session):
    s.simple(["-tls1_2", "-alpn", "http/1.1"],
             [["-tls1_2", "-servername", "example.test", "-max_send_frag", "512", "-alpn", ",".join(LONG_ALPN)]])
    _, conns = analyze(s.pcap, s.port, s.keylog)
    check_conns(conns, 1)
    c = conns[0]
    _, _, nrec = parse_client_hello(next(iter(client_payloads(s.pcap, s.port).values())))
    check(nrec >= 2, f"ClientHello in {nrec} record(s), expected >= 2")
    check(c.hs("c").count(CH) == 1, "expected exactly one ClientHello")
    check_hs(c, "s", [SH, CERT, SKE, SHD], "multirecord")
    check_hs(c, "c", [CH, CKE], "multirecord")
    check(c.appdata("s") >= 1, "handshake did not complete (no server app data)")
    return f"one ClientHello split over {nrec} TLS records (s_client -max_send_frag 512); handshake completes"


def cap_tls_fatal_alert(s: Session):
    s.simple(["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"],
                       [["-tls1_2", "-cipher", "AES256-SHA256", "-servername", "example.test"]], ok=None)
    _, conns = analyze(s.pcap, s.port)
    check_conns(conns, 1)
    c = conns[0]
    check(c.hs("c") == [CH] and c.hs("s") == [], f"unexpected handshake messages {c.hs('c')} {c.hs('s')}")
    check(c.alerts("s") == [40], f"server alerts {c.alerts('s')}, expected handshake_failure(40)")
    return "CH offering only AES256-SHA256 -> server fatal alert handshake_failure(40)"


def cap_tls13_python_ssl(s: Session):
    pki, port = s.pki, s.port
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.minimum_version = ssl.TLSVersion.TLSv1_3
    sctx.load_cert_chain(pki.d / "ecserver-chain.pem", pki.ecserver_key)
    sctx.set_alpn_protocols(["http/1.1"])
    seen = {}

    def on_sni(sock, name, ctx):
        seen["sni"] = name  # must return None to continue the handshake

    sctx.sni_callback = on_sni
    cctx = ssl.create_default_context(cafile=str(pki.root_pem))
    cctx.minimum_version = ssl.TLSVersion.TLSv1_3
    cctx.set_alpn_protocols(["h2", "http/1.1"])
    cctx.keylog_filename = str(s.keylog)
    errors = []

    def serve(lsock):
        try:
            conn, _ = lsock.accept()
            conn.settimeout(SOCK_TIMEOUT)
            with sctx.wrap_socket(conn, server_side=True) as t:
                req = b""
                while b"\r\n\r\n" not in req:
                    chunk = t.recv(4096)
                    if not chunk:
                        break
                    req += chunk
                seen["alpn"] = t.selected_alpn_protocol()
                body = b"hello from python ssl\n"
                t.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                t.unwrap()  # close_notify, wait for the client's
        except Exception as e:  # reported by the main thread
            errors.append(e)

    port_free(port)
    with capture(s.pcap, port):
        with socket.create_server(("127.0.0.1", port)) as lsock:
            lsock.settimeout(SOCK_TIMEOUT)
            th = threading.Thread(target=serve, args=(lsock,), daemon=True)
            th.start()
            with socket.create_connection(("127.0.0.1", port), timeout=SOCK_TIMEOUT) as raw:
                with cctx.wrap_socket(raw, server_hostname="python.test") as t:
                    t.sendall(b"GET / HTTP/1.0\r\nHost: python.test\r\n\r\n")
                    resp = b""
                    while chunk := t.recv(4096):
                        resp += chunk
                    t.unwrap()
            th.join(SOCK_TIMEOUT)
    check(not errors and not th.is_alive(), f"python server failed: {errors}")
    check(seen.get("sni") == "python.test" and seen.get("alpn") == "http/1.1", f"server saw {seen}")
    check(resp.startswith(b"HTTP/1.0 200"), "no HTTP response")
    _, conns = analyze(s.pcap, port, s.keylog)
    check_conns(conns, 1)
    c = conns[0]
    check_hs(c, "s", [SH, EE, CERT, CV, FIN, NST], "python")
    check(c.appdata("c") >= 1 and c.appdata("s") >= 1, "application data missing")
    return f"Python {ssl.OPENSSL_VERSION} both sides, ECDSA P-256 server cert, SNI python.test, ALPN h2,http/1.1 -> http/1.1"


def cap_tls13_gnutls(s: Session):
    env = dict(os.environ, SSLKEYLOGFILE=str(s.keylog))
    cli = ["gnutls-cli", "--port", s.port, "--sni-hostname", "gnutls.test", "--x509cafile", s.pki.root_pem,
           "--verify-hostname", "gnutls.test", "--alpn", "h2", "--alpn", "http/1.1", "127.0.0.1"]
    with capture(s.pcap, s.port):
        with server(s.s_server("-tls1_3", "-alpn", "http/1.1"), s.port, s.log("server")):
            out = client(cli, s.log("client"), send=HTTP_GET, hold=STDIN_HOLD, env=env)
    check("Handshake was completed" in out, "gnutls-cli did not complete the handshake")
    _, conns = analyze(s.pcap, s.port, s.keylog)
    check_conns(conns, 1)
    c = conns[0]
    check_hs(c, "s", [SH, EE, CERT, CV, FIN], "gnutls")
    check(c.appdata("s") >= 1, "no HTTP response")
    return "gnutls-cli 3.7 client (SNI gnutls.test, ALPN h2,http/1.1) -> openssl s_server; app data"


def cap_tls_starttls_smtp(s: Session):
    pki, port = s.pki, s.port
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(pki.d / "server-chain.pem", pki.server_key)
    errors, transcript = [], []

    def serve(lsock):
        try:
            conn, _ = lsock.accept()
            conn.settimeout(SOCK_TIMEOUT)

            def line(sock):  # byte by byte: nothing beyond the line is consumed before TLS
                buf = b""
                while not buf.endswith(b"\n"):
                    ch = sock.recv(1)
                    if not ch:
                        break
                    buf += ch
                transcript.append(buf)
                return buf

            conn.sendall(b"220 mail.example.test ESMTP fixture\r\n")
            check(line(conn).upper().startswith(b"EHLO"), "expected EHLO")
            conn.sendall(b"250-mail.example.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 STARTTLS\r\n")
            check(line(conn).upper().startswith(b"STARTTLS"), "expected STARTTLS")
            conn.sendall(b"220 2.0.0 Ready to start TLS\r\n")
            with sctx.wrap_socket(conn, server_side=True) as t:
                while True:
                    cmd = line(t).upper()
                    if cmd.startswith(b"EHLO"):
                        t.sendall(b"250-mail.example.test\r\n250 SIZE 10240000\r\n")
                    elif cmd.startswith(b"QUIT") or not cmd:
                        t.sendall(b"221 2.0.0 Bye\r\n")
                        break
                    else:
                        t.sendall(b"250 OK\r\n")
                t.unwrap()
        except Exception as e:
            errors.append(e)

    port_free(port)
    with capture(s.pcap, port):
        with socket.create_server(("127.0.0.1", port)) as lsock:
            lsock.settimeout(SOCK_TIMEOUT)
            th = threading.Thread(target=serve, args=(lsock,), daemon=True)
            th.start()
            client(s.s_client("-starttls", "smtp", "-name", "client.example.test", "-ign_eof",
                              "-servername", "mail.example.test"),
                   s.log("client"), send=b"EHLO client.example.test\r\nQUIT\r\n")
            th.join(SOCK_TIMEOUT)
    check(not errors and not th.is_alive(), f"smtp server failed: {errors}")
    check(any(l.upper().startswith(b"QUIT") for l in transcript), f"QUIT not received over TLS: {transcript}")
    _, conns = analyze(s.pcap, port, s.keylog, proto="smtp")
    check_conns(conns, 1)
    c = conns[0]
    check_hs(c, "c", [CH, FIN], "starttls")
    check_hs(c, "s", [SH, EE, CERT, CV, FIN], "starttls")
    ch = c.first("c", CH)
    first_payload = next(f for f in c.frames if f.tcp_len > 0)
    check(ch.num > first_payload.num and not first_payload.from_client, "TLS does not start mid-stream")
    return "plaintext 220/EHLO/250-STARTTLS/STARTTLS/220, then TLS 1.3 handshake; EHLO+QUIT inside TLS"


def cap_tls13_hostile_strings(s: Session):
    import tlslite.tlsconnection as tlsconn
    from tlslite import HandshakeSettings, TLSConnection
    from tlslite.errors import TLSError

    slog = s.log("server")
    port = s.port
    with capture(s.pcap, port):
        with server(s.s_server("-tls1_3", "-alpn", "http/1.1", naccept=2), port, slog):
            # Connection 1: tlslite-ng, SNI including a NUL byte (argv cannot carry NUL).
            tlsconn.is_valid_hostname = lambda name: True  # deliberately hostile SNI
            settings = HandshakeSettings()
            settings.minVersion = (3, 4)
            alert = None
            with socket.create_connection(("127.0.0.1", port), timeout=SOCK_TIMEOUT) as raw:
                conn = TLSConnection(raw)
                try:
                    conn.handshakeClientCert(serverName=HOSTILE_SNI_NUL.decode("utf-8"),
                                             alpn=[bytearray(a) for a in HOSTILE_ALPN], settings=settings)
                    conn.close()
                except TLSError as e:
                    alert = e
                except OSError as e:
                    alert = e
            # Connection 2: openssl s_client, same bytes without NUL, full handshake.
            client(s.s_client("-ign_eof", "-tls1_3", "-servername", HOSTILE_SNI,
                              "-alpn", b",".join(HOSTILE_ALPN)), s.log("client"), send=HTTP_GET)
    payloads = client_payloads(s.pcap, port)
    check(len(payloads) == 2, f"expected 2 connections, got {len(payloads)}")
    hellos = [parse_client_hello(payloads[p]) for p in sorted(payloads)]
    _, conns = analyze(s.pcap, port, s.keylog)
    check_conns(conns, 2)
    first_hello = next(h for h in hellos if h[0] == HOSTILE_SNI_NUL)
    second_hello = next(h for h in hellos if h[0] == HOSTILE_SNI)
    check(first_hello[1] == HOSTILE_ALPN and second_hello[1] == HOSTILE_ALPN, "ALPN bytes not as sent")
    check(conns[0].alerts("s") == [112], f"conn1 server alerts {conns[0].alerts('s')}, expected unrecognized_name(112)")
    check_hs(conns[1], "s", [SH, EE, CERT, CV, FIN], "hostile")
    return (f"conn1 tlslite-ng SNI={HOSTILE_SNI_NUL!r} -> unrecognized_name(112) ({type(alert).__name__}); "
            f"conn2 openssl SNI={HOSTILE_SNI!r} full handshake; ALPN={HOSTILE_ALPN!r}")


def cap_tls_hostile_html(s: Session):
    import tlslite.tlsconnection as tlsconn
    from tlslite import HandshakeSettings, TLSConnection
    from tlslite.errors import TLSError

    s.pki._issue("htmlserver", "ec", HTML_CERT_SUBJECT, "inter", HTML_CERT_EXT)
    port = s.port
    with capture(s.pcap, port):
        # 0: TLS 1.3, script in the SNI; the server picks the <img onerror> protocol from the ALPN list
        with server(s.s_server("-tls1_3", "-alpn", HTML_IMG), port, s.log("server")):
            client(s.s_client("-ign_eof", "-tls1_3", "-servername", HTML_SCRIPT,
                              "-alpn", b",".join([HTML_IMG, HTML_SCRIPT, HTML_CLOSE, b"http/1.1"])),
                   s.log("client"), send=HTTP_GET)
        # 1: TLS 1.2 (certificate and ALPN in clear), markup in the certificate, a long SNI with bidi overrides
        with server(s.s_server("-tls1_2", "-alpn", HTML_IMG, cert="htmlserver"), port, s.log("server")):
            client(s.s_client("-ign_eof", "-tls1_2", "-servername", HTML_LONG, "-alpn", b",".join([HTML_CLOSE, HTML_IMG])),
                   s.log("client"), send=HTTP_GET)
        # 2: tlslite-ng, a 2000-byte SNI: OpenSSL answers with a fatal unrecognized_name alert
        with server(s.s_server("-tls1_3"), port, s.log("server")):
            tlsconn.is_valid_hostname = lambda name: True  # deliberately hostile SNI
            settings = HandshakeSettings()
            settings.minVersion = (3, 4)
            with socket.create_connection(("127.0.0.1", port), timeout=SOCK_TIMEOUT) as raw:
                try:
                    TLSConnection(raw).handshakeClientCert(serverName=HTML_HUGE, alpn=[bytearray(HTML_SCRIPT)],
                                                           settings=settings)
                except (TLSError, OSError):
                    pass
    payloads = client_payloads(s.pcap, port)
    check(len(payloads) == 3, f"expected 3 connections, got {len(payloads)}")
    snis = [parse_client_hello(payloads[p])[0] for p in sorted(payloads)]
    check(snis == [HTML_SCRIPT, HTML_LONG, HTML_HUGE.encode()], f"SNIs not as sent: {[x[:40] for x in snis]}")
    _, conns = analyze(s.pcap, port, s.keylog)
    check_conns(conns, 3)
    check_hs(conns[1], "s", [SH, CERT, SKE, SHD], "hostile html tls1.2")
    check(EXT_ALPN in conns[1].first("s", SH).exts, "conn 1: the server chose no ALPN protocol")
    check(conns[2].alerts("s") == [112], f"conn 2 server alerts {conns[2].alerts('s')}, expected 112")
    return ("conn0 TLS 1.3 SNI <script>, ALPN <img onerror> chosen; conn1 TLS 1.2, certificate CN/O/SAN with markup, "
            "251-byte bidi SNI, ALPN <img onerror> chosen; conn2 2000-byte SNI -> unrecognized_name(112)")


def cap_tls13_ipv6(s: Session):
    s.simple(["-tls1_3"], [["-tls1_3", "-servername", "example.test"]], host="::1")
    _, conns = analyze(s.pcap, s.port, s.keylog)
    check_conns(conns, 1)
    c = conns[0]
    check_hs(c, "s", [SH, EE, CERT, CV, FIN], "ipv6")
    check(client_payloads(s.pcap, s.port), "no IPv6 client payload")
    return "TLS 1.3 over [::1]; app data both ways"


def cap_tls12_nano(s: Session):
    slog = s.log("server")
    with capture(s.pcap, s.port, tool="dumpcap"):
        with server(s.s_server("-tls1_2"), s.port, slog):
            client(s.s_client("-ign_eof", "-tls1_2", "-servername", "example.test"), s.log("client"), send=HTTP_GET)
    check(s.pcap.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a", "not a pcapng file")
    _, conns = analyze(s.pcap, s.port)
    check_conns(conns, 1)
    c = conns[0]
    check_hs(c, "s", [SH, CERT, SKE, SHD], "nano")
    check_hs(c, "c", [CH, CKE], "nano")
    return "pcapng (dumpcap -n), TLS 1.2 ECDHE handshake; app data"


# name -> (port, function)
CAPTURES = {
    "tls13": (4433, cap_tls13),
    "tls13-hrr": (4434, cap_tls13_hrr),
    "tls13-psk-resumption": (4435, cap_tls13_psk_resumption),
    "tls13-0rtt": (4436, cap_tls13_0rtt),
    "tls12-ecdhe": (8443, cap_tls12_ecdhe),
    "tls12-dhe": (8444, cap_tls12_dhe),
    "tls12-rsa": (8445, cap_tls12_rsa),
    "tls12-session-resumption": (8446, cap_tls12_session_resumption),
    "tls12-ticket-resumption": (8447, cap_tls12_ticket_resumption),
    "tls12-mtls": (8448, cap_tls12_mtls),
    "tls13-mtls": (4437, cap_tls13_mtls),
    "tls13-fragmented-ch": (10443, cap_tls13_fragmented_ch),
    "tls12-ch-multirecord": (8449, cap_tls12_ch_multirecord),
    "tls-fatal-alert": (6667, cap_tls_fatal_alert),
    "tls13-python-ssl": (9443, cap_tls13_python_ssl),
    "tls13-gnutls": (5443, cap_tls13_gnutls),
    "tls-starttls-smtp": (2525, cap_tls_starttls_smtp),
    "tls13-hostile-strings": (7443, cap_tls13_hostile_strings),
    "tls-hostile-html": (18043, cap_tls_hostile_html),
    "tls13-ipv6": (4438, cap_tls13_ipv6),
    "tls12-nano": (8450, cap_tls12_nano),
}


if __name__ == "__main__":
    main(CAPTURES, description=__doc__.split("\n")[0])
