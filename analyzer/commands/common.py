"""What several commands share: the key log the options name, the GC pause of a batch run,
--fail-on, and what to say when nothing is shown."""

from __future__ import annotations

import contextlib
import gc
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping

from analyzer.analysis.findings import severity_at_least
from analyzer.api import load_keylog
from analyzer.errors import ExitCode
from analyzer.render.sanitize import text
from analyzer.selection import Selection
from analyzer.tls.keylog import KeyLog
from analyzer.wording import keylog_summary, plural


def keylog_from_options(path: str | None, notice: Callable[[str], None] | None = None) -> KeyLog | None:
    """The key log to decrypt with: --keylog FILE, else $SSLKEYLOGFILE (with a notice), else None.
    A browser creates SSLKEYLOGFILE only when it first writes to it: a name that does not exist
    yet is a notice and no decryption, while a --keylog that does not exist is an error."""
    if path is not None:
        return load_keylog(path)
    path = os.environ.get("SSLKEYLOGFILE") or None
    if path is None:
        return None
    say = notice or (lambda _: None)
    if not os.path.exists(path):
        say(f"notice: SSLKEYLOGFILE names {path}, which does not exist (yet): nothing to decrypt with")
        return None
    say(f"notice: decrypting with the key log named by SSLKEYLOGFILE ({path})")
    return load_keylog(path)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic GC while a command runs (its objects hold no cycles, and millions of them would
    make each pass cost as much as the decoding); the previous state afterwards."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def fail_on_code(worst: Iterable[str] | Mapping[str, int], fail_on: str) -> ExitCode:
    """FINDINGS (1) when any connection's worst finding reaches `fail_on`, said on stderr.
    `worst`: each connection's worst severity, or how many connections have each."""
    counts = worst if isinstance(worst, Mapping) else Counter(worst)
    reached = sum(n for severity, n in counts.items() if severity_at_least(severity, fail_on))
    if reached:
        print(f"{plural(reached, 'connection')} with findings at or above {fail_on}", file=sys.stderr)
        return ExitCode.FINDINGS
    return ExitCode.OK


def nothing_to_show(total: int, selection: Selection | None, depth: str = "tls") -> str:
    """What a table or ladder says when it has no row: no connection at all, or none selected."""
    kind = "TCP" if depth == "tcp" else "TLS"
    if total and selection is not None and selection.describe():
        return f"no connection matches {text(selection.describe())} ({plural(total, kind + ' connection')} in the capture)"
    return f"no {kind} connections found"


def print_keylog_usage(keylog: KeyLog | None, explain: bool = False) -> None:
    """After a run with a key log: one stderr line of what it held and what was used; with
    `explain`, each unused client random (a public value; the secrets never)."""
    if keylog is None:
        return
    usage = keylog.usage()
    print(keylog_summary(usage.lines, usage.matched, usage.unused_lines), file=sys.stderr)
    if explain:
        for random in usage.unused_randoms:
            print(f"key log: unused client random {random} (no connection in the capture has it)", file=sys.stderr)


def print_warnings(path: str, warnings: list[str]) -> None:
    for w in warnings:
        print(f"warning: {text(path)}: {w}", file=sys.stderr)
