"""X.509 facts for the certificate rules: each DER parsed once with `cryptography`.

Parsed certificates and issuer/signature checks live in bounded caches keyed by SHA-256; a CA
bundle is parsed once into a `RootSet`. Hostile certificates never raise: a DER that does not
parse keeps its reason in `error`, a part that does not parse goes to `problems`, and the
library's warnings become `notes` instead of lines on stderr. Strings from certificates are
capped (`STR_MAX` characters, `LIST_MAX` list entries) and stay `str`: renderers sanitise them.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from analyzer.cache import LruCache
from analyzer.errors import InputError

if TYPE_CHECKING:  # imported where a certificate is parsed: a run without certificates (and start-up)
    from cryptography import x509  # does not pay the 40-odd ms of loading the X.509 machinery

PARSE_CACHE_MAX: Final = 4096  # parsed certificates kept, keyed by SHA-256 of the DER
ISSUER_CACHE_MAX: Final = 4096  # (child, issuer) signature checks kept
STR_MAX: Final = 255  # characters of a certificate string in evidence
LIST_MAX: Final = 20  # entries of a list (SAN) in evidence


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
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm

    pem = b"-----BEGIN" in data
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. roots with negative serials: still roots
            certs = tuple(x509.load_pem_x509_certificates(data)) if pem else (x509.load_der_x509_certificate(data),)
    except (ValueError, TypeError, UnsupportedAlgorithm):  # (their text is the parser's debug output)
        what = "holds no readable PEM certificate" if pem else "is neither a PEM bundle nor a DER certificate"
        raise InputError(f"CA bundle {path} {what}", hint) from None
    if not certs:
        raise InputError(f"CA bundle {path} holds no certificate", hint)
    return certs



# --- bounded caches --------------------------------------------------------------------------------

_PARSED: Final = LruCache["CertInfo"](PARSE_CACHE_MAX)  # DER bytes -> facts
_ISSUED: Final = LruCache["bool | None"](ISSUER_CACHE_MAX)  # (child, issuer SHA-256) -> issued_by()
_SUMMARIES: Final = LruCache[dict[str, Any]](PARSE_CACHE_MAX)  # SHA-256 -> JSON-ready summary


def cache_info() -> dict[str, int]:
    return {"parsed": len(_PARSED), "parsed_max": _PARSED.maxsize,
            "issuer_checks": len(_ISSUED), "issuer_checks_max": _ISSUED.maxsize}



# --- parsing: one DER -> facts ------------------------------------------------------------------------

# signature algorithm OIDs whose hash `cryptography` may not even name (MD2/MD4) or that we want
# recognised whatever the library says
_SIG_HASH_BY_OID: Final = {
    "1.2.840.113549.1.1.2": "md2", "1.2.840.113549.1.1.3": "md4", "1.2.840.113549.1.1.4": "md5",
    "1.3.14.3.2.3": "md5", "1.2.840.113549.1.1.5": "sha1", "1.3.14.3.2.29": "sha1",
    "1.2.840.10045.4.1": "sha1", "1.2.840.10040.4.3": "sha1", "1.3.14.3.2.27": "sha1",
}
_RSA_SIG: Final = "1.2.840.113549.1.1."
_ECDSA_SIG: Final = "1.2.840.10045.4."
_DSA_SIG: Final = ("1.2.840.10040.4.3", "1.3.14.3.2.27", "2.16.840.1.101.3.4.3.1", "2.16.840.1.101.3.4.3.2")
WEAK_HASHES: Final = ("md2", "md4", "md5")


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


def parse_certificate(der: bytes | bytearray | memoryview) -> CertInfo:
    """The facts of one DER certificate, from the bounded cache. The same chain comes on every
    connection to a server: found by its bytes (a bytes object hashes once, where a SHA-256
    would be computed on every call)."""
    data = bytes(der)
    info = _PARSED.get(data)
    if info is None:
        info = _PARSED.put(data, _parse(data, hashlib.sha256(data).hexdigest()))
    return info


def error_reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return capped(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


def _parse(der: bytes, sha: str) -> CertInfo:
    # cryptography warns (rather than fails) on some RFC 5280 violations: non-positive serials,
    # over-long name attributes. Hostile captures must not print to stderr: keep them as notes.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        info = _parse_quietly(der, sha)
    notes = tuple(dict.fromkeys(capped(str(w.message).splitlines()[0] if str(w.message) else w.category.__name__)
                                for w in caught))[:LIST_MAX]
    return replace(info, notes=notes) if notes else info


def _parse_quietly(der: bytes, sha: str) -> CertInfo:
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
    from cryptography.x509.oid import ExtensionOID

    try:
        cert = x509.load_der_x509_certificate(der)
    except Exception as exc:  # noqa: BLE001  hostile bytes: any failure is "does not parse", reason kept
        return CertInfo(sha, len(der), error=error_reason(exc))
    facts: dict[str, Any] = {}
    problems: list[str] = []

    def read(part: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception as exc:  # noqa: BLE001  a part of a hostile certificate; the reason is kept
            problems.append(f"{part}: {error_reason(exc)}")

    def names() -> None:
        facts["subject_name"], facts["issuer_name"] = cert.subject, cert.issuer
        facts["subject"], facts["subject_cn"] = _name(facts["subject_name"])
        facts["issuer"], facts["issuer_cn"] = _name(facts["issuer_name"])

    def validity() -> None:
        facts["not_before"] = cert.not_valid_before_utc
        facts["not_after"] = cert.not_valid_after_utc

    def serial() -> None:
        n = cert.serial_number
        facts["serial"] = capped(f"{n:x}")

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
        facts["sig_name"] = capped(getattr(oid, "_name", "") or oid.dotted_string)
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
    from cryptography.x509.oid import NameOID

    try:
        text = name.rfc4514_string()
    except Exception:  # noqa: BLE001  an odd attribute type: fall back to the CN only
        text = ""
    cns = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = None
    if cns:
        value = cns[0].value
        cn = capped(value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value))
    return capped(text), cn


def capped(value: str) -> str:
    """A certificate string for evidence: capped, and valid UTF-8 (no lone surrogates)."""
    return value[:STR_MAX].encode("utf-8", "replace").decode("utf-8")


def _signature_ok(child: x509.Certificate, issuer: x509.Certificate) -> bool | None:
    """Does `issuer`'s key verify `child`'s signature? None: cannot tell (unsupported algorithm)."""
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa

    try:
        key = issuer.public_key()
        oid = child.signature_algorithm_oid.dotted_string
        sig, tbs = child.signature, child.tbs_certificate_bytes
        try:
            h = child.signature_hash_algorithm
        except UnsupportedAlgorithm:
            return None  # MD2/MD4 and other hashes nobody can verify any more
        params = child.signature_algorithm_parameters
        if oid == "1.3.101.112":  # EdDSA: the hash is part of the algorithm
            if not isinstance(key, ed25519.Ed25519PublicKey):
                return False
            key.verify(sig, tbs)
        elif oid == "1.3.101.113":
            if not isinstance(key, ed448.Ed448PublicKey):
                return False
            key.verify(sig, tbs)
        elif h is None:
            return None
        elif oid.startswith(_RSA_SIG) or oid in ("1.3.14.3.2.3", "1.3.14.3.2.29"):
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
        else:
            return None
    except InvalidSignature:
        return False
    except Exception:  # noqa: BLE001  unsupported key/hash/padding in a hostile certificate
        return None
    return True


def issued_by(child: CertInfo, issuer: CertInfo) -> bool | None:
    """True: `issuer`'s subject is `child`'s issuer and its key verifies the signature.
    False: names differ or the signature is wrong. None: names match, signature not checkable."""
    child_cert, issuer_cert = child.cert, issuer.cert
    if child_cert is None or issuer_cert is None:
        return None

    def check() -> bool | None:
        try:
            if child.issuer_name is None or child.issuer_name != issuer.subject_name:
                return False
        except Exception:  # noqa: BLE001  undecodable names: no relation can be shown
            return None
        return _signature_ok(child_cert, issuer_cert)
    return _ISSUED.get_or_make((child.sha256, issuer.sha256), check)


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
    from cryptography.hazmat.primitives import serialization

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
        return any(_same_certificate(c, r) for r in same) or any(issued_by(c, r) is True for r in candidates)


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


def root_set(bundle: tuple[x509.Certificate, ...] | None) -> RootSet | None:
    """A CA bundle's roots, parsed (a bundle may hold hundreds: a run does it once, see
    analysis.policy.Policy.cert_policy)."""
    return None if bundle is None else _root_set(bundle)


def is_trust_anchor(c: CertInfo, roots: RootSet | None) -> bool:
    return (c.self_signed and c.ca) or (roots is not None and c.sha256 in roots.digests)



# --- JSON-ready summaries ---------------------------------------------------------------------------

_ISO: Final = LruCache[str](4096)  # certificate dates repeat with their certificates


def iso(t: datetime) -> str:
    if t.tzinfo is not timezone.utc:  # (equal instants in other zones would share one text)
        return t.isoformat().replace("+00:00", "Z")
    return _ISO.get_or_make(t, lambda: t.isoformat().replace("+00:00", "Z"))


def drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def certificate_summary(der: bytes) -> dict[str, Any]:
    """A bounded, JSON-ready description of one certificate (strings, ints, lists, bools), made
    once per certificate: treat as read-only, connections share it."""
    c = parse_certificate(der)
    return _SUMMARIES.get_or_make(c.sha256, lambda: _summary(c))


def _summary(c: CertInfo) -> dict[str, Any]:
    if c.cert is None:
        return {"sha256": c.sha256, "length": c.length, "error": c.error}
    return drop_none({
        "sha256": c.sha256, "length": c.length, "subject": c.subject, "subject_cn": c.subject_cn,
        "issuer": c.issuer, "issuer_cn": c.issuer_cn, "serial": c.serial,
        "san_dns": [capped(n) for n in c.san_dns[:LIST_MAX]], "san_ip": list(c.san_ip[:LIST_MAX]),
        "san_count": len(c.san_dns) + len(c.san_ip),
        "not_before": iso(c.not_before) if c.not_before else None,
        "not_after": iso(c.not_after) if c.not_after else None,
        "key_type": c.key_type, "key_bits": c.key_bits, "curve": c.curve,
        "signature_algorithm": c.sig_name or None, "signature_hash": c.sig_hash,
        "ca": c.ca, "self_signed": c.self_signed, "problems": list(c.problems) or None,
        "notes": list(c.notes) or None,
    })
