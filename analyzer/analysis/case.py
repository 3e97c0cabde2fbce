"""One connection under judgement: what several rules ask of it, worked out once.

Rules are pure functions of (connection, case). A case carries the policy they judge by, the
certificate rules' view of it (thresholds, the CA bundle parsed once per run), and a memo for
what several rules need of the same connection (its offered suites' facts, its certificate
chains). It is made per connection and dropped with it: nothing is shared between connections,
runs or threads, so no rule can be handed another connection's answer.
"""

from __future__ import annotations

from typing import Any

from analyzer.analysis.policy import CertPolicy, Policy

DEFAULT_CERT_POLICY = CertPolicy()


class Case:
    __slots__ = ("policy", "cert", "memo")

    def __init__(self, policy: Policy | None = None, cert: CertPolicy | None = None) -> None:
        self.policy = policy if policy is not None else Policy()
        self.cert = cert if cert is not None else DEFAULT_CERT_POLICY
        self.memo: dict[str, Any] = {}  # helper name -> its answer for this connection
