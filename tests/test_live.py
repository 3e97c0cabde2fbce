"""`live`: sniff loopback while real TLS peers (openssl, Python's ssl) handshake; errors are one line.

Sniffing needs root (CAP_NET_RAW); those tests skip with that reason otherwise. Peers only use
127.0.0.1 and every process has a timeout.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from analyzer.cli import main
from analyzer.errors import ExitCode

from conftest import ROOT, facts

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="sniffing needs root (CAP_NET_RAW)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cert(tmp_path_factory) -> tuple[str, str]:
    d = tmp_path_factory.mktemp("cert")
    key, crt = d / "key.pem", d / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", crt, "-days", "2", "-subj", "/CN=live.test"],
                   check=True, capture_output=True, timeout=30)
    return str(crt), str(key)


def _start_live(port: int, seconds: float, out: Path, pcap: Path, *extra: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "live", "-i", "lo", "--bpf", f"tcp port {port}",
                             "--duration", str(seconds), "--format", "jsonl", "--write", str(pcap), *extra],
                            stdout=out.open("wb"), stderr=subprocess.PIPE)
    time.sleep(1.5)  # socket open and filter attached before the peers start
    return proc


def _openssl_handshake_under_live(tmp_path: Path, cert, seconds: float, *live_args: str):  # noqa: ANN001, ANN202
    """One openssl TLS 1.2 handshake on a free loopback port while `live` sniffs it: (live process,
    its stderr, its JSONL output, the pcapng it wrote)."""
    port = _free_port()
    out, pcap = tmp_path / "live.jsonl", tmp_path / "live.pcapng"
    live = _start_live(port, seconds, out, pcap, *live_args)
    server = subprocess.Popen(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", cert[0], "-key",
                               cert[1], "-www", "-quiet", "-tls1_2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "live.test"],
                       input=b"GET / HTTP/1.0\r\n\r\n", capture_output=True, timeout=10)
        _, err = live.communicate(timeout=20)
    finally:
        server.kill()
    return live, err, [json.loads(line) for line in out.read_text().splitlines()], pcap


@needs_root
def test_openssl_handshake_seen_live_and_written(tmp_path: Path, cert) -> None:
    live, err, conns, pcap = _openssl_handshake_under_live(tmp_path, cert, 6)
    assert live.returncode == 0, err
    assert b"0 dropped by the kernel" in err
    assert len(conns) == 1
    c = conns[0]
    assert (c["sni"], c["version"], c["complete"]) == ("live.test", 0x0303, True)
    replay = facts(str(pcap))
    assert [(r.sni, r.version, r.cipher_suite) for r in replay] == [(c["sni"], c["version"], c["cipher_suite"])]


@needs_root
def test_live_fail_on_exits_1_when_a_finding_reaches_it(tmp_path: Path, cert) -> None:
    live, err, conns, _ = _openssl_handshake_under_live(tmp_path, cert, 5, "--fail-on", "medium")
    assert live.returncode == ExitCode.FINDINGS, err
    assert b"with findings at or above medium" in err
    [c] = conns
    assert "CERT-SELF-SIGNED" in {f["id"] for f in c["findings"]}  # the fixture's self-signed certificate


@needs_root
def test_python_ssl_handshake_seen_live(tmp_path: Path, cert) -> None:
    port = _free_port()
    out, pcap = tmp_path / "live.jsonl", tmp_path / "live.pcapng"
    live = _start_live(port, 5, out, pcap)
    srv_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    srv_ctx.load_cert_chain(*cert)
    listener = socket.create_server(("127.0.0.1", port))

    def serve() -> None:
        conn, _ = listener.accept()
        with srv_ctx.wrap_socket(conn, server_side=True) as tls:
            tls.recv(10)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    cli_ctx = ssl.create_default_context(cafile=cert[0])
    cli_ctx.check_hostname = False
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            cli_ctx.wrap_socket(raw, server_hostname="py.live.test") as tls:
        tls.sendall(b"hello")
    t.join(5)
    listener.close()
    live.communicate(timeout=20)
    conns = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(c["sni"], c["version"]) for c in conns] == [("py.live.test", 0x0304)]


@needs_root
def test_count_stops_the_capture(tmp_path: Path) -> None:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "live", "-i", "lo", "--bpf", f"tcp port {port}",
                             "--count", "2", "--duration", "20"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_until_sniffing(proc)
    for _ in range(2):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            pass  # refused: the SYN and RST still cross loopback
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0 and b"2 packets" in err


def test_unknown_interface_lists_the_real_ones(capsys) -> None:
    assert main(["live", "-i", "nosuchif0", "--duration", "1"]) == ExitCode.USAGE
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no interface named 'nosuchif0'") and "lo" in err and "\n" not in err


@needs_root
def test_invalid_bpf_is_a_usage_error(capsys) -> None:
    if shutil.which("tcpdump") is None:
        pytest.skip("scapy compiles BPF with tcpdump")
    assert main(["live", "-i", "lo", "--bpf", "tcp port", "--duration", "1"]) == ExitCode.USAGE
    assert capsys.readouterr().err.startswith("error: invalid BPF filter 'tcp port'")


def test_no_permission_is_exit_3_with_a_hint(monkeypatch, capsys) -> None:
    import scapy.arch.linux

    def refuse(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(scapy.arch.linux, "L2Socket", refuse)
    assert main(["live", "-i", "lo", "--duration", "1"]) == ExitCode.BACKEND
    err = capsys.readouterr().err
    assert err.startswith("error: no permission to capture on lo") and "cap_net_raw" in err


@needs_root
def test_ctrl_c_prints_a_summary_and_exits_130() -> None:
    import signal

    proc = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "live", "-i", "lo", "--bpf", "tcp port 9",
                             "--duration", "30"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == ExitCode.INTERRUPTED
    assert b"connections (0 unfinished)" in err and b"Traceback" not in err


# --- stopping: signals, and --write closed cleanly (issue 16, item 10) ----------------------------------

SIGNAL_PORTS = iter(range(16010, 16030))  # this suite's own ports (16000-16099)


def _wait_until_sniffing(live: subprocess.Popen) -> None:
    """The table's header is printed once the socket is open and its filter attached (a fixed
    sleep misses the first packets on a loaded machine)."""
    ready, _, _ = select.select([live.stdout], [], [], 30)
    assert ready and live.stdout.readline().startswith(b"id "), "live did not start"


def _live_then_signal(tmp_path: Path, cert, sig: int, ignore_sigint: bool) -> tuple[subprocess.Popen, bytes, Path]:  # noqa: ANN001
    """`live --write` on lo while openssl handshakes, then `sig`; `ignore_sigint` starts it as a
    shell starts a background job (SIGINT ignored)."""
    import signal

    port = next(SIGNAL_PORTS)
    pcap = tmp_path / "live.pcapng"
    preexec = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignore_sigint else None
    live = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "live", "-i", "lo", "--bpf", f"tcp port {port}",
                             "--duration", "60", "--write", str(pcap)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=preexec)
    server = subprocess.Popen(["timeout", "20", "openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", cert[0],
                               "-key", cert[1], "-www", "-quiet", "-tls1_2"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_until_sniffing(live)
        time.sleep(1.0)  # the server listening
        subprocess.run(["timeout", "10", "openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername",
                        "sig.test"], input=b"GET / HTTP/1.0\r\n\r\n", capture_output=True, timeout=15)
        time.sleep(0.5)
        live.send_signal(sig)
        _, err = live.communicate(timeout=10)  # not the 60 s of --duration
    finally:
        server.kill()
        live.kill()
    return live, err, pcap


@needs_root
@pytest.mark.parametrize("sig_name, ignore_sigint", [("SIGTERM", False), ("SIGINT", True)])
def test_a_signal_stops_live_with_its_summary_and_a_whole_pcapng(tmp_path: Path, cert, sig_name: str,
                                                                 ignore_sigint: bool) -> None:
    import signal

    live, err, pcap = _live_then_signal(tmp_path, cert, getattr(signal, sig_name), ignore_sigint)
    assert live.returncode == ExitCode.INTERRUPTED, err
    assert b"1 connection (0 unfinished)" in err and b"Traceback" not in err
    if shutil.which("tshark"):  # the file Wireshark opens, whole, with the handshake in it
        tshark = subprocess.run(["tshark", "-r", str(pcap), "-d", "tcp.port==16000-16099,tls", "-Y",
                                 "tls.handshake.type==1", "-T", "fields", "-e", "tls.handshake.extensions_server_name"],
                                capture_output=True, text=True, timeout=60)
        assert tshark.returncode == 0 and tshark.stdout.split() == ["sig.test"], tshark.stderr
    assert [c.sni for c in facts(str(pcap))] == ["sig.test"]


@needs_root
def test_write_into_a_missing_folder_is_a_one_line_error(capsys) -> None:
    assert main(["live", "-i", "lo", "--duration", "1", "--write", "/nonexistent/dir/x.pcapng"]) == ExitCode.USAGE
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: cannot write /nonexistent/dir/x.pcapng: No such file or directory") and "\n" not in err
