"""What a rule is and what it yields: the vocabulary every rule module and renderer shares."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

SEVERITIES: Final = ("info", "low", "medium", "high", "critical")

# (title, scope, frame, evidence); scope: "offered" (the client's hello), "negotiated", "behaviour"
Hit = tuple[str, str, "int | None", dict]


@dataclass(slots=True, init=False)
class Finding:
    """Treat as immutable."""

    id: str
    severity: str
    title: str
    scope: str
    source: str
    frame: int | None = None
    evidence: dict[str, Any] = field(default_factory=dict)

    def __init__(self, id: str, severity: str, title: str, scope: str, source: str,  # noqa: A002
                 frame: int | None = None, evidence: dict[str, Any] | None = None) -> None:
        self.id, self.severity, self.title, self.scope, self.source = id, severity, title, scope, source
        self.frame, self.evidence = frame, {} if evidence is None else evidence

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "severity": self.severity, "title": self.title, "scope": self.scope,
                "source": self.source, "frame": self.frame, "evidence": self.evidence}


@dataclass(frozen=True, slots=True)
class Rule:
    """`check(conn, policy)` returns the rule's hits (mostly none, the most telling first); the
    policy carries thresholds and allowed lists. A list rather than a generator: 47 rules run on
    every connection, and an exhausted generator costs a StopIteration each. `legacy`: what the
    rule flags is old but not broken on its face, so merely offering it beside modern options
    (see weakness.offers_modern) is only `info`."""

    id: str
    severity: str  # under the default profile
    source: str
    explanation: str
    check: Callable[[Any, Any], list[Hit]]  # (Connection, analysis.case.Case)
    legacy: bool = False


def severity_at_least(severity: str, threshold: str) -> bool:
    return SEVERITIES.index(severity) >= SEVERITIES.index(threshold)


def max_severity(findings: Iterable[Finding]) -> str | None:
    worst = max((SEVERITIES.index(f.severity) for f in findings), default=None)
    return None if worst is None else SEVERITIES[worst]
