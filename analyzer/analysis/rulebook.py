"""Every rule, and how a policy turns their hits into findings."""

from __future__ import annotations

from typing import Any, Final

from functools import cache

from analyzer.analysis.findings import SEVERITIES, Finding, Rule, severity_at_least
from analyzer.analysis.policy import Policy, load_profile
from analyzer.model import Connection

OFFERED_CAP: Final = "low"  # what a client merely offers (and did not get) weighs less than what was used


@cache
def all_rules() -> tuple[Rule, ...]:
    from analyzer.analysis.certificates import CERT_RULES
    from analyzer.analysis.policy import POLICY_RULES
    from analyzer.analysis.weakness import RULES

    return RULES + CERT_RULES + POLICY_RULES


def rule_ids() -> frozenset[str]:
    return frozenset(rule.id for rule in all_rules())


@cache
def default_policy() -> Policy:
    return load_profile("default")


def _capped(severity: str, scope: str) -> str:
    return OFFERED_CAP if scope == "offered" and severity_at_least(severity, OFFERED_CAP) else severity


def evaluate(conn: Connection, policy: Policy | None = None) -> list[Finding]:
    """Every finding on one connection under `policy` (the default profile if None), worst first.
    A rule that fails on strange input costs a warning on the connection, never the analysis."""
    if not conn.tls:
        return []
    policy = policy or default_policy()
    findings = []
    for rule, severity, source in _plan(policy):
        try:
            for title, scope, frame, evidence in rule.check(conn, policy):  # (usually an empty list)
                findings.append(Finding(rule.id, _capped(severity, scope), title, scope, source, frame, evidence))
        except Exception as exc:  # noqa: BLE001 - one rule's bug must not hide the others' findings
            conn.warnings.append(f"rule {rule.id} failed: {type(exc).__name__}: {exc}"[:300])
    findings.sort(key=lambda f: (-SEVERITIES.index(f.severity), f.id, f.scope))
    return findings


_last_plan: Final[list[Any]] = [None, None, None]  # (policy, rules, plan) asked for last: held, so never another's


def _plan(policy: Policy) -> list[tuple[Rule, str, str]]:
    """(rule, severity, source) of the rules the policy runs, worked out once per policy (a run
    has one policy: the last one's plan is kept, with the policy itself)."""
    rules = all_rules()
    last = _last_plan[:]  # (one copy: another thread may swap it)
    if last[0] is policy and last[1] is rules:
        return last[2]
    plan = [(r, policy.severity(r), policy.source if r.id.startswith("POLICY-") else r.source)
            for r in rules if r.id not in policy.disabled]
    _last_plan[:] = [policy, rules, plan]
    return plan


def rules_table(policy: Policy | None = None) -> list[dict[str, str]]:
    """One row per rule with its severity under `policy` ("off" when the policy disables it)."""
    policy = policy or default_policy()
    return [{"id": r.id, "severity": "off" if r.id in policy.disabled else policy.severity(r),
             "source": policy.source if r.id.startswith("POLICY-") else r.source, "explanation": r.explanation}
            for r in all_rules()]
