"""Client and server TLS fingerprints: JA3 and JA3S (Salesforce) and JA4 (FoxIO).

- JA3 / JA3S follow https://github.com/salesforce/ja3 (BSD-3-Clause) as Wireshark computes them
  (`tls.handshake.ja3` / `ja3s`): decimal values, GREASE (RFC 8701) dropped from every list,
  signalling suites (0x00FF, 0x5600) kept, wire order, the hello's legacy version field.
- JA4 follows FoxIO's technical_details/JA4.md (BSD-3-Clause).  The rest of JA4+ (JA4S, JA4H,
  JA4X, ...) is under the FoxIO License, which is not open source: it is deliberately absent.

Each fingerprint is built once from its parts (`Ja3Parts`, `Ja4Parts`); the hashed and the raw
renderings are both made from those same parts, so they cannot drift apart.

Hellos these definitions do not cover get no fingerprint rather than a misleading one: a hello that
did not decode (`malformed`: its lists are cut short) gets none, and JA3 is undefined for an SSLv2
CLIENT-HELLO (neither the Salesforce code nor Wireshark computes one).  JA4's version table does name
SSL 2.0 ("s2"), so an SSLv2 hello gets a JA4, its 24-bit SSLv2-only cipher kinds rendered with six
hex digits (TLS suites, 0x00XXXX, keep the spec's four).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Final

from analyzer.cache import LruCache
from analyzer.registry import is_grease
from analyzer.tls.extensions import Extension
from analyzer.tls.messages import ClientHello, ServerHello
from analyzer.tls.reader import text

__all__ = [
    "Ja3Parts", "Ja4Parts", "alpn_raw", "client_fingerprints", "ja3", "ja3_parts", "ja3_string", "ja3s",
    "ja3s_string", "ja4", "ja4_parts", "ja4_render", "server_fingerprints",
]

SERVER_NAME, SUPPORTED_GROUPS, EC_POINT_FORMATS, SIGNATURE_ALGORITHMS, ALPN, SUPPORTED_VERSIONS = \
    0, 10, 11, 13, 16, 43


def _no_grease(values) -> tuple[int, ...]:
    return tuple(v for v in values if not is_grease(v))


def _last(exts: list[Extension], etype: int, key: str) -> list[int]:
    """The decoded list `key` of the last extension of type `etype` (empty when absent)."""
    for e in reversed(exts):
        if e.type == etype:
            return e.fields.get(key) or []
    return []


def _first(exts: list[Extension] | None, etype: int) -> Extension | None:
    for e in exts or ():
        if e.type == etype:
            return e
    return None


# --- JA3 / JA3S -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Ja3Parts:
    """What JA3 reads from a ClientHello: wire order, GREASE removed."""

    version: int
    ciphers: tuple[int, ...]
    extensions: tuple[int, ...]
    groups: tuple[int, ...]
    formats: tuple[int, ...]


def ja3_parts(ch: ClientHello) -> Ja3Parts | None:
    """JA3's fields, or None when JA3 is undefined for this hello (SSLv2, or it did not decode).

    A repeated supported_groups or ec_point_formats extension: the last one counts, as in the
    Salesforce reference (Wireshark 4.0 prints every copy and breaks the five-field format).
    """
    if ch.sslv2 or ch.malformed:
        return None
    exts = ch.extensions or []
    return Ja3Parts(
        version=ch.legacy_version,
        ciphers=_no_grease(ch.cipher_suites),
        extensions=_no_grease(e.type for e in exts),
        groups=_no_grease(_last(exts, SUPPORTED_GROUPS, "groups")),
        formats=tuple(_last(exts, EC_POINT_FORMATS, "formats")),
    )


def _dashed(values: tuple[int, ...]) -> str:
    return "-".join(map(str, values))


def ja3_string(p: Ja3Parts) -> str:
    """`SSLVersion,Cipher,SSLExtension,EllipticCurve,EllipticCurvePointFormat`, empty fields kept."""
    return ",".join((str(p.version), _dashed(p.ciphers), _dashed(p.extensions), _dashed(p.groups),
                     _dashed(p.formats)))


def _md5(s: str) -> str:
    return hashlib.md5(s.encode("ascii"), usedforsecurity=False).hexdigest()


def ja3(ch: ClientHello) -> tuple[str, str] | None:
    """(JA3 string, its MD5 in lower-case hex), or None where JA3 is undefined (see `ja3_parts`)."""
    p = ja3_parts(ch)
    if p is None:
        return None
    s = ja3_string(p)
    return s, _md5(s)


def ja3s_string(sh: ServerHello) -> str | None:
    """`SSLVersion,Cipher,SSLExtension` of a ServerHello (HelloRetryRequest too), GREASE removed."""
    if sh.malformed:
        return None
    exts = _no_grease(e.type for e in sh.extensions or ())
    return f"{sh.legacy_version},{sh.cipher_suite},{_dashed(exts)}"


def ja3s(sh: ServerHello) -> tuple[str, str] | None:
    """(JA3S string, its MD5), or None for a ServerHello that did not decode."""
    s = ja3s_string(sh)
    return None if s is None else (s, _md5(s))


# --- JA4 ------------------------------------------------------------------------------------------

JA4_VERSIONS = {0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3", 0x0002: "s2",
                0xFEFF: "d1", 0xFEFD: "d2", 0xFEFC: "d3"}
TRANSPORTS: Final = frozenset("tqd")  # TLS over TCP, QUIC, DTLS
ZEROS: Final = "000000000000"


@dataclass(frozen=True, slots=True)
class Ja4Parts:
    """What JA4 reads from a ClientHello: lists in wire order with GREASE removed; SNI and ALPN kept."""

    transport: str  # "t", "q" or "d"
    version: str  # two characters from the spec's table, "00" when unknown
    sni: str  # "d" (SNI present) or "i"
    alpn: str  # two characters
    ciphers: tuple[int, ...]
    extensions: tuple[int, ...]
    signature_algorithms: tuple[int, ...]

    @property
    def a(self) -> str:
        return (f"{self.transport}{self.version}{self.sni}"
                f"{min(len(self.ciphers), 99):02d}{min(len(self.extensions), 99):02d}{self.alpn}")


def _newest(versions: tuple[int, ...]) -> int:
    """The highest version offered; DTLS numbers count down (0xfefc, DTLS 1.3, is newer than 0xfefd)."""
    return max(versions, key=lambda v: 0x10000 - v if v >= 0xFE00 else v + 0x10000)


def _version(ch: ClientHello) -> str:
    sv = _first(ch.extensions, SUPPORTED_VERSIONS)
    offered = _no_grease(sv.fields.get("versions") or []) if sv is not None else ()
    return JA4_VERSIONS.get(_newest(offered) if offered else ch.legacy_version, "00")


_ESCAPE: Final = re.compile(r"\\x([0-9a-f]{2})")


def alpn_raw(protocol: str) -> bytes:
    """The wire bytes of an ALPN protocol name, from the text `analyzer.tls.reader.text` made of them.

    text() gives UTF-8 text when the bytes are valid UTF-8, else the same with each invalid byte as
    a `\\xNN` escape.  So: when reading the escapes as bytes reproduces the text, those are the
    bytes; otherwise the text is plain UTF-8.  The one ambiguity is inherent to text(): wire bytes
    that are literally a backslash, "x" and two hex digits next to an invalid byte read the same as
    an escaped byte; this returns the escaped reading (`ja4` settles it from the extension length).
    """
    if "\\x" in protocol:
        pieces = _ESCAPE.split(protocol)  # text, hex, text, hex, ..., text
        raw = b"".join(bytes.fromhex(piece) if i % 2 else piece.encode("utf-8")
                       for i, piece in enumerate(pieces))
        if text(raw) == protocol:
            return raw
    return protocol.encode("utf-8")


def _first_alpn(ch: ClientHello) -> bytes:
    """The first protocol of the ClientHello's ALPN extension, as wire bytes (b"" when none)."""
    ext = _first(ch.extensions, ALPN)
    protocols = (ext.fields.get("protocols") or []) if ext is not None else []
    if ext is None or not protocols:
        return b""
    raws = [alpn_raw(p) for p in protocols]
    if ext.malformed is None and 2 + sum(1 + len(r) for r in raws) != ext.length:
        literal = protocols[0].encode("utf-8")  # the ambiguous reading of alpn_raw, resolved by length
        if 2 + sum(1 + len(r) for r in raws[1:]) + 1 + len(literal) == ext.length:
            return literal
    return raws[0]


def _alnum(b: int) -> bool:
    return 0x30 <= b <= 0x39 or 0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A


def _alpn_chars(first: bytes) -> str:
    """The spec's ALPN rule: first and last characters; the hex of the value's first and last
    characters when either end byte is not alphanumeric; "00" when there is no value."""
    if not first:
        return "00"
    if _alnum(first[0]) and _alnum(first[-1]):
        return chr(first[0]) + chr(first[-1])
    h = first.hex()
    return h[0] + h[-1]


def ja4_parts(ch: ClientHello, transport: str = "t") -> Ja4Parts | None:
    """JA4's fields, or None for a hello that did not decode."""
    if transport not in TRANSPORTS:
        raise ValueError(f"JA4 transport must be one of t, q, d, not {transport!r}")
    if ch.malformed:
        return None
    exts = ch.extensions or []
    sig = _first(exts, SIGNATURE_ALGORITHMS)
    return Ja4Parts(
        transport=transport,
        version=_version(ch),
        sni="d" if _first(exts, SERVER_NAME) is not None else "i",
        alpn=_alpn_chars(_first_alpn(ch)),
        ciphers=_no_grease(ch.cipher_suites),
        extensions=_no_grease(e.type for e in exts),
        signature_algorithms=_no_grease(sig.fields.get("schemes") or []) if sig is not None else (),
    )


def _hex_list(values) -> str:
    # four hex digits per the spec; SSLv2 cipher kinds (above 0xffff) keep their six
    return ",".join(f"{v:04x}" if v <= 0xFFFF else f"{v:06x}" for v in values)


def _sha12(raw: str) -> str:
    return hashlib.sha256(raw.encode("ascii")).hexdigest()[:12] if raw else ZEROS


def ja4_render(p: Ja4Parts) -> dict[str, str]:
    """The four renderings of one JA4: `ja4` (sorted, hashed), `ja4_r` (sorted, raw),
    `ja4_o` (original order, hashed) and `ja4_ro` (original order, raw).

    Sorted: ciphers and extensions in hex order, SNI and ALPN left out of the extensions.  Original:
    wire order, SNI and ALPN included.  Signature algorithms always keep wire order and follow the
    extensions after "_", only when there are some.  An empty list hashes to twelve zeros.
    """
    sigs = _hex_list(p.signature_algorithms)
    tail = "_" + sigs if sigs else ""
    b_sorted = _hex_list(sorted(p.ciphers))
    b_orig = _hex_list(p.ciphers)
    sorted_exts = sorted(e for e in p.extensions if e not in (SERVER_NAME, ALPN))
    c_sorted = _hex_list(sorted_exts) + tail if sorted_exts else ""
    c_orig = _hex_list(p.extensions) + tail if p.extensions else ""
    a = p.a
    return {
        "ja4": f"{a}_{_sha12(b_sorted)}_{_sha12(c_sorted)}",
        "ja4_r": f"{a}_{b_sorted}_{c_sorted}",
        "ja4_o": f"{a}_{_sha12(b_orig)}_{_sha12(c_orig)}",
        "ja4_ro": f"{a}_{b_orig}_{c_orig}",
    }


def ja4(ch: ClientHello, transport: str = "t") -> dict[str, str]:
    """JA4 of a ClientHello: keys ja4, ja4_r, ja4_o, ja4_ro; empty for a hello that did not decode.

    `transport` is "t" (TLS over TCP), "q" (QUIC) or "d" (DTLS): the hello alone does not say.
    """
    p = ja4_parts(ch, transport)
    return {} if p is None else ja4_render(p)


# --- per message ----------------------------------------------------------------------------------

def client_fingerprints(ch: ClientHello, transport: str = "t") -> dict[str, str]:
    """ja3, ja3_string, ja4, ja4_r, ja4_o, ja4_ro: only the keys defined for this hello."""
    out: dict[str, str] = {}
    j3 = ja3(ch)
    if j3 is not None:
        out["ja3_string"], out["ja3"] = j3
    out.update(ja4(ch, transport))
    return out


def server_fingerprints(sh: ServerHello) -> dict[str, str]:
    """ja3s, ja3s_string (empty for a ServerHello that did not decode). A server answers alike
    every time: one MD5 per distinct JA3S string."""
    s = ja3s_string(sh)
    if s is None:
        return {}
    fp = _SERVER_FINGERPRINTS.get(s)
    if fp is None:
        fp = _SERVER_FINGERPRINTS.put(s, {"ja3s_string": s, "ja3s": _md5(s)})
    return dict(fp)


_SERVER_FINGERPRINTS: Final = LruCache[dict[str, str]](4096)  # JA3S string -> both renderings


# --- what the client fingerprints read, as a cache key --------------------------------------------

# the decoded list each extension type contributes (others contribute their type and position only)
_KEYED_FIELDS: Final = {SUPPORTED_GROUPS: "groups", EC_POINT_FORMATS: "formats", SIGNATURE_ALGORITHMS: "schemes",
                        ALPN: "protocols", SUPPORTED_VERSIONS: "versions"}


def client_key(ch: ClientHello, transport: str = "t") -> tuple:
    """Every value `client_fingerprints` reads from a hello, as a hashable key: hellos with equal
    keys have equal JA3/JA4 (the SNI's presence counts, not its name). Content only: an `id()`
    would name a different extension once the first is freed."""
    return (transport, ch.legacy_version, ch.sslv2, ch.malformed is None, tuple(ch.cipher_suites),
            tuple((e.type, e.length, e.malformed, tuple(e.fields.get(_KEYED_FIELDS[e.type]) or ()))
                  if e.type in _KEYED_FIELDS else e.type for e in ch.extensions or ()))
