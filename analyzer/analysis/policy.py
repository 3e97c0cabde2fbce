"""Policies: which rules run, how much each weighs, and what a profile allows.

A policy is data: this module's `Policy`. Built-in profiles and users' TOML files are read by
analyzer/analysis/policy_file.py; the rules a policy's allowed lists make (POLICY-*) are in
analyzer/analysis/policy_rules.py.
"""


from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from analyzer.analysis.certinfo import RootSet, root_set
from analyzer.analysis.findings import Rule


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

    def severity(self, rule: Rule) -> str:
        return self.severities.get(rule.id, rule.severity)

    def cert_policy(self) -> CertPolicy:
        """The certificate rules' view of this policy, its CA bundle parsed (once per call: a run
        asks once, see rulebook.Judge)."""
        return CertPolicy(self.ca_roots, self.expiring_soon_days, self.max_certificate_lifetime_days,
                          self.min_rsa_bits, self.min_ec_bits, root_set(self.ca_roots))


@dataclass(frozen=True)
class CertPolicy:
    """Tunables of the certificate rules, and the CA bundle's roots parsed."""

    ca_roots: tuple[Any, ...] | None = None  # None: trust is not judged
    expiring_soon_days: int = 30
    max_lifetime_days: int = 398  # CA/B Forum BR 6.3.2, for subscriber (leaf) certificates
    min_rsa_bits: int = 2048
    min_ec_bits: int = 256
    roots: RootSet | None = None  # ca_roots parsed (root_set); made by Policy.cert_policy

    def __post_init__(self) -> None:
        if self.roots is None and self.ca_roots is not None:  # (made by hand, as tests do)
            object.__setattr__(self, "roots", root_set(self.ca_roots))
