"""Policies: which rules run, how much each weighs, and what a profile allows.

A policy is data. The built-in profiles are TOML files in analyzer/policies/ (`default`: RFC 9325;
`mozilla-modern` and `mozilla-intermediate`: Mozilla Server Side TLS 6.0; `mozilla-old`: 5.8), the
Mozilla ones reading the guidelines' own JSON (MPL-2.0, see analyzer/policies/NOTICE). A user's
file (`--policy PATH`) has the same format and may extend a built-in profile:

    extends = "mozilla-intermediate"
    disable = ["KX-NO-PQ"]
    [severity]
    SUITE-CBC = "medium"
    [allow]                      # negotiated values outside these lists are POLICY- findings
    versions = ["TLSv1.2", "TLSv1.3"]
    cipher_suites = ["TLS_AES_128_GCM_SHA256", "0xC02F"]
    groups = ["x25519", "secp256r1"]
    certificate_types = ["ecdsa", "rsa"]
    [thresholds]
    min_dh_bits = 3072
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

from analyzer import registry
from analyzer.analysis.findings import SEVERITIES, Hit, Rule
from analyzer.cache import LruCache
from analyzer.errors import InputError
from analyzer.policies import POLICY_DIR, PROFILES

# Mozilla's JSON uses OpenSSL's names for some groups; the IANA registry names them otherwise
OPENSSL_GROUP_NAMES: Final = {"prime256v1": "secp256r1"}
VERSION_ALIASES: Final = {"tlsv1": "TLSv1.0"}
THRESHOLDS: Final = ("min_dh_bits", "min_rsa_bits", "min_ec_bits", "max_certificate_lifetime_days", "expiring_soon_days")
ALLOW_KINDS: Final = {"versions": "version", "cipher_suites": "cipher_suite", "groups": "group"}
TEXT_ALLOWS: Final = ("certificate_types", "certificate_curves", "certificate_signatures")


_CERT_POLICIES: Final = LruCache[Any](16)  # certificate thresholds and roots -> CertPolicy
_LAST_CERT: Final[list[Any]] = [None, None]  # the (frozen) Policy last asked, its CertPolicy


@dataclass(frozen=True)
class Policy:
    name: str = "default"
    source: str = "RFC 9325"
    severities: Mapping[str, str] = field(default_factory=dict)  # rule id -> severity
    disabled: frozenset[str] = frozenset()
    versions: frozenset[int] | None = None  # None: anything
    cipher_suites: frozenset[int] | None = None
    groups: frozenset[int] | None = None
    certificate_types: frozenset[str] | None = None  # "rsa", "ecdsa", "ed25519", ...
    certificate_curves: frozenset[str] | None = None  # as cryptography names them: secp256r1, ...
    certificate_signatures: frozenset[str] | None = None  # OID names: sha256WithRSAEncryption, ...
    min_dh_bits: int = 2048
    min_rsa_bits: int = 2048
    min_ec_bits: int = 256
    max_certificate_lifetime_days: int = 398  # CA/Browser Forum baseline
    expiring_soon_days: int = 30
    ca_roots: tuple[Any, ...] | None = None  # x509.Certificate roots from --ca-bundle

    @property
    def cert(self) -> Any:
        """The certificate rules' view of this policy, made once per set of thresholds (a compiled
        class has no __dict__ for functools.cached_property to keep it in)."""
        if _LAST_CERT[0] is self:  # the rules ask in turn, for the same policy
            return _LAST_CERT[1]
        key = (self.ca_roots, self.expiring_soon_days, self.max_certificate_lifetime_days, self.min_rsa_bits,
               self.min_ec_bits)
        found = _CERT_POLICIES.get(key)
        if found is None:
            from analyzer.analysis.certificates import CertPolicy

            found = _CERT_POLICIES.put(key, CertPolicy(*key))
        _LAST_CERT[:] = [self, found]
        return found

    def severity(self, rule: Rule) -> str:
        return self.severities.get(rule.id, rule.severity)


# --- loading ---------------------------------------------------------------------------------------

def load_profile(name: str) -> Policy:
    """A built-in profile by name."""
    if name not in PROFILES:
        raise InputError(f"unknown profile {name!r}", f"one of {', '.join(PROFILES)}")
    path = POLICY_DIR / f"{name}.toml"
    return _from_toml(tomllib.loads(path.read_text()), str(path), Policy())


def load_policy_file(path: str) -> Policy:
    """A user's TOML policy; every mistake is a one-line InputError naming the file."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such policy file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the policy file: {exc}") from None
    except tomllib.TOMLDecodeError as bad:
        raise InputError(f"{path}: not valid TOML: {bad}") from None
    try:
        base = load_profile(str(data.pop("extends"))) if "extends" in data else Policy()
    except InputError as inner:
        raise InputError(f"{path}: {inner.message}", inner.hint) from None
    policy = _from_toml(data, path, base)
    return replace(policy, name=data.get("name", Path(path).stem),
                   source=f"policy {Path(path).name}" + (f" (extends {base.name})" if base.name != "default" else ""))


def _from_toml(data: dict[str, Any], where: str, base: Policy) -> Policy:
    from analyzer.analysis.rulebook import rule_ids  # the rule list imports this module

    def fail(msg: str) -> InputError:
        return InputError(f"{where}: {msg}")

    known = {"name", "source", "mozilla", "disable", "severity", "allow", "thresholds"}
    for key in data:
        if key not in known:
            raise fail(f"unknown key {key!r} (expected one of {', '.join(sorted(known | {'extends'}))})")
    changes: dict[str, Any] = {}
    if "name" in data:
        changes["name"] = str(data["name"])
    if "source" in data:
        changes["source"] = str(data["source"])
    if "mozilla" in data:
        changes.update(_mozilla(data["mozilla"], fail))
    ids = rule_ids()
    disabled = set(base.disabled)
    for rule_id in _list(data.get("disable", []), "disable", fail):
        if rule_id not in ids:
            raise fail(f"unknown rule id {rule_id!r} in disable (see `tls-analyzer rules`)")
        disabled.add(rule_id)
    changes["disabled"] = frozenset(disabled)
    severities = dict(base.severities)
    for rule_id, severity in _table(data.get("severity", {}), "severity", fail).items():
        if rule_id not in ids:
            raise fail(f"unknown rule id {rule_id!r} in [severity]")
        if severity not in SEVERITIES:
            raise fail(f"severity of {rule_id} must be one of {', '.join(SEVERITIES)}, not {severity!r}")
        severities[rule_id] = severity
    changes["severities"] = severities
    for key, values in _table(data.get("allow", {}), "allow", fail).items():
        if key in ALLOW_KINDS:
            changes[key] = frozenset(_codes(ALLOW_KINDS[key], _list(values, f"allow.{key}", fail), fail))
        elif key in TEXT_ALLOWS:
            changes[key] = frozenset(str(v).lower() for v in _list(values, f"allow.{key}", fail))
        else:
            raise fail(f"unknown key {key!r} in [allow]")
    for key, value in _table(data.get("thresholds", {}), "thresholds", fail).items():
        if key not in THRESHOLDS:
            raise fail(f"unknown key {key!r} in [thresholds] (expected one of {', '.join(THRESHOLDS)})")
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise fail(f"thresholds.{key} must be a non-negative integer")
        changes[key] = value
    return replace(base, **changes)


def _mozilla(spec: Any, fail: Any) -> dict[str, Any]:
    """Allowed lists and thresholds from one configuration of Mozilla's guidelines JSON."""
    spec = _table(spec, "mozilla", fail)
    doc = json.loads((POLICY_DIR / str(spec["guidelines"])).read_text())
    conf = doc["configurations"][spec["configuration"]]
    suites = list(conf["ciphersuites"]) + list(conf["ciphers"]["iana"])
    groups = [OPENSSL_GROUP_NAMES.get(g, g) for g in conf["tls_curves"]]
    versions = [VERSION_ALIASES.get(v.lower(), v) for v in conf["tls_versions"]]
    out: dict[str, Any] = {
        "source": f"Mozilla Server Side TLS {doc['version']} ({spec['configuration']})",
        "versions": frozenset(_codes("version", versions, fail)),
        "cipher_suites": frozenset(_codes("cipher_suite", suites, fail)),
        "groups": frozenset(_codes("group", groups, fail)),
        "certificate_types": frozenset(t.lower() for t in conf["certificate_types"]),
        "certificate_curves": frozenset(OPENSSL_GROUP_NAMES.get(c, c).lower() for c in conf["certificate_curves"]),
        "certificate_signatures": frozenset(s.lower() for s in conf["certificate_signatures"]),
        "max_certificate_lifetime_days": int(conf["maximum_certificate_lifespan"]),
        "min_ec_bits": int(conf["ecdh_param_size"]),
    }
    if conf.get("dh_param_size"):
        out["min_dh_bits"] = int(conf["dh_param_size"])
    if conf.get("rsa_key_size"):
        out["min_rsa_bits"] = int(conf["rsa_key_size"])
    return out


def _codes(kind: str, names: list[Any], fail: Any) -> Iterator[int]:
    for name in names:
        code = registry.code_for(kind, str(name))
        if code is None:
            raise fail(f"unknown {kind.replace('_', ' ')} {name!r}")
        yield code


def _list(value: Any, what: str, fail: Any) -> list[Any]:
    if not isinstance(value, list):
        raise fail(f"{what} must be a list")
    return value


def _table(value: Any, what: str, fail: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise fail(f"[{what}] must be a table")
    return value


# --- rules the policy's lists make -----------------------------------------------------------------

def _negotiated(conn: Any, allowed: frozenset[int] | None, value: int | None, name: Any, what: str,
                key: str) -> list[Hit]:
    if allowed is not None and value is not None and value not in allowed:
        sh = conn.server_hello
        return [(f"{what} {name(value)} not allowed by the policy", "negotiated", sh.frame if sh else None,
                 {key: name(value)})]
    return []


def _version(conn: Any, policy: Policy) -> list[Hit]:
    return _negotiated(conn, policy.versions, conn.version, registry.version_name, "version", "version")


def _suite(conn: Any, policy: Policy) -> list[Hit]:
    return _negotiated(conn, policy.cipher_suites, conn.cipher_suite, registry.cipher_suite_name,
                       "cipher suite", "cipher_suite")


def _group(conn: Any, policy: Policy) -> list[Hit]:
    return _negotiated(conn, policy.groups, conn.group, registry.group_name, "group", "group")


def _certificate(conn: Any, policy: Policy) -> list[Hit]:
    lists = (("key type", policy.certificate_types, "key_type"), ("curve", policy.certificate_curves, "curve"),
             ("signature", policy.certificate_signatures, "sig_name"))
    if not conn.certificates or all(allowed is None for _, allowed, _ in lists):
        return []
    from analyzer.analysis.certificates import server_chain

    chain = server_chain(conn)
    if chain is None or not chain.certs:
        return []
    hits: list[Hit] = []
    for what, allowed, attr in lists:
        value = getattr(chain.certs[0], attr, None)
        if allowed is not None and value not in (None, "", "unknown") and str(value).lower() not in allowed:
            hits.append((f"leaf certificate {what} {value} not allowed by the policy", "negotiated", chain.frame,
                         chain.evidence(0, **{what.replace(" ", "_"): value})))
    return hits


POLICY_SOURCE: Final = "the active policy (--profile / --policy)"
POLICY_RULES: Final[tuple[Rule, ...]] = (
    Rule("POLICY-VERSION", "medium", POLICY_SOURCE, "Negotiated protocol version outside the policy's list.", _version),
    Rule("POLICY-SUITE", "medium", POLICY_SOURCE, "Negotiated cipher suite outside the policy's list.", _suite),
    Rule("POLICY-GROUP", "low", POLICY_SOURCE, "Negotiated key-exchange group outside the policy's list.", _group),
    Rule("POLICY-CERT", "medium", POLICY_SOURCE,
         "Leaf certificate key type, curve or signature outside the policy's lists.", _certificate),
)
