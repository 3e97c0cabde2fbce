"""Our decode against Wireshark's, message by message, on the user's own capture.

Knows tshark's habits: it picks dissectors by port, so every server port where we found TLS is
passed as decode-as (and STARTTLS-style preambles as their protocol; DTLS server ports as "dtls"
on UDP; QUIC it finds by itself); HelloRetryRequest is a ServerHello to it; newer group names it
lacks do not matter since code points are compared. A DTLS fragment or retransmission is a row of
its own to both.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field

from analyzer.api import analyze
from analyzer.errors import AnalyzerError
from analyzer.model import Connection, Entry, RetransmissionRow
from analyzer.registry.codes import HS_CLIENT_HELLO, HS_SERVER_HELLO
from analyzer.sources.tshark import OracleMessage, wireshark_messages

# A plaintext preamble's first bytes (from the client) -> the dissector tshark must be told to use
PREAMBLE_PROTOCOLS = ((b"EHLO", "smtp"), (b"HELO", "smtp"), (b"AUTH TLS", "ftp"), (b"AUTH SSL", "ftp"),
                      (b"STLS", "pop"), (b"\x00\x00\x00\x08\x04\xd2\x16\x2f", "pgsql"),
                      (b"<?xml", "xmpp"), (b"<stream", "xmpp"), (b"\x03\x00", "tpkt"))
ESNI = 0xFFCE
COMPARED = ("cipher_suites", "extension_types", "sni", "alpn", "versions", "key_share_groups")


@dataclass(slots=True)
class Crosscheck:
    messages: int = 0  # tshark's handshake messages
    agree: int = 0
    differences: list[str] = field(default_factory=list)
    decode_as: dict[int, str] = field(default_factory=dict)

    @property
    def equal(self) -> bool:
        return not self.differences


def decode_as_for(conns: list[Connection]) -> dict[int, str]:
    ports: dict[int, str] = {}
    for c in conns:
        if c.transport != "tcp":
            if c.transport == "dtls":
                ports[c.server.port] = "dtls"
            continue
        head = c.preamble.get("client", b"")
        if not c.tls_offset.get("client"):  # TLS from the first client byte (the server side may start after a gap)
            ports[c.server.port] = "tls"
            continue
        for prefix, proto in PREAMBLE_PROTOCOLS:
            if head.upper().startswith(prefix) or head.startswith(prefix):
                ports[c.server.port] = proto
                break
        else:
            if re.match(rb"\S+ STARTTLS", head, re.I):  # a tagged IMAP command
                ports[c.server.port] = "imap"
    return ports


def as_tshark_shows(value: str | None) -> str | None:
    """A wire string as tshark 4.0 prints it: cut at the first NUL, each non-ASCII byte one U+FFFD."""
    if value is None:
        return None
    raw = value.encode("utf-8", "surrogateescape").split(b"\x00", 1)[0]
    return "".join(chr(b) if b < 0x80 else "\ufffd" for b in raw)


def _ours(m: Entry) -> OracleMessage:
    body = m.msg.body
    if isinstance(body, RetransmissionRow):  # a DTLS copy: tshark shows the fields of the message again
        body = body.message
    o = OracleMessage(m.msg.frame, m.msg.type)
    exts = getattr(body, "extensions", None) or []
    if m.msg.type == HS_CLIENT_HELLO:
        o.cipher_suites = list(body.cipher_suites) if not getattr(body, "sslv2", False) else []
    elif m.msg.type == HS_SERVER_HELLO and body is not None:
        o.cipher_suites = [body.cipher_suite]
    o.extension_types = [e.type for e in exts]
    for e in exts:
        f = e.fields
        if e.type == 0 and o.sni is None:
            o.sni = as_tshark_shows(f.get("host_name"))
        elif e.type == 16:
            o.alpn = [as_tshark_shows(p) or "" for p in f.get("protocols", [])]  # never None: p is a str
        elif e.type == 43:
            o.versions = list(f.get("versions", [])) or ([f["selected_version"]] if "selected_version" in f else [])
        elif e.type in (51, 40):
            groups = f.get("groups") or [f[k] for k in ("group", "selected_group") if k in f]
            o.key_share_groups = list(groups) + o.key_share_groups
        elif e.type == ESNI and "group" in f:
            o.key_share_groups.append(f["group"])  # tshark files the ESNI key share with key_share's
    return o


def _tshark_drops(conn: Connection, e: Entry) -> bool:
    """tshark 4.0 keeps the first ClientHello of a QUIC connection: the new one a client sends after
    a Retry or a Version Negotiation (CRYPTO offset 0 again) it calls a reused stream offset."""
    return conn.transport == "quic" and e.msg.type == HS_CLIENT_HELLO and bool(conn.client_hellos) \
        and e.msg is not conn.client_hellos[0]


def crosscheck(path: str, extra_decode_as: dict[int, str] | None = None) -> Crosscheck:
    """Our decode against tshark's on one capture; "-" reads it from stdin (kept in a temporary
    file: both tools read it)."""
    if path != "-":
        return _crosscheck(path, extra_decode_as)
    with tempfile.NamedTemporaryFile(prefix="tls-analyzer-stdin-") as spool:
        shutil.copyfileobj(sys.stdin.buffer, spool)
        spool.flush()
        try:
            return _crosscheck(spool.name, extra_decode_as)
        except AnalyzerError as exc:  # said of the input, not of our temporary file
            exc.message = exc.message.replace(spool.name, "stdin")
            raise


def _crosscheck(path: str, extra_decode_as: dict[int, str] | None = None) -> Crosscheck:
    conns = [r.connection for r in analyze(path).connections]
    result = Crosscheck(decode_as={**decode_as_for(conns), **(extra_decode_as or {})})
    ours: dict[tuple[int, int], list[OracleMessage]] = defaultdict(list)
    for c in conns:
        for e in c.entries:
            if isinstance(e, Entry) and e.msg.type is not None and not e.msg.encrypted \
                    and e.msg.content_type in (22, None) and not _tshark_drops(c, e):  # None: SSLv2 records
                ours[(e.msg.frame, e.msg.type)].append(_ours(e))
    for theirs in wireshark_messages(path, result.decode_as):
        result.messages += 1
        key = (theirs.frame, theirs.type)
        if not ours.get(key):
            result.differences.append(f"frame {theirs.frame}: Wireshark decodes handshake type {theirs.type}, we do not")
            continue
        mine = ours[key].pop(0)
        bad = [f"{k}: Wireshark {getattr(theirs, k)!r}, ours {getattr(mine, k)!r}" for k in COMPARED
               if getattr(theirs, k) != getattr(mine, k)]
        if bad:
            result.differences.append(f"frame {theirs.frame} type {theirs.type}: " + "; ".join(bad))
        else:
            result.agree += 1
    for (frame, htype), left in sorted(ours.items()):
        for _ in left:
            result.differences.append(f"frame {frame}: we decode handshake type {htype}, Wireshark does not")
    return result
