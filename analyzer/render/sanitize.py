"""Make wire strings safe for terminals, CSV and Mermaid. JSON never goes through here.

SNI, ALPN and certificate names are attacker-controlled: terminal escapes, CR/LF, bidi
overrides and NULs are shown as visible escapes; CSV cells that a spreadsheet would run as a
formula are neutralised.
"""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls, and the Unicode format characters that reorder or hide text
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def _escape(m: re.Match[str]) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def text(value: object) -> str:
    """A value as one line of inert text: every control or bidi character becomes an escape."""
    s = "" if value is None else str(value)
    return _UNSAFE.sub(_escape, s)


WIRE_TEXT_MAX = 64  # characters of a wire string (SNI, ALPN, names) a text view shows before "..."


def cut(value: object, width: int = WIRE_TEXT_MAX, ell: str = "...") -> str:
    """`text(value)` cut to `width` characters with an ellipsis: a 65 KB SNI must not widen a
    table column to 65 KB (JSON and CSV keep the whole string)."""
    s = "" if value is None else str(value)
    shown = text(s[:width + 1])  # escapes only lengthen it: no need to look further
    return shown if len(shown) <= width and len(s) <= width else shown[:width - len(ell)] + ell


def csv_cell(value: object) -> str:
    """Text for a CSV cell: escaped, and prefixed with ' when a spreadsheet would evaluate it."""
    s = text(value)
    if s.startswith(_FORMULA_START):
        s = "'" + s
    return s


_MERMAID = {"#": "#35;", ";": "#59;", "<": "#60;", ">": "#62;", '"': "#quot;", ":": "#58;",
            "%": "#37;", "{": "#123;", "}": "#125;", "`": "#96;", "|": "#124;", "\\": "#92;"}
_MERMAID_RE = re.compile("[" + re.escape("".join(_MERMAID)) + "]")


def mermaid(value: object) -> str:
    """Text for a Mermaid label: escaped, then Mermaid's syntax characters as entity codes."""
    return _MERMAID_RE.sub(lambda m: _MERMAID[m.group()], text(value))
