"""How things are said, in one place: plurals, and the warning texts of a connection.

A warning names its cause in plain words, so that "malformed" keeps its meaning: bytes that
break the protocol. A record the capture (or the connection) cut short says where it was cut,
a record that does not decrypt says so, a cap that was reached names the cap.
"""

from __future__ import annotations

from typing import Final

# Malformed.kind -> how a connection's warning puts it (see warning_text)
MALFORMED: Final = "malformed"  # the bytes break the protocol
CUT: Final = "cut"  # the capture, the connection or a TCP gap ended a record or message part-way
UNDECRYPTABLE: Final = "undecryptable"  # keys were given, the record does not decrypt with them
LIMIT: Final = "limit"  # a documented cap was reached; what is past it is skipped

# StreamEnd.reason -> the words for it
_ENDS: Final = {"capture end": "capture ends", "fin": "connection closed (FIN)", "rst": "connection reset (RST)",
                "evicted": "connection evicted"}


def plural(n: int, noun: str, many: str | None = None) -> str:
    """"1 connection", "3 connections", "0 warnings"; `many` for irregular plurals."""
    return f"{n} {noun if n == 1 else many or noun + 's'}"


def not_decoded(counts: dict[str, int]) -> str:
    """' (12 not decoded: 8 unsupported ethertype 0x88e5, 4 truncated IPv4 header)', or '' when none."""
    if not counts:
        return ""
    causes = ", ".join(f"{n} {cause}" for cause, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    return f" ({sum(counts.values())} not decoded: {causes})"


def ends(cause: str) -> str:
    """The words for why a stream stopped: "capture ends", "connection reset (RST)", ..."""
    return _ENDS.get(cause, f"stream ended ({cause})")


def article(n: int) -> str:
    """"a" or "an" before a number read aloud: an 8, an 11, an 18000, a 1400."""
    s = str(n)
    return "an" if s[0] == "8" or (s[:2] in ("11", "18") and len(s) % 3 == 2) else "a"


def cut_short(cause: str, have: int, total: int, what: str = "record") -> str:
    """"capture ends 120 bytes into a 1400-byte record"."""
    return f"{ends(cause)} {have} bytes into {article(total)} {total}-byte {what}"


def warning_text(kind: str, frame: int, side: str, offset: int, reason: str) -> str:
    """One line of a connection's `warnings` for a decode event; `side` is "client" or "server"."""
    if kind == MALFORMED:
        return f"frame {frame}: malformed TLS from {side} at stream offset {offset}: {reason}"
    return f"frame {frame}: {reason} ({side}, stream offset {offset})"


def keylog_summary(lines: int, matched: int, unused: int) -> str:
    """The line a run with a key log ends with: "key log: 5 lines read, 1 session matched, 0 lines unused"."""
    return f"key log: {plural(lines, 'line')} read, {plural(matched, 'session')} matched, " \
           f"{plural(unused, 'line')} unused"
