#!/usr/bin/env python3
"""Live throughput on loopback: packets per second `tls-analyzer live` handles, and kernel drops,
while `openssl s_time` makes as many short TLS connections as it can (root needed).

usage: python3 bench/live_throughput.py [--seconds 10] [--cmd tls-analyzer] [--tls1_2]
Everything runs on 127.0.0.1 and stops by itself.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--cmd", default="tls-analyzer")
    ap.add_argument("--tls1_2", action="store_true", help="force TLS 1.2 (more plaintext handshake to decode)")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", tmp / "k.pem", "-out", tmp / "c.pem", "-days", "1", "-subj", "/CN=bench.test"],
                   check=True, capture_output=True)
    port = free_port()
    server = subprocess.Popen(["timeout", str(a.seconds + 20), "openssl", "s_server", "-accept",
                               f"127.0.0.1:{port}", "-cert", tmp / "c.pem", "-key", tmp / "k.pem", "-www", "-quiet"]
                              + (["-tls1_2"] if a.tls1_2 else []),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    out_path = tmp / "live.jsonl"  # a file, not a pipe: an unread pipe would stall the sniffer
    live = subprocess.Popen(a.cmd.split() + ["live", "-i", "lo", "--bpf", f"tcp port {port}", "--format", "jsonl",
                                             "--duration", str(a.seconds + 3), "--idle-timeout", "2"],
                            stdout=out_path.open("wb"), stderr=subprocess.PIPE)
    time.sleep(2)
    load = subprocess.run(["timeout", str(a.seconds + 10), "openssl", "s_time", "-connect", f"127.0.0.1:{port}",
                           "-new", "-time", str(int(a.seconds))], capture_output=True, text=True)
    _, err = live.communicate(timeout=a.seconds + 30)
    os.killpg(server.pid, signal.SIGTERM)  # the server and its `timeout` wrapper
    lines = [json.loads(x) for x in out_path.read_text().splitlines() if x.strip()]
    summary = err.decode().strip().splitlines()[-1] if err else ""
    m = re.search(r"(\d+) packets, (\d+) dropped", summary)
    packets, drops = (int(m.group(1)), int(m.group(2))) if m else (0, -1)
    made = re.search(r"(\d+) connections in", load.stdout)
    print(f"load: openssl s_time -new for {a.seconds:.0f}s: {made.group(1) if made else '?'} TLS connections")
    print(f"ours: {len(lines)} connections reported, {sum(c['complete'] for c in lines)} complete; {summary}")
    print(f"throughput: {packets / a.seconds:.0f} packets/s handled on loopback, kernel drops: {drops}")


if __name__ == "__main__":
    main()
