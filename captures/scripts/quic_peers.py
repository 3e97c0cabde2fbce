#!/usr/bin/env python3
"""aioquic client and server for the QUIC fixtures (run by make_quic_captures.py under `timeout`).

    quic_peers.py server --port N --cert C --key K [--host H] [--alpn A ...] [--versions v1 v2] [--retry]
                         [--tickets]
    quic_peers.py client --port N --ca CA --keylog FILE [--host H] [--sni S] [--alpn A ...]
                         [--versions v2 v1] [--chacha20] [--alpn-count N] [--resume]

The client connects, pings, closes (CONNECTION_CLOSE), and exits 0; a refused handshake (a
CONNECTION_CLOSE from the server) exits 3 after printing the error. With --resume (server
--tickets: it issues NewSessionTickets and takes them back) it connects twice: the second time
with the first connection's ticket, sending stream data as 0-RTT before the handshake completes.
The server stops by itself after SERVE_SECONDS (the capture script stops it sooner).
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
    tickets: dict = {}
    server = await serve(args.host, args.port, configuration=config, retry=args.retry,
                         session_ticket_fetcher=tickets.pop if args.tickets else None,
                         session_ticket_handler=(lambda t: tickets.__setitem__(t.ticket, t)) if args.tickets else None)
    try:
        await asyncio.sleep(SERVE_SECONDS)
    finally:
        server.close()


async def run_client(args: argparse.Namespace) -> int:
    tickets: list = []
    with open(args.keylog, "a") as keylog:
        for attempt in range(2 if args.resume else 1):
            config = QuicConfiguration(is_client=True, alpn_protocols=alpn_list(args), server_name=args.sni,
                                       secrets_log_file=keylog, supported_versions=[VERSIONS[v] for v in args.versions])
            config.load_verify_locations(args.ca)
            if args.chacha20:
                config.cipher_suites = [CipherSuite.CHACHA20_POLY1305_SHA256]
            if attempt:
                config.session_ticket = tickets[-1]
            try:
                async with connect(args.host, args.port, configuration=config, session_ticket_handler=tickets.append,
                                   wait_connected=not attempt) as client:
                    if attempt:  # 0-RTT: stream data before the handshake completes
                        client._quic.send_stream_data(client._quic.get_next_available_stream_id(), b"early data\n",
                                                      end_stream=True)
                        client.transmit()
                        await asyncio.wait_for(client.wait_connected(), CLIENT_SECONDS)
                    await asyncio.wait_for(client.ping(), CLIENT_SECONDS)
                    if args.resume and not attempt:
                        await asyncio.sleep(0.2)  # the NewSessionTicket comes after HANDSHAKE_DONE
                    print(f"connected: alpn={client._quic.tls.alpn_negotiated} version=0x{client._quic._version:08x}"
                          f" resumed={client._quic.tls.session_resumed} early_data={client._quic.tls.early_data_accepted}")
            except ConnectionError as exc:
                print(f"refused: {exc!r}")
                return 3
            if args.resume and not tickets:
                print("no session ticket")
                return 4
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
    ap.add_argument("--tickets", action="store_true")
    ap.add_argument("--resume", action="store_true")
    args = ap.parse_args()
    if args.role == "server":
        asyncio.run(run_server(args))
        return 0
    return asyncio.run(run_client(args))


if __name__ == "__main__":
    sys.exit(main())
