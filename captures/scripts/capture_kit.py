#!/usr/bin/env python3
"""The tooling every capture script shares: real TLS peers on 127.0.0.1 (or network namespaces)
under coreutils `timeout`, tcpdump/dumpcap around them, a throwaway PKI, tshark checks of what
was captured, and the loop that makes, checks and publishes each capture into captures/.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

# --------------------------------------------------------------------------
# Timing knobs: every sleep / timeout of the script lives here.
# --------------------------------------------------------------------------
READY_TIMEOUT = 5.0  # max wait for a capture tool / server to be ready
CLIENT_TIMEOUT = 15.0  # max run time of one client
SERVER_EXIT_GRACE = 2.0  # wait for a server to exit on its own (-naccept)
HARD_LIMIT = 60  # `timeout` wrapped around every external process
SOCK_TIMEOUT = 10.0  # socket timeout of the Python peers
STDIN_HOLD = 0.5  # keep a client's stdin open this long before EOF
CAPTURE_TAIL = 0.3  # pause after the client finished, so FIN/ACKs are in
POLL = 0.05  # polling interval

CAPDIR = Path(__file__).resolve().parent.parent  # captures/ (this script is in captures/scripts/)
KEYDIR = CAPDIR / "keys"

HTTP_GET = b"GET / HTTP/1.0\r\n\r\n"
# Handshake message types (RFC 8446 / 5246)
CH, SH, NST, EOED, EE, CERT, SKE, CR, SHD, CV, CKE, FIN = 1, 2, 4, 5, 8, 11, 12, 13, 14, 15, 16, 20



class CaptureError(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise CaptureError(msg)


# --------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------
def _wrap(cmd, netns=None):
    pre = ["ip", "netns", "exec", netns] if netns else []
    return pre + ["timeout", "-k", "2", str(HARD_LIMIT)] + [str(c) if not isinstance(c, bytes) else c for c in cmd]


def spawn(cmd, *, netns=None, log=None, stdin=subprocess.PIPE, stderr=None, env=None):
    """Start cmd (wrapped in `timeout`); stdout (+stderr) go to log."""
    out = open(log, "wb") if log else subprocess.DEVNULL
    try:
        return subprocess.Popen(
            _wrap(cmd, netns),
            stdin=stdin,
            stdout=out,
            stderr=stderr if stderr is not None else subprocess.STDOUT,
            env=env,
        )
    finally:
        if log:
            out.close()


def stop(proc, sig=signal.SIGTERM, grace=SERVER_EXIT_GRACE):
    """Stop one process we started: let it exit, then sig, then SIGKILL its group."""
    if proc.poll() is None:
        try:
            proc.wait(grace)
            return proc.returncode
        except subprocess.TimeoutExpired:
            pass
        proc.send_signal(sig)
        try:
            proc.wait(READY_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # `timeout` made itself group leader
            proc.wait(READY_TIMEOUT)
    return proc.returncode


def run(cmd, **kw):
    """Run a short helper command (openssl req, ip, tshark ...) and return stdout."""
    res = subprocess.run(
        _wrap(cmd, kw.pop("netns", None)), capture_output=True, timeout=HARD_LIMIT + 5, **kw
    )
    if res.returncode != 0:
        raise CaptureError(f"command failed ({res.returncode}): {cmd}\n{res.stderr.decode(errors='replace')}")
    return res.stdout


def _ss_flags(proto):
    """`ss` options listing listening TCP sockets, or bound UDP sockets (UDP has no listen state)."""
    return "-Htln" if proto == "tcp" else "-Hulan"


def wait_listening(port, netns=None, proto="tcp"):
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if run(["ss", _ss_flags(proto), f"sport = :{port}"], netns=netns).strip():
            return
        time.sleep(POLL)
    raise CaptureError(f"nothing listens on port {port} after {READY_TIMEOUT}s")


def port_free(port, netns=None, proto="tcp"):
    check(not run(["ss", _ss_flags(proto), f"sport = :{port}"], netns=netns).strip(), f"port {port} already in use")


@contextlib.contextmanager
def capture(out, port, *, iface="lo", netns=None, tool="tcpdump", proto="tcp"):
    """Capture `PROTO port N` (tcp or udp) on iface into out while the body runs."""
    if tool == "tcpdump":
        cmd = ["tcpdump", "-i", iface, "-U", "--immediate-mode", "-Z", "root", "-n", "-s", "0",
               "-w", out, f"{proto} port {port}"]
        ready = "listening on"
    else:
        cmd = ["dumpcap", "-i", iface, "-n", "-f", f"{proto} port {port}", "-w", out]  # -n: pcapng
        ready = "Capturing on"
    proc = spawn(cmd, netns=netns, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    lines, seen = [], threading.Event()

    def drain():
        for raw in proc.stderr:
            lines.append(raw.decode(errors="replace"))
            if ready in lines[-1]:
                seen.set()

    t = threading.Thread(target=drain, daemon=True)
    t.start()
    try:
        if not seen.wait(READY_TIMEOUT):
            raise CaptureError(f"{tool} not ready: {''.join(lines)}")
        yield
        time.sleep(CAPTURE_TAIL)
    finally:
        stop(proc, signal.SIGINT, grace=0)
        t.join(READY_TIMEOUT)
    check(proc.returncode == 0, f"{tool} exited with {proc.returncode}: {''.join(lines)}")


@contextlib.contextmanager
def server(cmd, port, log, *, netns=None, proto="tcp", env=None):
    """Start a server (stdin held open, never written) and wait until it listens (TCP) or is bound (UDP)."""
    port_free(port, netns, proto)
    proc = spawn(cmd, netns=netns, log=log, env=env)
    try:
        wait_listening(port, netns, proto)
        yield proc
    finally:
        stop(proc)
        proc.stdin.close()


def client(cmd, log, *, send=b"", hold=0.0, netns=None, env=None, ok=(0,)):
    """Run a client: write `send` to its stdin, keep stdin open `hold` s, then EOF."""
    proc = spawn(cmd, netns=netns, log=log, env=env)
    try:
        if send:
            proc.stdin.write(send)
            proc.stdin.flush()
        time.sleep(hold)
        proc.stdin.close()
        proc.wait(CLIENT_TIMEOUT)
    except subprocess.TimeoutExpired:
        stop(proc, grace=0)
        raise CaptureError(f"client timed out: {cmd}\n{tail(log)}")
    if ok is not None and proc.returncode not in ok:
        raise CaptureError(f"client exited {proc.returncode}: {cmd}\n{tail(log)}")
    return Path(log).read_bytes().decode(errors="replace")


def tail(log, n=15):
    with contextlib.suppress(OSError):
        return "\n".join(Path(log).read_text(errors="replace").splitlines()[-n:])
    return ""


# --------------------------------------------------------------------------
# PKI
# --------------------------------------------------------------------------
@dataclass
class Pki:
    d: Path

    def __post_init__(self):
        p = self.d
        days = "3650"
        run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", days,
             "-keyout", p / "root.key", "-out", p / "root.pem", "-subj", "/O=tls-analyzer fixtures/CN=Fixture Root CA",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        self._issue("inter", "rsa:2048", "/O=tls-analyzer fixtures/CN=Fixture Intermediate CA", "root",
                    "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n")
        san = "subjectAltName=DNS:example.test,DNS:python.test,DNS:gnutls.test,DNS:localhost,IP:127.0.0.1,IP:::1\n"
        leaf = "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n" + san
        self._issue("server", "rsa:2048", "/CN=example.test", "inter", leaf)
        self._issue("ecserver", "ec", "/CN=python.test", "inter", leaf)
        self._issue("client", "rsa:2048", "/CN=fixture client", "root",
                    "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n")
        # chain files: leaf + intermediate
        for name in ("server", "ecserver"):
            (p / f"{name}-chain.pem").write_bytes((p / f"{name}.pem").read_bytes() + (p / "inter.pem").read_bytes())
        # RFC 7919 ffdhe2048 as DH parameters for the DHE capture (instant, no prime search)
        run(["openssl", "genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt", "group:ffdhe2048",
             "-out", p / "dh2048.pem"])

    def _issue(self, name, keyspec, subj, issuer, ext):
        p = self.d
        if keyspec == "ec":
            run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", p / f"{name}.key"])
            keyargs = ["-key", p / f"{name}.key"]
        else:
            keyargs = ["-newkey", keyspec, "-nodes", "-keyout", p / f"{name}.key"]
        (p / f"{name}.ext").write_text(ext)
        run(["openssl", "req", "-new", *keyargs, "-subj", subj, "-out", p / f"{name}.csr"])
        run(["openssl", "x509", "-req", "-in", p / f"{name}.csr", "-CA", p / f"{issuer}.pem", "-CAkey", p / f"{issuer}.key",
             "-CAcreateserial", "-days", "3650", "-sha256", "-extfile", p / f"{name}.ext", "-out", p / f"{name}.pem"])

    def __getattr__(self, item):  # pki.root_pem -> <dir>/root.pem, pki.client_key -> <dir>/client.key
        stem, _, ext = item.rpartition("_")
        if ext in ("pem", "key") and stem:
            return self.d / f"{stem}.{ext}"
        raise AttributeError(item)


# --------------------------------------------------------------------------
# tshark based analysis
# --------------------------------------------------------------------------
FIELDS = ["frame.number", "frame.len", "tcp.stream", "tcp.srcport", "tcp.dstport", "tcp.len", "tcp.flags.fin",
          "tcp.segment.count", "tls.record.content_type", "tls.handshake.type", "tls.alert_message.desc",
          "tls.handshake.random", "tls.handshake.extension.type", "tls.handshake.ciphersuite",
          "tls.handshake.session_id"]


@dataclass
class Frame:
    num: int
    length: int
    stream: int
    from_client: bool
    tcp_len: int
    fin: bool
    segments: int
    ctypes: list
    hs: list
    alerts: list
    randoms: list
    exts: list
    suites: list
    sids: list


@dataclass
class Conn:
    frames: list = field(default_factory=list)

    def hs(self, side):
        return [t for f in self.frames if f.from_client == (side == "c") for t in f.hs]

    def alerts(self, side):
        return [a for f in self.frames if f.from_client == (side == "c") for a in f.alerts]

    def appdata(self, side):
        return sum(f.ctypes.count(23) for f in self.frames if f.from_client == (side == "c"))

    def fins(self):
        return {f.from_client for f in self.frames if f.fin}

    def first(self, side, hstype):
        return next(f for f in self.frames if f.from_client == (side == "c") and hstype in f.hs)


def _ints(s, base=10):
    return [int(x, base) for x in s.split(",") if x] if s else []


def analyze(pcap, port, keylog=None, proto="tls"):
    """Per-TCP-connection view of the capture as dissected by tshark."""
    cmd = ["tshark", "-n", "-r", pcap, "-d", f"tcp.port=={port},{proto}", "-T", "fields",
           "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=,"]
    if keylog:
        cmd += ["-o", f"tls.keylog_file:{keylog}"]
    for f in FIELDS:
        cmd += ["-e", f]
    frames = []
    for line in run(cmd).decode().splitlines():
        v = (line.split("\t") + [""] * len(FIELDS))[: len(FIELDS)]
        frames.append(Frame(
            num=int(v[0]), length=int(v[1]), stream=int(v[2] or -1), from_client=int(v[4] or 0) == port,
            tcp_len=int(v[5] or 0), fin=v[6] in ("1", "True"), segments=max(_ints(v[7]) or [0]),
            ctypes=_ints(v[8]), hs=_ints(v[9]), alerts=_ints(v[10]),
            randoms=[r.replace(":", "") for r in v[11].split(",") if r], exts=_ints(v[12]),
            suites=[int(x, 16) for x in v[13].split(",") if x], sids=[s for s in v[14].split(",") if s]))
    conns = {}
    for f in frames:
        conns.setdefault(f.stream, Conn()).frames.append(f)
    return frames, [conns[k] for k in sorted(conns)]


def check_conns(conns, n):
    check(len(conns) == n, f"expected {n} TCP connection(s), found {len(conns)}")
    for i, c in enumerate(conns):
        check(c.fins() == {True, False}, f"connection {i}: FIN missing from one side (capture cut short?)")


def subseq(have, want):
    it = iter(have)
    return all(any(x == w for x in it) for w in want)


def check_hs(conn, side, want, label=""):
    have = conn.hs(side)
    check(subseq(have, want), f"{label} {side}: handshake types {have}, expected in order {want}")


# --------------------------------------------------------------------------
# Capture session: paths, common openssl command lines
# --------------------------------------------------------------------------
class Session:
    def __init__(self, name, port, tmp: Path, pki: Pki):
        self.name, self.port, self.tmp, self.pki = name, port, tmp, pki
        self.work = tmp / name
        self.work.mkdir()
        ext = ".pcapng" if name.endswith("nano") else ".pcap"
        self.pcap = self.work / (name + ext)
        self.out_pcap = CAPDIR / (name + ext)
        self.keydir = KEYDIR  # where publish() puts the key log
        self.keylog = self.work / f"{name}.keys"
        self.n = 0

    def log(self, what):
        self.n += 1
        return self.work / f"{self.n:02d}-{what}.log"

    def s_server(self, *extra, host="127.0.0.1", naccept=1, cert="server", www=True):
        hostport = f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"
        return ["openssl", "s_server", "-accept", hostport,
                "-cert", self.pki.d / f"{cert}.pem", "-key", self.pki.d / f"{cert}.key",
                "-cert_chain", self.pki.inter_pem, "-naccept", str(naccept),
                *(["-www"] if www else []), *extra]

    def s_client(self, *extra, host="127.0.0.1", keylog=True):
        hostport = f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"
        return ["openssl", "s_client", "-connect", hostport, "-CAfile", self.pki.root_pem,
                *(["-keylogfile", self.keylog] if keylog else []), *extra]

    def simple(self, server_args, client_args, *, naccept=1, www=True, send=HTTP_GET, ok=(0,), host="127.0.0.1"):
        """One s_server, one or more s_client runs (client_args: list of arg lists), captured."""
        slog = self.log("server")
        outs = []
        with capture(self.pcap, self.port):
            with server(self.s_server(*server_args, naccept=naccept, www=www, host=host), self.port, slog):
                for args in client_args:
                    if www:  # -www answers and closes: client waits for that (-ign_eof)
                        outs.append(client(self.s_client("-ign_eof", *args, host=host), self.log("client"),
                                           send=send, ok=ok))
                    else:  # echo server: client sends, waits a moment, EOF -> close_notify
                        outs.append(client(self.s_client(*args, host=host), self.log("client"),
                                           send=send, hold=STDIN_HOLD, ok=ok))
        return outs, Path(slog).read_text(errors="replace")

    def publish(self, keylog=True):
        self.out_pcap.parent.mkdir(exist_ok=True)
        shutil.copyfile(self.pcap, self.out_pcap)
        dst = self.keydir / f"{self.name}.keys"
        if keylog and self.keylog.exists() and any(
                line and not line.startswith("#") for line in self.keylog.read_text().splitlines()):
            self.keydir.mkdir(exist_ok=True)
            shutil.copyfile(self.keylog, dst)
        elif dst.exists():
            dst.unlink()


def main(captures, argv=None, pki_class=None, description="Make fixture captures from real TLS peers."):
    """The command line shared by the capture scripts: `[--only NAME ...] [--keep-tmp]`."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--only", nargs="+", metavar="NAME", help="capture names (with or without extension)")
    ap.add_argument("--keep-tmp", action="store_true", help="keep the temp dir (logs, certs) for debugging")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("must run as root (tcpdump, dumpcap, ip netns)")
    names = list(captures)
    if args.only:
        names = [n.split(".pcap")[0] for n in args.only]
        unknown = [n for n in names if n not in captures]
        if unknown:
            sys.exit(f"unknown capture(s): {unknown}; known: {list(captures)}")
    make_all(captures, names, args.keep_tmp, pki_class)


def make_all(captures, names, keep_tmp=False, pki_class=None):
    """Make each named capture of `captures` (name -> (port, function)) with one throwaway PKI;
    exit non-zero naming those that failed."""
    tmp = Path(tempfile.mkdtemp(prefix="tls-fixtures-"))
    failed = []
    t0 = time.monotonic()
    try:
        (tmp / "pki").mkdir()
        pki = (pki_class or Pki)(tmp / "pki")
        for name in names:
            port, fn = captures[name]
            s = Session(name, port, tmp, pki)
            try:
                what = fn(s)
                s.publish()
                npk = sum(1 for _ in analyze(s.out_pcap, port)[0])
                keys = f" keys/{name}.keys" if (KEYDIR / f"{name}.keys").exists() else ""
                print(f"{s.out_pcap.name:32} {npk:3d} packets{keys:35} {what}", flush=True)
            except (CaptureError, subprocess.SubprocessError, OSError) as e:
                failed.append(name)
                print(f"{name:32} FAILED: {e}", file=sys.stderr, flush=True)
    finally:
        if keep_tmp:
            print(f"temp dir kept: {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"done in {time.monotonic() - t0:.0f}s", file=sys.stderr)
    if failed:
        sys.exit(f"FAILED: {' '.join(failed)}")
