"""Exit codes and the exceptions that map onto them, in one place.

Library code raises these; only the CLI boundary turns them into exit codes and one-line messages.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FINDINGS = 1  # findings at or above --fail-on, or a regression mismatch
    USAGE = 2  # bad arguments or unreadable input
    BACKEND = 3  # tshark missing, no capture permission
    INTERNAL = 70  # a bug of ours (sysexits EX_SOFTWARE): please report it; --debug shows the traceback
    INTERRUPTED = 130


class AnalyzerError(Exception):
    """Base error: a message and an optional hint, printed as `error: msg (hint)`."""

    exit_code = ExitCode.USAGE

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        text = f"error: {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text.replace("\n", " ")


class InputError(AnalyzerError):
    """A capture that cannot be read at all (missing, a directory, not pcap/pcapng)."""


class UsageError(AnalyzerError):
    """Arguments that make no sense together."""


class BackendUnavailable(AnalyzerError):
    """An external backend (tshark, a capture device) is missing or not permitted."""

    exit_code = ExitCode.BACKEND


class DecodeError(Exception):
    """Malformed bytes inside the sans-IO core; carries where and why.

    Never escapes the core: the connection turns it into a `Malformed` event.
    """

    def __init__(self, reason: str, offset: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.offset = offset
