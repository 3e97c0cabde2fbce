"""Certificate weakness rules over the chains a connection carried (issue #6, certificate slice).

Judgement only, like `weakness.py`: every check reads `Connection` facts (the DER chains that
`assemble` collected, the SNI, the Certificate message's frame and timestamp) plus a
`CertPolicy` handed in as `ctx.cert`, and yields `(title, scope, frame, evidence)` tuples.
Certificates are parsed with `cryptography`, each DER once, in a bounded cache keyed by its
SHA-256; a DER (or a part of one) that does not parse becomes a CERT-UNPARSABLE finding, never
an exception.

Time: validity is judged at the timestamp of the packet that carried the Certificate message
(the capture's own clock), never at today's date, so results do not change as captures age.

Trust (CERT-UNTRUSTED, only when `ca_roots` is given), in two steps:
  1. `cryptography.x509.verification` (web-PKI profile, server verifier) at the capture time,
     for the SNI when the leaf matches it, else for a name the leaf itself carries. Success: trusted.
  2. When it rejects, a plain path walk decides: from the leaf, follow certificates of the chain
     whose subject is the child's issuer, that are CAs (basicConstraints cA, keyCertSign when
     keyUsage is present) and whose key verifies the child's signature (any algorithm
     `cryptography` can verify, MD5 and SHA-1 included), until a root of `ca_roots` issues
     (or is) the current certificate. Reaching a root means the verifier's rejection was about
     validity dates, names, key sizes or signature algorithms (which CERT-EXPIRED,
     CERT-NAME-MISMATCH, CERT-WEAK-KEY, CERT-WEAK-SIGNATURE and CERT-SHA1-SIGNATURE report on
     their own) or about the web-PKI profile's extension requirements (AKI, SAN, EKU) that
     private PKIs often skip; not reaching one is CERT-UNTRUSTED, with the verifier's reason as
     evidence. The walk does not enforce path length, name constraints, EKU or policies.

Chain shape: CERT-CHAIN-ORDER wants each certificate issued by the next (RFC 5246 7.4.2; TLS 1.3
relaxes it to SHOULD). CERT-CHAIN-INCOMPLETE follows issuers through the sent certificates from
the leaf: the path must end at a self-signed certificate or one a root of `ca_roots` issues;
without `ca_roots`, only an end-entity certificate whose issuer was not sent counts (ending at an
intermediate is normal: the client holds the root).

Severity: a rule's finding has one severity, so SHA-1 (medium) and MD5/MD2/MD4 (high)
signatures are two rules. Rules on the server chain only: SELF-SIGNED, CHAIN-INCOMPLETE,
LONG-LIFETIME, NAME-MISMATCH, UNTRUSTED; the others judge the client's chain too
(`"side": "client"` in the evidence).

Strings taken from certificates are untrusted: they stay `str` (renderers sanitise) and are
capped (`STR_MAX` characters, `LIST_MAX` list entries).
"""

from __future__ import annotations

import hashlib
import ipaddress
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.x509.oid import ExtensionOID, NameOID

from analyzer.analysis.findings import Rule
from analyzer.errors import InputError
from analyzer.model import Connection, Entry
from analyzer.tls.messages import Certificate

PARSE_CACHE_MAX = 4096  # parsed certificates kept, keyed by SHA-256 of the DER
ISSUER_CACHE_MAX = 4096  # (child, issuer) signature checks kept
CHAIN_MAX = 16  # certificates judged per chain; a longer chain is judged on its first ones
STR_MAX = 255  # characters of a certificate string in evidence
LIST_MAX = 20  # entries of a list (SAN) in evidence

RFC5280 = "RFC 5280"
BR = "CA/B Forum BR"


@dataclass(frozen=True)
class CertPolicy:
    """Tunables of the certificate rules (`ctx.cert`)."""

    ca_roots: tuple[x509.Certificate, ...] | None = None  # None: trust is not judged
    expiring_soon_days: int = 30
    max_lifetime_days: int = 398  # CA/B Forum BR 6.3.2, for subscriber (leaf) certificates
    min_rsa_bits: int = 2048
    min_ec_bits: int = 256


DEFAULT_POLICY = CertPolicy()


def load_ca_bundle(path: str) -> tuple[x509.Certificate, ...]:
    """Trusted roots from a PEM bundle (one or more certificates) or a single DER certificate."""
    hint = "give a PEM bundle or a DER certificate of trusted roots"
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"CA bundle {path} does not exist", hint) from None
    except IsADirectoryError:
        raise InputError(f"CA bundle {path} is a directory", hint) from None
    except OSError as exc:
        raise InputError(f"cannot read CA bundle {path}: {exc.strerror or exc}", hint) from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. roots with negative serials: still roots
            if b"-----BEGIN" in data:
                certs = tuple(x509.load_pem_x509_certificates(data))
            else:
                certs = (x509.load_der_x509_certificate(data),)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"CA bundle {path} holds no readable certificate ({reason})", hint) from None
    if not certs:
        raise InputError(f"CA bundle {path} holds no certificate", hint)
    return certs


# --- bounded caches --------------------------------------------------------------------------------

_MISSING = object()


class _Lru:
    """A small thread-safe LRU map; `get(key, make)` computes on a miss."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._items: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any, make: Callable[[], Any]) -> Any:
        with self._lock:
            value = self._items.get(key, _MISSING)
            if value is not _MISSING:
                self._items.move_to_end(key)
                return value
        value = make()
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_PARSED = _Lru(PARSE_CACHE_MAX)
_ISSUED = _Lru(ISSUER_CACHE_MAX)


def cache_info() -> dict[str, int]:
    return {"parsed": len(_PARSED), "parsed_max": _PARSED.maxsize,
            "issuer_checks": len(_ISSUED), "issuer_checks_max": _ISSUED.maxsize}


def clear_caches() -> None:
    _PARSED.clear()
    _ISSUED.clear()


# --- parsing: one DER -> facts ------------------------------------------------------------------------

# signature algorithm OIDs whose hash `cryptography` may not even name (MD2/MD4) or that we want
# recognised whatever the library says
_SIG_HASH_BY_OID = {
    "1.2.840.113549.1.1.2": "md2", "1.2.840.113549.1.1.3": "md4", "1.2.840.113549.1.1.4": "md5",
    "1.3.14.3.2.3": "md5", "1.2.840.113549.1.1.5": "sha1", "1.3.14.3.2.29": "sha1",
    "1.2.840.10045.4.1": "sha1", "1.2.840.10040.4.3": "sha1", "1.3.14.3.2.27": "sha1",
}
_RSA_SIG = "1.2.840.113549.1.1."
_ECDSA_SIG = "1.2.840.10045.4."
_DSA_SIG = ("1.2.840.10040.4.3", "1.3.14.3.2.27", "2.16.840.1.101.3.4.3.1", "2.16.840.1.101.3.4.3.2")
WEAK_HASHES = ("md2", "md4", "md5")


@dataclass(frozen=True, eq=False)
class CertInfo:
    """Facts of one certificate, each read defensively; `error` when the DER does not parse."""

    sha256: str
    length: int
    cert: x509.Certificate | None = None
    error: str | None = None  # the whole certificate
    problems: tuple[str, ...] = ()  # parts that did not parse ("extensions: ...", "public key: ...")
    notes: tuple[str, ...] = ()  # the parser's warnings (RFC 5280 violations it tolerates)
    subject_name: x509.Name | None = None  # read once here: cryptography may warn on each read
    issuer_name: x509.Name | None = None
    subject: str = ""
    subject_cn: str | None = None
    issuer: str = ""
    issuer_cn: str | None = None
    serial: str = ""
    not_before: datetime | None = None
    not_after: datetime | None = None
    san_present: bool = False  # a subjectAltName extension exists (then CN is not a name)
    san_dns: tuple[str, ...] = ()
    san_ip: tuple[str, ...] = ()
    ca: bool = False  # basicConstraints cA
    key_cert_sign: bool | None = None  # keyUsage keyCertSign; None: no keyUsage extension
    key_type: str = "unknown"
    key_bits: int | None = None
    curve: str | None = None
    spki_sha256: str | None = None
    sig_oid: str = ""
    sig_name: str = ""
    sig_hash: str | None = None  # "sha256", "sha1", "md5", ... None: none (EdDSA) or unknown
    self_issued: bool = False
    self_signed: bool = False  # self-issued and its own key verifies its signature

    @property
    def parsed(self) -> bool:
        return self.cert is not None


def parse_certificate(der: bytes) -> CertInfo:
    """The facts of one DER certificate, from the bounded cache."""
    der = bytes(der)
    digest = hashlib.sha256(der).digest()
    return _PARSED.get(digest, lambda: _parse(der, digest.hex()))


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return _s(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


def _parse(der: bytes, sha: str) -> CertInfo:
    # cryptography warns (rather than fails) on some RFC 5280 violations: non-positive serials,
    # over-long name attributes. Hostile captures must not print to stderr: keep them as notes.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        info = _parse_quietly(der, sha)
    notes = tuple(dict.fromkeys(_s(str(w.message).splitlines()[0] if str(w.message) else w.category.__name__)
                                for w in caught))[:LIST_MAX]
    return replace(info, notes=notes) if notes else info


def _parse_quietly(der: bytes, sha: str) -> CertInfo:
    try:
        cert = x509.load_der_x509_certificate(der)
    except Exception as exc:  # noqa: BLE001  hostile bytes: any failure is "does not parse", reason kept
        return CertInfo(sha, len(der), error=_reason(exc))
    facts: dict[str, Any] = {}
    problems: list[str] = []

    def read(part: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception as exc:  # noqa: BLE001  a part of a hostile certificate; the reason is kept
            problems.append(f"{part}: {_reason(exc)}")

    def names() -> None:
        facts["subject_name"], facts["issuer_name"] = cert.subject, cert.issuer
        facts["subject"], facts["subject_cn"] = _name(facts["subject_name"])
        facts["issuer"], facts["issuer_cn"] = _name(facts["issuer_name"])

    def validity() -> None:
        facts["not_before"] = cert.not_valid_before_utc
        facts["not_after"] = cert.not_valid_after_utc

    def serial() -> None:
        n = cert.serial_number
        facts["serial"] = _s(f"{n:x}")

    def extensions() -> None:
        exts = cert.extensions
        for ext in exts:
            if ext.oid == ExtensionOID.SUBJECT_ALTERNATIVE_NAME:
                facts["san_present"] = True
                facts["san_dns"] = tuple(str(v) for v in ext.value.get_values_for_type(x509.DNSName))
                facts["san_ip"] = tuple(str(v) for v in ext.value.get_values_for_type(x509.IPAddress))
            elif ext.oid == ExtensionOID.BASIC_CONSTRAINTS:
                facts["ca"] = bool(ext.value.ca)
            elif ext.oid == ExtensionOID.KEY_USAGE:
                facts["key_cert_sign"] = bool(ext.value.key_cert_sign)

    def key() -> None:
        pub = cert.public_key()
        facts["spki_sha256"] = hashlib.sha256(pub.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).hexdigest()
        if isinstance(pub, rsa.RSAPublicKey):
            facts["key_type"], facts["key_bits"] = "RSA", pub.key_size
        elif isinstance(pub, ec.EllipticCurvePublicKey):
            facts["key_type"], facts["key_bits"], facts["curve"] = "ECDSA", pub.curve.key_size, pub.curve.name
        elif isinstance(pub, dsa.DSAPublicKey):
            facts["key_type"], facts["key_bits"] = "DSA", pub.key_size
        elif isinstance(pub, ed25519.Ed25519PublicKey):
            facts["key_type"], facts["key_bits"] = "Ed25519", 256
        elif isinstance(pub, ed448.Ed448PublicKey):
            facts["key_type"], facts["key_bits"] = "Ed448", 456
        else:
            facts["key_type"] = type(pub).__name__

    def signature() -> None:
        oid = cert.signature_algorithm_oid
        facts["sig_oid"] = oid.dotted_string
        facts["sig_name"] = _s(getattr(oid, "_name", "") or oid.dotted_string)
        weak = _SIG_HASH_BY_OID.get(oid.dotted_string)
        if weak is not None:
            facts["sig_hash"] = weak
            return
        try:
            h = cert.signature_hash_algorithm
        except UnsupportedAlgorithm:
            h = None
        facts["sig_hash"] = h.name if h is not None else None

    for part, fn in (("names", names), ("validity", validity), ("serial", serial), ("extensions", extensions),
                     ("public key", key), ("signature algorithm", signature)):
        read(part, fn)
    self_issued = False
    try:
        self_issued = facts.get("subject_name") is not None and facts["subject_name"] == facts.get("issuer_name")
    except Exception:  # noqa: BLE001  names already reported under "names"
        pass
    self_signed = self_issued and _signature_ok(cert, cert) is not False  # None: cannot tell, names say so
    return CertInfo(sha, len(der), cert=cert, problems=tuple(problems), self_issued=self_issued,
                    self_signed=self_signed, **facts)


def _name(name: x509.Name) -> tuple[str, str | None]:
    try:
        text = name.rfc4514_string()
    except Exception:  # noqa: BLE001  an odd attribute type: fall back to the CN only
        text = ""
    cns = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = None
    if cns:
        value = cns[0].value
        cn = _s(value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value))
    return _s(text), cn


def _s(value: str) -> str:
    """A certificate string for evidence: capped, and valid UTF-8 (no lone surrogates)."""
    return value[:STR_MAX].encode("utf-8", "replace").decode("utf-8")


def _signature_ok(child: x509.Certificate, issuer: x509.Certificate) -> bool | None:
    """Does `issuer`'s key verify `child`'s signature? None: cannot tell (unsupported algorithm)."""
    try:
        key = issuer.public_key()
        oid = child.signature_algorithm_oid.dotted_string
        sig, tbs = child.signature, child.tbs_certificate_bytes
        try:
            h = child.signature_hash_algorithm
        except UnsupportedAlgorithm:
            return None  # MD2/MD4 and other hashes nobody can verify any more
        params = child.signature_algorithm_parameters
        if oid.startswith(_RSA_SIG) or oid in ("1.3.14.3.2.3", "1.3.14.3.2.29"):
            if not isinstance(key, rsa.RSAPublicKey):
                return False
            key.verify(sig, tbs, params if isinstance(params, padding.AsymmetricPadding) else padding.PKCS1v15(), h)
        elif oid.startswith(_ECDSA_SIG):
            if not isinstance(key, ec.EllipticCurvePublicKey):
                return False
            key.verify(sig, tbs, params if isinstance(params, ec.ECDSA) else ec.ECDSA(h))
        elif oid in _DSA_SIG:
            if not isinstance(key, dsa.DSAPublicKey):
                return False
            key.verify(sig, tbs, h)
        elif oid == "1.3.101.112":
            if not isinstance(key, ed25519.Ed25519PublicKey):
                return False
            key.verify(sig, tbs)
        elif oid == "1.3.101.113":
            if not isinstance(key, ed448.Ed448PublicKey):
                return False
            key.verify(sig, tbs)
        else:
            return None
    except InvalidSignature:
        return False
    except Exception:  # noqa: BLE001  unsupported key/hash/padding in a hostile certificate
        return None
    return True


def _issued_by(child: CertInfo, issuer: CertInfo) -> bool | None:
    """True: `issuer`'s subject is `child`'s issuer and its key verifies the signature.
    False: names differ or the signature is wrong. None: names match, signature not checkable."""
    if child.cert is None or issuer.cert is None:
        return None

    def check() -> bool | None:
        try:
            if child.issuer_name is None or child.issuer_name != issuer.subject_name:
                return False
        except Exception:  # noqa: BLE001  undecodable names: no relation can be shown
            return None
        return _signature_ok(child.cert, issuer.cert)
    return _ISSUED.get((child.sha256, issuer.sha256), check)


def _same_certificate(a: CertInfo, b: CertInfo) -> bool:
    if a.sha256 == b.sha256:
        return True
    if a.cert is None or b.cert is None or a.spki_sha256 is None or a.spki_sha256 != b.spki_sha256:
        return False
    try:
        return a.subject_name is not None and a.subject_name == b.subject_name
    except Exception:  # noqa: BLE001
        return False


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


@dataclass(frozen=True, eq=False)
class RootSet:
    """A CA bundle, parsed once: its roots, indexed by subject, and the verifier's store."""

    roots: tuple[CertInfo, ...]
    by_subject: dict[x509.Name, tuple[CertInfo, ...]]
    digests: frozenset[str]
    store: Any  # cryptography.x509.verification.Store, None when no root parsed

    def __len__(self) -> int:
        return len(self.roots)

    def __iter__(self) -> Iterator[CertInfo]:
        return iter(self.roots)

    def issues(self, c: CertInfo) -> bool:
        """Is `c` one of the roots, or signed by one?"""
        if c.sha256 in self.digests:
            return True
        try:
            candidates = self.by_subject.get(c.issuer_name, ()) if c.issuer_name is not None else ()
            same = self.by_subject.get(c.subject_name, ()) if c.subject_name is not None else ()
        except Exception:  # noqa: BLE001  an unhashable hostile name: no relation can be shown
            return False
        return any(_same_certificate(c, r) for r in same) or any(_issued_by(c, r) is True for r in candidates)


def _root_set(bundle: tuple[x509.Certificate, ...]) -> RootSet:
    from cryptography.x509 import verification as xv

    roots = tuple(parse_certificate(_der(r)) for r in bundle)
    by_subject: dict[x509.Name, list[CertInfo]] = {}
    for r in roots:
        if r.subject_name is not None:
            by_subject.setdefault(r.subject_name, []).append(r)
    anchors = [r.cert for r in roots if r.cert is not None]
    try:
        store = xv.Store(anchors) if anchors else None
    except Exception:  # noqa: BLE001  a root the verifier refuses: the walk still decides
        store = None
    return RootSet(roots, {k: tuple(v) for k, v in by_subject.items()}, frozenset(r.sha256 for r in roots), store)


_ROOT_SETS: OrderedDict[int, tuple[tuple, RootSet]] = OrderedDict()  # id(ca_roots) -> (ca_roots, parsed)
_ROOT_SETS_MAX = 8
_ROOT_LOCK = threading.Lock()


def _roots(policy: CertPolicy) -> RootSet | None:
    """The policy's roots, parsed once per bundle (a bundle may hold hundreds)."""
    bundle = policy.ca_roots
    if bundle is None:
        return None
    with _ROOT_LOCK:
        hit = _ROOT_SETS.get(id(bundle))
        if hit is not None and hit[0] is bundle:
            return hit[1]
    parsed = _root_set(bundle)
    with _ROOT_LOCK:
        _ROOT_SETS[id(bundle)] = (bundle, parsed)  # the bundle is kept alive, so its id stays its own
        while len(_ROOT_SETS) > _ROOT_SETS_MAX:
            _ROOT_SETS.popitem(last=False)
    return parsed


def _is_trust_anchor(c: CertInfo, roots: RootSet | None) -> bool:
    return (c.self_signed and c.ca) or (roots is not None and c.sha256 in roots.digests)


# --- JSON-ready summaries ---------------------------------------------------------------------------

def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def certificate_summary(der: bytes) -> dict[str, Any]:
    """A bounded, JSON-ready description of one certificate (strings, ints, lists, bools)."""
    c = parse_certificate(der)
    if c.cert is None:
        return {"sha256": c.sha256, "length": c.length, "error": c.error}
    return _drop_none({
        "sha256": c.sha256, "length": c.length, "subject": c.subject, "subject_cn": c.subject_cn,
        "issuer": c.issuer, "issuer_cn": c.issuer_cn, "serial": c.serial,
        "san_dns": [_s(n) for n in c.san_dns[:LIST_MAX]], "san_ip": list(c.san_ip[:LIST_MAX]),
        "san_count": len(c.san_dns) + len(c.san_ip),
        "not_before": _iso(c.not_before) if c.not_before else None,
        "not_after": _iso(c.not_after) if c.not_after else None,
        "key_type": c.key_type, "key_bits": c.key_bits, "curve": c.curve,
        "signature_algorithm": c.sig_name or None, "signature_hash": c.sig_hash,
        "ca": c.ca, "self_signed": c.self_signed, "problems": list(c.problems) or None,
        "notes": list(c.notes) or None,
    })


# --- the chains of a connection -------------------------------------------------------------------------

@dataclass(frozen=True)
class Chain:
    """One side's certificate chain, where and when it was sent."""

    side: str  # "server" / "client"
    frame: int | None
    ts: float | None
    certs: tuple[CertInfo, ...]  # the first CHAIN_MAX, leaf first
    total: int
    at: datetime | None = field(default=None)  # ts as an aware datetime

    @property
    def scope(self) -> str:
        return "negotiated"

    def evidence(self, i: int, **extra: Any) -> dict[str, Any]:
        c = self.certs[i]
        return _drop_none({"side": self.side, "position": i, "subject_cn": c.subject_cn,
                           "issuer_cn": c.issuer_cn, "sha256": c.sha256, **extra})


def _certificate_message(conn: Connection, side: str, ders: list[bytes]) -> Any:
    for e in conn.entries:
        if isinstance(e, Entry) and e.side == side and e.msg.type == 11 and isinstance(e.msg.body, Certificate):
            if [ent.der for ent in e.msg.body.entries] == ders:
                return e.msg
    return None


def _when(ts: float | None) -> datetime | None:
    if ts is None:
        return None
    try:
        return datetime.fromtimestamp(ts, timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


_last_chains: list[Any] = [None, None, None, []]  # conn, its server and client DER lists, their chains


def chains(conn: Connection) -> list[Chain]:
    """The server chain and the client chain, when they were seen. Every certificate rule asks in
    turn for the same connection's chains: the last answer is kept for the next."""
    last = _last_chains
    if last[0] is conn and last[1] is conn.certificates and last[2] is conn.client_certificates:
        return last[3]
    out = _chains(conn)
    last[:] = [conn, conn.certificates, conn.client_certificates, out]
    return out


def _chains(conn: Connection) -> list[Chain]:
    out = []
    for side, ders in (("server", conn.certificates), ("client", conn.client_certificates)):
        if not ders:
            continue
        msg = _certificate_message(conn, side, ders)
        ts = msg.ts if msg is not None else conn.first_ts
        out.append(Chain(side, msg.frame if msg is not None else None, ts,
                         tuple(parse_certificate(d) for d in ders[:CHAIN_MAX]), len(ders), _when(ts)))
    return out


def _server_chain(conn: Connection) -> Chain | None:
    return next((c for c in chains(conn) if c.side == "server"), None)


def _policy(ctx: Any) -> CertPolicy:
    policy = getattr(ctx, "cert", None)
    return policy if isinstance(policy, CertPolicy) else DEFAULT_POLICY


# --- RFC 6125 name matching ---------------------------------------------------------------------------

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _reference_host(host: str) -> str | None:
    """The reference identifier as lower-case ASCII, or None when it is not an ASCII DNS name."""
    if host.endswith("."):
        host = host[:-1]
    if not host.isascii():
        return None  # an SNI carries A-labels (RFC 6066 3); raw UTF-8 names nothing a certificate may
    host = host.translate(_ASCII_LOWER)  # ASCII only: no Unicode case folding (KELVIN SIGN is not 'k')
    if not host or len(host) > 253 or any(not label for label in host.split(".")):
        return None
    return host


def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    value = value.strip("[]")
    if ":" not in value and not value.replace(".", "").isdigit():
        return None  # a host name, the usual case: no exception to raise and catch
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def dns_name_matches(reference: str, presented: str) -> bool:
    """RFC 6125 6.4: does one presented DNS identifier (a SAN dNSName, or a CN) match the host?

    Case-insensitive over ASCII; A-labels compared as ASCII (a U-label in a certificate never
    matches); a wildcard only as the complete left-most label of a name with at least three
    labels, matching exactly one non-empty label (6.4.3; `*.com`, `f*.example.com`,
    `*.*.example.com` and `www.*.example.com` match nothing)."""
    ref = _reference_host(reference)
    if ref is None or _ip(ref) is not None or not presented or not presented.isascii():
        return False
    pat = presented[:-1] if presented.endswith(".") else presented
    pat = pat.translate(_ASCII_LOWER)
    labels = pat.split(".")
    if any(not label for label in labels):
        return False
    if "*" not in pat:
        return pat == ref
    if labels[0] != "*" or any("*" in label for label in labels[1:]) or len(labels) < 3:
        return False
    ref_labels = ref.split(".")
    return len(ref_labels) == len(labels) and ref_labels[1:] == labels[1:]


def name_matches(reference: str, san_dns: Sequence[str] | None, san_ip: Sequence[str] = (),
                 cn: str | None = None) -> bool:
    """Does the certificate identify `reference` (an SNI)? `san_dns` None: the certificate has no
    subjectAltName extension, and only then is the CN a DNS identifier (RFC 6125 6.4.4). An IP
    address reference (not a valid SNI, RFC 6066 3) is compared with iPAddress SANs only."""
    ip = _ip(reference)
    if ip is not None:
        return any(_ip(p) == ip for p in san_ip)
    if san_dns is None:
        return cn is not None and dns_name_matches(reference, cn)
    return any(dns_name_matches(reference, p) for p in san_dns)


# --- the rules ----------------------------------------------------------------------------------------

Yield = Iterator[tuple[str, str, int | None, dict[str, Any]]]


def _unparsable(conn: Connection, ctx: Any) -> Yield:
    for chain in chains(conn):
        for i, c in enumerate(chain.certs):
            if c.error is not None:
                yield (f"{chain.side} certificate {i} does not parse", chain.scope, chain.frame,
                       chain.evidence(i, length=c.length, reason=c.error))
            elif c.problems:
                yield (f"parts of {chain.side} certificate {i} do not parse", chain.scope, chain.frame,
                       chain.evidence(i, length=c.length, parts=list(c.problems[:LIST_MAX])))


def _expired(conn: Connection, ctx: Any) -> Yield:
    for chain in chains(conn):
        for i, c in enumerate(chain.certs):
            if chain.at is not None and c.not_after is not None and chain.at > c.not_after:
                yield (f"{chain.side} certificate {i} expired on {c.not_after:%Y-%m-%d}", chain.scope, chain.frame,
                       chain.evidence(i, not_after=_iso(c.not_after), checked_at=_iso(chain.at)))


def _not_yet_valid(conn: Connection, ctx: Any) -> Yield:
    for chain in chains(conn):
        for i, c in enumerate(chain.certs):
            if chain.at is not None and c.not_before is not None and chain.at < c.not_before:
                yield (f"{chain.side} certificate {i} not valid before {c.not_before:%Y-%m-%d}", chain.scope,
                       chain.frame, chain.evidence(i, not_before=_iso(c.not_before), checked_at=_iso(chain.at)))


def _expiring_soon(conn: Connection, ctx: Any) -> Yield:
    days = _policy(ctx).expiring_soon_days
    for chain in chains(conn):
        for i, c in enumerate(chain.certs):
            if chain.at is None or c.not_after is None or chain.at > c.not_after:
                continue
            left = c.not_after - chain.at
            if left < timedelta(days=days):
                yield (f"{chain.side} certificate {i} expires within {days} days", chain.scope, chain.frame,
                       chain.evidence(i, not_after=_iso(c.not_after), checked_at=_iso(chain.at),
                                      days_left=left.days))


def _self_signed(conn: Connection, ctx: Any) -> Yield:
    chain = _server_chain(conn)
    if chain is None or not chain.certs[0].self_signed:
        return
    leaf = chain.certs[0]
    yield ("server certificate is self-signed", chain.scope, chain.frame,
           chain.evidence(0, key_type=leaf.key_type, key_bits=leaf.key_bits, chain_length=chain.total))


def _chain_order(conn: Connection, ctx: Any) -> Yield:
    for chain in chains(conn):
        certs = chain.certs
        bad = []
        for i in range(len(certs) - 1):
            if _issued_by(certs[i], certs[i + 1]) is not False:
                continue  # issued by the next one (or cannot tell)
            if certs[i].self_signed:
                bad.append({"position": i, "issuer_position": i, "note": "self-signed certificate before the end"})
                continue
            j = next((k for k, other in enumerate(certs) if k not in (i, i + 1) and _issued_by(certs[i], other)), None)
            bad.append(_drop_none({"position": i, "issuer_position": j}))
        if bad:
            first = bad[0]
            where = (f"at position {first['issuer_position']}" if first.get("issuer_position") is not None
                     else "not in the chain")
            yield (f"{chain.side} certificate chain out of order: the issuer of certificate {first['position']} "
                   f"is {where}", chain.scope, chain.frame,
                   {"side": chain.side, "violations": bad[:LIST_MAX],
                    "order": [c.subject_cn or c.sha256[:16] for c in certs[:LIST_MAX]]})


def _chain_incomplete(conn: Connection, ctx: Any) -> Yield:
    chain = _server_chain(conn)
    if chain is None or chain.certs[0].cert is None:
        return
    roots = _roots(_policy(ctx))
    path, reached = _issuer_path(chain, roots, strict=False)
    end_i = path[-1]
    end = chain.certs[end_i]
    if reached or end.self_signed:
        return  # ends at a trusted root, or at a self-signed one (trusting it is CERT-UNTRUSTED's question)
    if roots is not None:
        why = "no trusted root issues the last certificate of the issuer path"
    elif end.ca:
        return  # an intermediate ends the path: its root is the client's to have
    else:
        # no roots to ask: an end-entity certificate whose issuer was not sent. Roots do not issue
        # subscriber certificates directly (CA/B Forum BR 6.1.7), so an intermediate was left out.
        why = "the issuer of the end-entity certificate was not sent"
    yield (f"server certificate chain incomplete: {why}", chain.scope, chain.frame,
           chain.evidence(end_i, chain_length=chain.total, roots=None if roots is None else len(roots)))


def _weak_key(conn: Connection, ctx: Any) -> Yield:
    policy = _policy(ctx)
    for chain in chains(conn):
        for i, c in enumerate(chain.certs):
            bits = c.key_bits or 0
            if c.key_type == "RSA" and bits < policy.min_rsa_bits:
                what = f"RSA key of {bits} bits"
            elif c.key_type == "ECDSA" and bits < policy.min_ec_bits:
                what = f"EC key of {bits} bits ({c.curve})"
            elif c.key_type == "DSA":
                what = f"DSA key of {bits} bits"
            else:
                continue
            yield (f"{chain.side} certificate {i} has a weak {what}", chain.scope, chain.frame,
                   chain.evidence(i, key_type=c.key_type, key_bits=c.key_bits, curve=c.curve))


def _signature_rule(hashes: tuple[str, ...]):  # noqa: ANN202
    def check(conn: Connection, ctx: Any) -> Yield:
        roots = _roots(_policy(ctx))
        for chain in chains(conn):
            for i, c in enumerate(chain.certs):
                if c.sig_hash in hashes and not _is_trust_anchor(c, roots):
                    yield (f"{chain.side} certificate {i} signed with {c.sig_hash.upper()}", chain.scope, chain.frame,
                           chain.evidence(i, signature_algorithm=c.sig_name, signature_hash=c.sig_hash))
    return check


def _long_lifetime(conn: Connection, ctx: Any) -> Yield:
    chain = _server_chain(conn)
    if chain is None:
        return
    leaf = chain.certs[0]
    if leaf.ca or leaf.not_before is None or leaf.not_after is None:
        return
    period = leaf.not_after - leaf.not_before + timedelta(seconds=1)  # inclusive (RFC 5280 4.1.2.5)
    limit = _policy(ctx).max_lifetime_days
    if period > timedelta(days=limit):
        yield (f"server certificate valid for {period.days} days (more than {limit})", chain.scope, chain.frame,
               chain.evidence(0, not_before=_iso(leaf.not_before), not_after=_iso(leaf.not_after),
                              lifetime_days=period.days))


def _name_mismatch(conn: Connection, ctx: Any) -> Yield:
    chain = _server_chain(conn)
    if chain is None or not conn.sni:
        return
    leaf = chain.certs[0]
    if leaf.cert is None or any(p.startswith("extensions") for p in leaf.problems):
        return  # CERT-UNPARSABLE says so; the names cannot be judged
    if name_matches(conn.sni, leaf.san_dns if leaf.san_present else None, leaf.san_ip, leaf.subject_cn):
        return
    yield ("server certificate does not match the SNI", chain.scope, chain.frame,
           chain.evidence(0, sni=_s(conn.sni), sni_is_ip=_ip(conn.sni) is not None,
                          san_dns=[_s(n) for n in leaf.san_dns[:LIST_MAX]], san_ip=list(leaf.san_ip[:LIST_MAX]),
                          san_count=len(leaf.san_dns) + len(leaf.san_ip), san_present=leaf.san_present))


def _verifier_subject(conn: Connection, leaf: CertInfo) -> Any:
    """A name for the strict verifier: the SNI when the leaf matches it, else one the leaf carries
    (a mismatch is CERT-NAME-MISMATCH's to report, not a trust failure)."""
    from cryptography.x509 import verification as xv

    if conn.sni and name_matches(conn.sni, leaf.san_dns if leaf.san_present else None, leaf.san_ip, leaf.subject_cn):
        ip = _ip(conn.sni)
        return xv.IPAddress(ip) if ip is not None else xv.DNSName(_reference_host(conn.sni) or conn.sni)
    for name in leaf.san_dns:
        if name.startswith("*."):
            name = "wildcard" + name[1:]  # any one label the wildcard covers
        if not name.isascii() or "*" in name:
            continue
        try:
            return xv.DNSName(name)
        except ValueError:
            continue
    for address in leaf.san_ip:
        ip = _ip(address)
        if ip is not None:
            return xv.IPAddress(ip)
    return None


def _strict_verify(conn: Connection, chain: Chain, roots: RootSet) -> str | None:
    """None when cryptography's web-PKI verifier accepts the chain, else its reason."""
    from cryptography.x509 import verification as xv

    if roots.store is None:
        return "no usable trusted roots"
    if chain.at is None:
        return "no capture time to verify at"
    try:
        subject = _verifier_subject(conn, chain.certs[0])
        if subject is None:
            return "the leaf carries no name to verify against"
        verifier = xv.PolicyBuilder().store(roots.store).time(chain.at).build_server_verifier(subject)
        verifier.verify(chain.certs[0].cert, [c.cert for c in chain.certs[1:] if c.cert is not None])
    except Exception as exc:  # noqa: BLE001  VerificationError, or a hostile chain the verifier refuses
        return _reason(exc)
    return None


def _issuer_path(chain: Chain, roots: RootSet | None, strict: bool) -> tuple[list[int], bool]:
    """From the leaf, follow the certificates of the chain that issue the current one, until a
    root issues (or is) it; returns (positions walked, reached a root). `strict`: an issuer must
    be a CA (basicConstraints cA, keyCertSign when keyUsage is present) and its signature must
    verify; otherwise a matching name with a signature that cannot be checked is enough."""
    certs = chain.certs
    path = [0]
    current = certs[0]

    def issues(child: CertInfo, issuer: CertInfo) -> bool:
        signed = _issued_by(child, issuer)
        return signed is True or (not strict and signed is None and issuer.cert is not None)

    for _ in range(len(certs)):
        if roots is not None and roots.issues(current):
            return path, True
        nxt = next((j for j, c in enumerate(certs) if j not in path and c.cert is not None and issues(current, c)
                    and (not strict or (c.ca and c.key_cert_sign is not False))), None)
        if nxt is None:
            return path, False
        path.append(nxt)
        current = certs[nxt]
    return path, roots is not None and roots.issues(current)


def _untrusted(conn: Connection, ctx: Any) -> Yield:
    roots = _roots(_policy(ctx))
    if roots is None:
        return
    chain = _server_chain(conn)
    if chain is None or chain.certs[0].cert is None:
        return
    reason = _strict_verify(conn, chain, roots)
    if reason is None:
        return
    path, reached = _issuer_path(chain, roots, strict=True)
    if reached:
        return  # the verifier objected to dates, names, sizes or algorithms: other rules report those
    yield ("server certificate chain does not lead to a trusted root", chain.scope, chain.frame,
           chain.evidence(0, verifier=reason, path=[chain.certs[j].subject_cn or chain.certs[j].sha256[:16]
                                                    for j in path][:LIST_MAX],
                          roots=len(roots)))


CERT_RULES: tuple[Rule, ...] = (
    Rule("CERT-UNPARSABLE", "info", RFC5280 + " 4.1", "A certificate (or a part of it) could not be parsed.", _unparsable),
    Rule("CERT-EXPIRED", "high", RFC5280 + " 4.1.2.5", "A certificate was past its notAfter when it was sent.", _expired),
    Rule("CERT-NOT-YET-VALID", "high", RFC5280 + " 4.1.2.5", "A certificate was before its notBefore when it was sent.",
         _not_yet_valid),
    Rule("CERT-EXPIRING-SOON", "low", RFC5280 + " 4.1.2.5", "A certificate was close to its notAfter when it was sent.",
         _expiring_soon),
    Rule("CERT-SELF-SIGNED", "medium", RFC5280 + " 6.1", "The server's certificate is self-signed: nothing vouches for it.",
         _self_signed),
    Rule("CERT-CHAIN-ORDER", "low", "RFC 5246 7.4.2, RFC 8446 4.4.2", "Each certificate should be certified by the next.",
         _chain_order),
    Rule("CERT-CHAIN-INCOMPLETE", "low", "RFC 8446 4.4.2, " + BR + " 6.1.7",
         "The server did not send the intermediates up to a root.", _chain_incomplete),
    Rule("CERT-WEAK-KEY", "high", BR + " 6.1.5", "RSA or EC keys below policy size, or DSA keys, in certificates.", _weak_key),
    Rule("CERT-WEAK-SIGNATURE", "high", BR + " 7.1.3.2, RFC 6151", "A certificate signed with MD5 (or MD2/MD4).",
         _signature_rule(WEAK_HASHES)),
    Rule("CERT-SHA1-SIGNATURE", "medium", BR + " 7.1.3.2", "A certificate (not a root) signed with SHA-1.",
         _signature_rule(("sha1",))),
    Rule("CERT-LONG-LIFETIME", "low", BR + " 6.3.2", "The server certificate is valid for more than 398 days.",
         _long_lifetime),
    Rule("CERT-NAME-MISMATCH", "high", "RFC 6125 6.4", "The server certificate does not name the SNI host.", _name_mismatch),
    Rule("CERT-UNTRUSTED", "high", RFC5280 + " 6.1", "The server chain does not lead to a configured trusted root.",
         _untrusted),
)
