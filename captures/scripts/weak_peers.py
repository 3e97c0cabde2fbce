#!/usr/bin/env python3
"""The Python-library TLS peers of make_weak_captures.py (tlslite-ng, scapy's automata, the
explicit-curve server), each run as a child process so it is wrapped in `timeout` like every other
peer and dies on its own even if the capture script does not:

    python3 captures/scripts/weak_peers.py KIND JSON     # KIND: one of PEERS; JSON: its settings
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
from pathlib import Path

import capture_kit as kit  # noqa: E402

LINE = b"one line of application data\n"
SERVER_NAME = "example.test"
DEFLATE = 1


def _tlslite_settings(cfg: dict):  # noqa: ANN202
    from tlslite import HandshakeSettings

    settings = HandshakeSettings()
    for key, value in cfg.items():
        if key in ("minVersion", "maxVersion"):
            value = tuple(value)
        elif key == "versions":
            value = [tuple(v) for v in value]
        elif key == "ticketKeys":
            value = [os.urandom(32) for _ in range(value)]
        setattr(settings, key, value)
    return settings


def _tlslite_close(conn, sock: socket.socket) -> None:  # noqa: ANN001
    """close_notify both ways, then FIN, then read to the peer's FIN: no RST for unread bytes."""
    from tlslite.errors import TLSError

    conn.closeSocket = False
    with contextlib.suppress(TLSError, OSError):
        conn.close()
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)
        while sock.recv(4096):
            pass


def _tlslite_server(cfg: dict) -> int:
    from tlslite import TLSConnection, X509CertChain, parsePEMKey
    from tlslite.errors import TLSError

    chain = X509CertChain()
    chain.parsePemList(Path(cfg["chain"]).read_text())
    key = parsePEMKey(Path(cfg["key"]).read_text(), private=True)
    settings = _tlslite_settings(cfg.get("settings", {}))
    with socket.create_server((cfg["host"], cfg["port"])) as lsock:
        lsock.settimeout(kit.SOCK_TIMEOUT)
        for _ in range(cfg.get("naccept", 1)):
            sock, peer_addr = lsock.accept()
            sock.settimeout(kit.SOCK_TIMEOUT)
            conn = TLSConnection(sock)
            try:
                conn.handshakeServer(certChain=chain, privateKey=key, settings=settings)
                print(f"handshake {peer_addr}: {conn.getVersionName()} {conn.getCipherName()} "
                      f"{conn.getCipherImplementation()}", flush=True)
                received = b""
                while data := conn.read():  # echo until close_notify
                    received += bytes(data)
                    conn.write(data)
                print(f"received {received!r}", flush=True)
                _tlslite_close(conn, sock)
            except (TLSError, OSError) as exc:
                print(f"connection from {peer_addr} ended: {type(exc).__name__}: {exc}", flush=True)
            finally:
                sock.close()
    return 0


def _tlslite_client(cfg: dict) -> int:
    from tlslite import TLSConnection
    from tlslite.constants import HeartbeatMessageType
    from tlslite.errors import TLSError
    from tlslite.messages import Heartbeat
    from tlslite.utils.codec import Writer

    class OverclaimedHeartbeat(Heartbeat):
        """tlslite's Heartbeat, serialised with a payload_length larger than the payload (Heartbleed)."""

        def __init__(self, claimed: int) -> None:
            super().__init__()
            self.claimed = claimed

        def write(self) -> bytearray:
            w = Writer()
            w.add(self.message_type, 1)
            w.add(self.claimed, 2)
            w.bytes += self.payload + self.padding
            return w.bytes

    settings = _tlslite_settings(cfg.get("settings", {}))
    settings.heartbeat_response_callback = lambda hb: print(f"heartbeat response {bytes(hb.payload)!r}", flush=True)
    session, failures = None, 0
    for step in cfg["connections"]:
        with socket.create_connection((cfg["host"], cfg["port"]), timeout=kit.SOCK_TIMEOUT) as sock:
            conn = TLSConnection(sock)
            try:
                conn.handshakeClientCert(settings=settings, serverName=SERVER_NAME,
                                         session=session if step.get("resume") else None)
                print(f"handshake: {conn.getVersionName()} {conn.getCipherName()} resumed={conn.resumed}", flush=True)
                if cfg.get("keylog") and conn.version <= (3, 3):
                    with open(cfg["keylog"], "a") as kl:
                        kl.write(f"CLIENT_RANDOM {bytes(conn._clientRandom).hex()} "
                                 f"{bytes(conn.session.masterSecret).hex()}\n")
                for hb in step.get("heartbeats", []):
                    payload = bytearray(hb["payload"].encode())
                    if hb.get("claimed"):
                        msg = OverclaimedHeartbeat(hb["claimed"]).create(
                            HeartbeatMessageType.heartbeat_request, payload, 16)
                        for _ in conn._sendMsg(msg, randomizeFirstBlock=False):
                            pass
                    else:
                        conn.send_heartbeat_request(payload, 16)
                conn.write(bytearray(step.get("send", LINE.decode()).encode()))
                if step.get("http"):
                    while conn.read():  # -www answers and closes; NewSessionTickets arrive meanwhile
                        pass
                else:  # the echo may come in two records (1/n-1 split of CBC in SSL 3.0 / TLS 1.0)
                    echo = b""
                    while not echo.endswith(b"\n") and (chunk := conn.read()):
                        echo += bytes(chunk)
                    print(f"echo {echo!r}", flush=True)
                session = conn.session
                _tlslite_close(conn, sock)
            except (TLSError, OSError) as exc:
                failures += 1
                print(f"connection ended: {type(exc).__name__}: {exc}", flush=True)
    return 0 if failures == cfg.get("failures", 0) else 1


def _scapy_server(cfg: dict) -> int:
    from scapy.all import load_layer

    load_layer("tls")
    from scapy.automaton import ATMT
    from scapy.layers.tls.automaton_srv import TLSServerAutomaton
    from scapy.layers.tls.crypto.suites import get_usable_ciphersuites
    from scapy.layers.tls.extensions import TLS_Ext_RenegotiationInfo
    from scapy.layers.tls.handshake import TLSServerHello

    compression = cfg.get("compression")

    class Server(TLSServerAutomaton):
        @ATMT.condition(TLSServerAutomaton.PREPARE_SERVERFLIGHT1)
        def should_add_ServerHello(self):  # noqa: N802 (scapy's name): the stock one, plus compression
            usable = get_usable_ciphersuites(self.cur_pkt.ciphers, "RSA")
            c = self.preferred_ciphersuite if self.preferred_ciphersuite in usable else usable[0]
            comp = [compression] if compression in (self.cur_pkt.comp or []) else [0]
            self.add_msg(TLSServerHello(cipher=c, comp=comp, ext=[TLS_Ext_RenegotiationInfo()]))
            raise self.ADDED_SERVERHELLO()

    Server(server=cfg["host"], sport=cfg["port"], mycert=cfg["cert"], mykey=cfg["key"],
           is_echo_server=True, max_client_idle_time=5, debug=0).run()
    return 0


def _scapy_client(cfg: dict) -> int:
    from scapy.all import load_layer

    load_layer("tls")
    from scapy.automaton import ATMT
    from scapy.layers.tls.automaton_cli import TLSClientAutomaton
    from scapy.layers.tls.handshake import TLSClientHello
    from scapy.packet import Raw

    class Client(TLSClientAutomaton):
        @ATMT.condition(TLSClientAutomaton.SSLv2_WAITING_CLIENTDATA, prio=1)
        def sslv2_add_ClientData(self):  # noqa: N802 - the stock one compares bytes to "quit" and never stops
            if not self.data_to_send:
                return  # -> sslv2_no_more_ClientData -> goodbye
            self.add_record(is_sslv2=True)
            self.add_msg(Raw(self.data_to_send.pop()))
            raise self.SSLv2_ADDED_CLIENTDATA()

        @ATMT.state(final=True)
        def FINAL(self, reason=None):  # noqa: N802 - the stock one, but FIN and wait for the server's (no RST)
            with contextlib.suppress(OSError):
                self.socket.shutdown(socket.SHUT_WR)
                self.socket.settimeout(kit.SOCK_TIMEOUT)
                while self.socket.recv(4096):
                    pass
            self.socket.close()
            self.final_reason = reason

    kw = {}
    if cfg["version"] == "sslv2":
        kw["version"] = "sslv2"
        data = [LINE]
    else:
        kw["client_hello"] = TLSClientHello(version=cfg["version"], ciphers=cfg["ciphers"], comp=cfg.get("comp", [0]))
        data = [LINE, b"quit"]
    client = Client(server=cfg["host"], dport=cfg["port"], data=data, debug=0, **kw)
    client.run()
    return 0


def _explicit_curve_server(cfg: dict) -> int:
    """One connection: read the ClientHello, answer TLS 1.2 ECDHE-RSA with a ServerKeyExchange carrying
    P-256 as explicit_prime parameters (RFC 4492 5.4), every record built from scapy's TLS classes; then
    read what the client says (a fatal alert), FIN, and wait for the client's FIN."""
    import ecdsa  # tlslite-ng's dependency: the SEC 2 domain parameters of secp256r1
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding
    from scapy.all import load_layer

    load_layer("tls")
    from scapy.layers.tls.cert import Cert
    from scapy.layers.tls.extensions import TLS_Ext_RenegotiationInfo
    from scapy.layers.tls.handshake import (TLSCertificate, TLSClientHello, TLSServerHello, TLSServerHelloDone,
                                            TLSServerKeyExchange)
    from scapy.layers.tls.keyexchange import ECCurvePkt, ServerECDHExplicitPrimeParams, _TLSSignature
    from scapy.layers.tls.record import TLS, TLSAlert

    suite, rsa_pkcs1_sha256 = cfg["suite"], 0x0401
    curve = ecdsa.NIST256p
    size = curve.baselen  # 32: every field element and the order as 32 octets
    field = curve.curve
    p, a, b, order = field.p(), field.a() % field.p(), field.b(), curve.order

    def octets(n: int) -> bytes:
        return n.to_bytes(size, "big")

    def on_curve(pt: bytes) -> bool:
        x, y = int.from_bytes(pt[1:1 + size], "big"), int.from_bytes(pt[1 + size:], "big")
        return pt[0] == 4 and (y * y - x * x * x - a * x - b) % p == 0

    uncompressed = (serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    base = ec.derive_private_key(1, ec.SECP256R1()).public_key().public_bytes(*uncompressed)  # 1 * G
    if base != b"\x04" + octets(curve.generator.x()) + octets(curve.generator.y()) or not on_curve(base):
        raise SystemExit("ecdsa's NIST256p does not match cryptography's SECP256R1 generator")
    ephemeral = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(*uncompressed)
    if not on_curve(ephemeral):
        raise SystemExit("ephemeral point not on the explicit curve")

    chain = x509.load_pem_x509_certificates(Path(cfg["chain"]).read_bytes())
    certs = [Cert(c.public_bytes(serialization.Encoding.DER)) for c in chain]
    key = serialization.load_pem_private_key(Path(cfg["key"]).read_bytes(), password=None)

    def read_record(sock: socket.socket) -> bytes:
        data = b""
        while len(data) < 5 or len(data) < 5 + int.from_bytes(data[3:5], "big"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        return data

    with socket.create_server((cfg["host"], cfg["port"])) as lsock:
        lsock.settimeout(kit.SOCK_TIMEOUT)
        sock, _ = lsock.accept()
        with sock:
            sock.settimeout(kit.SOCK_TIMEOUT)
            ch = TLS(read_record(sock)).msg[0]
            if not isinstance(ch, TLSClientHello) or suite not in ch.ciphers:
                raise SystemExit(f"not a ClientHello offering {suite:#06x}: {ch.summary()}")
            client_random = ch.gmt_unix_time.to_bytes(4, "big") + ch.random_bytes
            server_random = os.urandom(32)
            sh = TLSServerHello(version=0x0303, gmt_unix_time=int.from_bytes(server_random[:4], "big"),
                                random_bytes=server_random[4:], sid=os.urandom(32), cipher=suite, comp=[0],
                                ext=[TLS_Ext_RenegotiationInfo()])
            params = ServerECDHExplicitPrimeParams(
                curve_type=1, p=octets(p), curve=ECCurvePkt(a=octets(a), b=octets(b)), base=base,
                order=octets(order), cofactor=bytes([field.cofactor()]), point=ephemeral)
            signed = client_random + server_random + bytes(params)
            signature = key.sign(signed, padding.PKCS1v15(), hashes.SHA256())
            chain[0].public_key().verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())  # the leaf's key
            ske = TLSServerKeyExchange(params=params, sig=_TLSSignature(sig_alg=rsa_pkcs1_sha256, sig_val=signature))
            flight = TLS(type=22, version=0x0303, msg=[sh, TLSCertificate(certs=certs), ske, TLSServerHelloDone()])
            records = bytes(flight)
            ske_bytes = bytes(ske)  # the signed bytes must be the sent ones
            if (bytes(sh)[6:38] != server_random or bytes(sh) not in records or ske_bytes not in records
                    or ske_bytes[4:4 + len(bytes(params))] != bytes(params) or not ske_bytes.endswith(signature)):
                raise SystemExit("the ServerHello random or ServerKeyExchange params changed when built")
            sock.sendall(records)
            print(f"sent ServerHello {suite:#06x}, Certificate ({len(certs)}), ServerKeyExchange explicit_prime "
                  f"({len(bytes(params))}-byte params, {len(signature)}-byte signature), ServerHelloDone", flush=True)
            answer = read_record(sock)
            alerts = [m for m in TLS(answer).msg if isinstance(m, TLSAlert)] if answer else []
            for alert in alerts:
                print(f"client alert {alert.sprintf('%level% %descr%')} ({alert.level}, {alert.descr})", flush=True)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_WR)
                while sock.recv(4096):
                    pass
    return 0 if alerts and alerts[0].level == 2 else 1


PEERS = {"tlslite-server": _tlslite_server, "tlslite-client": _tlslite_client,
         "scapy-server": _scapy_server, "scapy-client": _scapy_client,
         "explicit-curve-server": _explicit_curve_server}


if __name__ == "__main__":
    sys.exit(PEERS[sys.argv[1]](json.loads(sys.argv[2])))
