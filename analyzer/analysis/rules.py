"""Every rule the analyzer has: protocol, suite, key-exchange, extension and behaviour rules
(weakness.py), certificate rules (certificates.py) and the rules a policy's lists make
(policy_rules.py). How a policy turns their hits into findings is rulebook.py."""

from __future__ import annotations

from functools import cache

from analyzer.analysis.certificates import CERT_RULES
from analyzer.analysis.findings import Rule
from analyzer.analysis.policy_rules import POLICY_RULES
from analyzer.analysis.weakness import RULES


@cache
def all_rules() -> tuple[Rule, ...]:
    return RULES + CERT_RULES + POLICY_RULES


def rule_ids() -> frozenset[str]:
    return frozenset(rule.id for rule in all_rules())
