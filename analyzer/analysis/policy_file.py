"""Policy files: the built-in profiles and users' TOML policies, read into a `Policy`.

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
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

from analyzer import registry
from analyzer.analysis.findings import SEVERITIES
from analyzer.analysis.policy import Policy
from analyzer.analysis.rules import rule_ids
from analyzer.errors import InputError
from analyzer.policies import POLICY_DIR, PROFILES

# Mozilla's JSON uses OpenSSL's names for some groups; the IANA registry names them otherwise
OPENSSL_GROUP_NAMES: Final = {"prime256v1": "secp256r1"}
VERSION_ALIASES: Final = {"tlsv1": "TLSv1.0"}
THRESHOLDS: Final = ("min_dh_bits", "min_rsa_bits", "min_ec_bits", "max_certificate_lifetime_days", "expiring_soon_days")
ALLOW_KINDS: Final = {"versions": "version", "cipher_suites": "cipher_suite", "groups": "group"}
TEXT_ALLOWS: Final = ("certificate_types", "certificate_curves", "certificate_signatures")

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
