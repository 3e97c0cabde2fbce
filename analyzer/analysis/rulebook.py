"""How a policy turns the rules' hits (analyzer/analysis/rules.py) into findings."""

from __future__ import annotations

from functools import cache
from typing import Final

from analyzer.analysis.case import Case
from analyzer.analysis.findings import SEVERITIES, Finding, Hit, Rule, severity_at_least
from analyzer.analysis.policy import Policy
from analyzer.analysis.policy_file import load_profile
from analyzer.analysis.rules import all_rules
from analyzer.analysis.weakness import offers_modern
from analyzer.model import Connection

OFFERED_CAP: Final = "low"  # what a client merely offers (and did not get) weighs less than what was used
MORE_MAX: Final = 20  # further hits of one rule kept in a finding's evidence ("more")


@cache
def default_policy() -> Policy:
    return load_profile("default")


def _offered_severity(rule: Rule, severity: str, conn: Connection, case: Case) -> str:
    """What a client merely offers: `info` for a legacy option beside modern ones, else at most `low`."""
    if rule.legacy and offers_modern(conn, case):
        return "info"
    return OFFERED_CAP if severity_at_least(severity, OFFERED_CAP) else severity


def _finding(rule: Rule, severity: str, source: str, hits: list[Hit], conn: Connection, case: Case) -> Finding:
    """One finding per rule and connection: the first hit speaks, the others follow in `more`."""
    title, scope, frame, evidence = hits[0]
    levels = [_offered_severity(rule, severity, conn, case) if h[1] == "offered" else severity for h in hits]
    worst = max(levels, key=SEVERITIES.index)
    if len(hits) > 1:
        title = f"{title} (and {len(hits) - 1} more)"
        evidence = {**evidence, "more": [{"title": t, "frame": f, "evidence": e} for t, _, f, e in hits[1:MORE_MAX + 1]]}
    return Finding(rule.id, worst, title, scope, source, frame, evidence)


class Judge:
    """A policy made ready to judge connections, once per run: which rules run at which severity
    and source (the plan), and the certificate rules' view of the policy with its CA bundle parsed."""

    __slots__ = ("policy", "plan", "cert")

    def __init__(self, policy: Policy | None = None) -> None:
        self.policy = policy if policy is not None else default_policy()
        self.plan = [(r, self.policy.severity(r), self.policy.source if r.id.startswith("POLICY-") else r.source)
                     for r in all_rules() if r.id not in self.policy.disabled]
        self.cert = self.policy.cert_policy()

    def evaluate(self, conn: Connection, warnings: list[str] | None = None) -> list[Finding]:
        """Every finding on one connection, worst first, at most one per rule. A rule that fails on
        strange input costs a warning (appended to `warnings`), never the analysis."""
        if not conn.tls:
            return []
        case = Case(self.policy, self.cert)
        findings = []
        for rule, severity, source in self.plan:
            try:
                hits = rule.check(conn, case)  # (usually an empty list)
                if hits:
                    findings.append(_finding(rule, severity, source, hits, conn, case))
            except Exception as exc:  # noqa: BLE001 - one rule's bug must not hide the others' findings
                if warnings is not None:
                    warnings.append(f"rule {rule.id} failed: {type(exc).__name__}: {exc}"[:300])
        findings.sort(key=lambda f: (-SEVERITIES.index(f.severity), f.id, f.scope))
        return findings


def evaluate(conn: Connection, policy: Policy | None = None, warnings: list[str] | None = None) -> list[Finding]:
    """`Judge(policy).evaluate(conn)`: for one connection (a run makes its Judge once)."""
    return Judge(policy).evaluate(conn, warnings)


def rules_table(policy: Policy | None = None) -> list[dict[str, str]]:
    """One row per rule with its severity under `policy` ("off" when the policy disables it)."""
    policy = policy or default_policy()
    return [{"id": r.id, "severity": "off" if r.id in policy.disabled else policy.severity(r),
             "source": policy.source if r.id.startswith("POLICY-") else r.source,
             "explanation": r.explanation + (" Only offered, beside modern options: info." if r.legacy else "")}
            for r in all_rules()]
