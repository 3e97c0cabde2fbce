"""Every rule, and how a policy turns their hits into findings."""

from __future__ import annotations

from typing import Any, Final

from functools import cache

from analyzer.analysis.findings import SEVERITIES, Finding, Hit, Rule, severity_at_least
from analyzer.analysis.policy import Policy, load_profile
from analyzer.analysis.weakness import offers_modern
from analyzer.model import Connection

OFFERED_CAP: Final = "low"  # what a client merely offers (and did not get) weighs less than what was used
MORE_MAX: Final = 20  # further hits of one rule kept in a finding's evidence ("more")


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


def _offered_severity(rule: Rule, severity: str, conn: Connection) -> str:
    """What a client merely offers: `info` for a legacy option beside modern ones, else at most `low`."""
    if rule.legacy and offers_modern(conn):
        return "info"
    return OFFERED_CAP if severity_at_least(severity, OFFERED_CAP) else severity


def _finding(rule: Rule, severity: str, source: str, hits: list[Hit], conn: Connection) -> Finding:
    """One finding per rule and connection: the first hit speaks, the others follow in `more`."""
    title, scope, frame, evidence = hits[0]
    levels = [_offered_severity(rule, severity, conn) if h[1] == "offered" else severity for h in hits]
    worst = max(levels, key=SEVERITIES.index)
    if len(hits) > 1:
        title = f"{title} (and {len(hits) - 1} more)"
        evidence = {**evidence, "more": [{"title": t, "frame": f, "evidence": e} for t, _, f, e in hits[1:MORE_MAX + 1]]}
    return Finding(rule.id, worst, title, scope, source, frame, evidence)


def evaluate(conn: Connection, policy: Policy | None = None, warnings: list[str] | None = None) -> list[Finding]:
    """Every finding on one connection under `policy` (the default profile if None), worst first,
    at most one per rule. A rule that fails on strange input costs a warning (appended to
    `warnings`), never the analysis."""
    if not conn.tls:
        return []
    policy = policy or default_policy()
    findings = []
    for rule, severity, source in _plan(policy):
        try:
            hits = rule.check(conn, policy)  # (usually an empty list)
            if hits:
                findings.append(_finding(rule, severity, source, hits, conn))
        except Exception as exc:  # noqa: BLE001 - one rule's bug must not hide the others' findings
            if warnings is not None:
                warnings.append(f"rule {rule.id} failed: {type(exc).__name__}: {exc}"[:300])
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
             "source": policy.source if r.id.startswith("POLICY-") else r.source,
             "explanation": r.explanation + (" Only offered, beside modern options: info." if r.legacy else "")}
            for r in all_rules()]
