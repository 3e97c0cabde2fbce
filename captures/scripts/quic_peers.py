#!/usr/bin/env python3
"""aioquic client and server for the QUIC fixtures (run by make_quic_captures.py under `timeout`).

    quic_peers.py server --port N --cert C --key K [--host H] [--alpn A ...] [--versions v1 v2] [--retry]
    quic_peers.py client --port N --ca CA --keylog FILE [--host H] [--sni S] [--alpn A ...]
                         [--versions v2 v1] [--chacha20] [--alpn-count N]

The client connects, pings, closes (CONNECTION_CLOSE), and exits 0; a refused handshake (a
CONNECTION_CLOSE from the server) exits 3 after printing the error. The server stops by itself
after SERVE_SECONDS (the capture script stops it sooner).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from aioquic.asyncio import connect, serve
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.packet import QuicProtocolVersion
from aioquic.tls import CipherSuite

SERVE_SECONDS = 30.0
CLIENT_SECONDS = 8.0
VERSIONS = {"v1": QuicProtocolVersion.VERSION_1, "v2": QuicProtocolVersion.VERSION_2}


def alpn_list(args: argparse.Namespace) -> list[str]:
    """--alpn values, then --alpn-count made-up protocol ids (a large ClientHello by real means)."""
    return list(args.alpn) + [f"fixture-protocol-{i:04d}-padding-the-client-hello" for i in range(args.alpn_count)]


async def run_server(args: argparse.Namespace) -> None:
    config = QuicConfiguration(is_client=False, alpn_protocols=alpn_list(args),
                               supported_versions=[VERSIONS[v] for v in args.versions])
    config.load_cert_chain(args.cert, args.key)
    server = await serve(args.host, args.port, configuration=config, retry=args.retry)
    try:
        await asyncio.sleep(SERVE_SECONDS)
    finally:
        server.close()


async def run_client(args: argparse.Namespace) -> int:
    with open(args.keylog, "a") as keylog:
        config = QuicConfiguration(is_client=True, alpn_protocols=alpn_list(args), server_name=args.sni,
                                   secrets_log_file=keylog, supported_versions=[VERSIONS[v] for v in args.versions])
        config.load_verify_locations(args.ca)
        if args.chacha20:
            config.cipher_suites = [CipherSuite.CHACHA20_POLY1305_SHA256]
        try:
            async with connect(args.host, args.port, configuration=config) as client:
                await asyncio.wait_for(client.ping(), CLIENT_SECONDS)
                print(f"connected: alpn={client._quic.tls.alpn_negotiated} version=0x{client._quic._version:08x}")
        except ConnectionError as exc:
            print(f"refused: {exc!r}")
            return 3
    return 0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("role", choices=("server", "client"))
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--ca")
    ap.add_argument("--keylog")
    ap.add_argument("--sni", default="example.test")
    ap.add_argument("--alpn", nargs="*", default=["hq-interop"])
    ap.add_argument("--alpn-count", type=int, default=0)
    ap.add_argument("--versions", nargs="+", default=["v1"], choices=sorted(VERSIONS))
    ap.add_argument("--retry", action="store_true")
    ap.add_argument("--chacha20", action="store_true")
    args = ap.parse_args()
    if args.role == "server":
        asyncio.run(run_server(args))
        return 0
    return asyncio.run(run_client(args))


if __name__ == "__main__":
    sys.exit(main())
