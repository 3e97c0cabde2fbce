"""The one place where `batch` asks the analyzer about a capture.

Everything downstream reads only the public JSON contract: each connection's object exactly as
`analyze --format json` prints it, and the document's `capture` object and `warnings`. When the
library API of issue #22 lands (objects whose `to_json()` is that connection JSON), this function
is the only code to change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True, slots=True)
class Settings:
    """What the analysis of every capture of a batch depends on, shipped to the workers once.

    `keylog` is an analyzer.tls.keylog.KeyLog; `policy` an analyzer.analysis.policy.Policy without
    its CA roots, which travel as DER in `ca_roots_der` (cryptography's certificates do not pickle).
    """

    keylog: Any = None
    policy: Any = None
    ca_roots_der: tuple[bytes, ...] = ()


def analyze_json(path: str, settings: Settings,
                 on_connection: Callable[[dict[str, Any]], None]) -> tuple[dict[str, Any], list[str]]:
    """Analyse one capture: `on_connection(json)` for each connection in id order, as it is released
    (memory holds the connections still open, not the capture). Returns the document's `capture`
    object and its `warnings`. Raises AnalyzerError for a capture that cannot be read at all."""
    from analyzer.api import CaptureAnalysis
    from analyzer.report.capture import capture_json

    keylog = settings.keylog
    if keylog is not None:  # a pcapng's embedded secrets join the key log it is given: not the shared one
        keylog = replace(keylog, secrets=dict(keylog.secrets), rsa=dict(keylog.rsa), sources=list(keylog.sources))
    run = CaptureAnalysis(path, keylog=keylog, policy=_policy(settings))
    for conn in run.rendered(lambda r: r.to_json()):
        on_connection(conn)
    return capture_json(run.info, run.frames_read), run.warnings


_WITH_ROOTS: dict[tuple[bytes, ...], tuple[Any, Any]] = {}  # DER roots -> (policy, it with roots): one entry


def _policy(settings: Settings) -> Any:
    """The policy with its CA roots loaded again, once per worker rather than once per capture."""
    if not settings.ca_roots_der:
        return settings.policy
    found = _WITH_ROOTS.get(settings.ca_roots_der)
    if found is None or found[0] != settings.policy:
        from cryptography import x509

        roots = tuple(x509.load_der_x509_certificate(der) for der in settings.ca_roots_der)
        _WITH_ROOTS.clear()
        found = _WITH_ROOTS[settings.ca_roots_der] = (settings.policy, replace(settings.policy, ca_roots=roots))
    return found[1]
