"""The rules a policy's allowed lists make (POLICY-*): the negotiated version, suite and group,
and the leaf certificate's key type, curve and signature, each against the policy's list."""

from __future__ import annotations

from typing import Any, Final

from analyzer import registry
from analyzer.analysis.case import Case
from analyzer.analysis.certificates import server_chain
from analyzer.analysis.findings import Hit, Rule


def _negotiated(conn: Any, allowed: frozenset[int] | None, value: int | None, name: Any, what: str,
                key: str) -> list[Hit]:
    if allowed is not None and value is not None and value not in allowed:
        sh = conn.server_hello
        return [(f"{what} {name(value)} not allowed by the policy", "negotiated", sh.frame if sh else None,
                 {key: name(value)})]
    return []


def _version(conn: Any, case: Case) -> list[Hit]:
    return _negotiated(conn, case.policy.versions, conn.version, registry.version_name, "version", "version")


def _suite(conn: Any, case: Case) -> list[Hit]:
    return _negotiated(conn, case.policy.cipher_suites, conn.cipher_suite, registry.cipher_suite_name,
                       "cipher suite", "cipher_suite")


def _group(conn: Any, case: Case) -> list[Hit]:
    return _negotiated(conn, case.policy.groups, conn.group, registry.group_name, "group", "group")


def _certificate(conn: Any, case: Case) -> list[Hit]:
    policy = case.policy
    lists = (("key type", policy.certificate_types, "key_type"), ("curve", policy.certificate_curves, "curve"),
             ("signature", policy.certificate_signatures, "sig_name"))
    if not conn.certificates or all(allowed is None for _, allowed, _ in lists):
        return []
    chain = server_chain(conn, case)
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
