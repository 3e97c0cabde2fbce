#!/usr/bin/env python3
"""A TLS peer that speaks post-quantum key exchange, for make_pq_captures.py.

pyOpenSSL over the OpenSSL that `cryptography` wheels bundle (3.5 and later implement ML-KEM and
X25519MLKEM768; Debian's openssl 3.0 does not). Which groups it offers or accepts is set the
OpenSSL way, by an OPENSSL_CONF file naming `Groups` (the caller writes one per peer), so the
same program plays a PQ client, a PQ-only server or a hybrid-first one. Each side prints what it
negotiated (`group=... version=...`) for the capture script to check against the wire.

    pq_peer.py server PORT CHAIN KEY [NACCEPT]
    pq_peer.py client PORT SNI ROOT KEYLOG
"""

from __future__ import annotations

import socket
import struct
import sys

from OpenSSL import SSL

TIMEOUT = 10  # seconds, every socket read or write; the caller also wraps us in `timeout`


def bounded(sock: socket.socket) -> socket.socket:
    """A blocking socket whose reads and writes give up after TIMEOUT (pyOpenSSL cannot use
    Python's socket timeouts: they make the socket non-blocking underneath)."""
    sock.settimeout(None)
    limit = struct.pack("ll", TIMEOUT, 0)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, limit)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, limit)
    return sock
BODY = b"hello from a post-quantum peer\n"


def serve(port: int, chain: str, key: str, naccept: int) -> None:
    ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
    ctx.set_min_proto_version(SSL.TLS1_3_VERSION)
    ctx.use_certificate_chain_file(chain)
    ctx.use_privatekey_file(key)
    with socket.create_server(("127.0.0.1", port)) as listener:
        listener.settimeout(TIMEOUT)
        for _ in range(naccept):
            sock, _ = listener.accept()
            conn = SSL.Connection(ctx, bounded(sock))
            conn.set_accept_state()
            conn.do_handshake()
            print(f"group={conn.get_group_name()} version={conn.get_protocol_version_name()}", flush=True)
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(4096)
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY))
            conn.shutdown()
            drain(conn)  # the client's close_notify: closing with it unread would send RST, not FIN
            sock.close()


def drain(conn: SSL.Connection) -> bytes:
    """Read until the peer's close_notify (or its close)."""
    data = b""
    try:
        while True:
            data += conn.recv(4096)
    except (SSL.ZeroReturnError, SSL.SysCallError):
        return data


def fetch(port: int, sni: str, root: str, keylog: str) -> None:
    ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
    ctx.load_verify_locations(root)
    ctx.set_verify(SSL.VERIFY_PEER)
    with open(keylog, "ab") as log:
        ctx.set_keylog_callback(lambda _conn, line: (log.write(line + b"\n"), log.flush()))
        sock = bounded(socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT))
        conn = SSL.Connection(ctx, sock)
        conn.set_tlsext_host_name(sni.encode())
        conn.set_connect_state()
        conn.do_handshake()
        print(f"group={conn.get_group_name()} version={conn.get_protocol_version_name()}", flush=True)
        conn.sendall(b"GET / HTTP/1.0\r\nHost: " + sni.encode() + b"\r\n\r\n")
        response = drain(conn)
        print(response.decode(errors="replace").splitlines()[0] if response else "no response", flush=True)
        conn.shutdown()
        sock.close()


if __name__ == "__main__":
    role, args = sys.argv[1], sys.argv[2:]
    if role == "server":
        serve(int(args[0]), args[1], args[2], int(args[3]) if len(args) > 3 else 1)
    else:
        fetch(int(args[0]), args[1], args[2], args[3])
