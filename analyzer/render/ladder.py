"""A Wireshark-like message ladder per connection: one row per message, arrows between columns.

Unicode and colour on a terminal; `ascii=True` (and no colour) when piped, asked for, or NO_COLOR.
Every wire string goes through `sanitize.text`; rows are cut to `width` with an ellipsis.
"""

from __future__ import annotations

from dataclasses import dataclass

from analyzer.model import DataRun, Entry, GapInfo
from analyzer.registry.codes import CT_ALERT, HS_CERTIFICATE
from analyzer.render import facts
from analyzer.render.sanitize import text
from analyzer.report.connection import Report
from analyzer.wording import plural

ARROW_WIDTH = 34
MIN_FACTS = 16  # narrower than this, facts move to a line of their own
MIN_WIDTH = 60  # the narrowest ladder (--width)


@dataclass(frozen=True, slots=True)
class Style:
    ascii: bool = False
    color: bool = False
    width: int = 120

    @property
    def glyphs(self) -> dict[str, str]:
        if self.ascii:
            return {"line": "-", "right": ">", "left": "<", "gap": ".", "sep": " | ", "ell": "...",
                    "both": "<->", "warn": "!"}
        return {"line": "─", "right": "▶", "left": "◀", "gap": "┄", "sep": " · ", "ell": "…",
                "both": "⇄", "warn": "⚠"}

    def paint(self, s: str, code: str) -> str:
        return f"\x1b[{code}m{s}\x1b[0m" if self.color and code else s


CLIENT_COLOUR, SERVER_COLOUR, ALERT_COLOUR, NOTE_COLOUR = "36", "32", "31", "33"
SEVERITY_COLOUR = {"critical": "1;31", "high": "31", "medium": "33", "low": "2", "info": "2"}


def finding_marks(report: Report) -> dict[int, list[str]]:
    """Frame -> ids of the findings (above info) that point at it, worst first, to flag on its rows."""
    marks: dict[int, list[str]] = {}
    for f in report.findings:  # (worst first, as findings are sorted)
        if f.frame is not None and f.severity != "info" and f.id not in marks.get(f.frame, ()):
            marks.setdefault(f.frame, []).append(f.id)
    return marks


def _about_certificates(rule_id: str) -> bool:
    """Certificate findings are marked on the Certificate row, the others on their frame's first row."""
    return rule_id.startswith("CERT-") or rule_id == "POLICY-CERT"


def _finding_lines(report: Report, style: Style) -> list[str]:
    """One line per finding above info (worst first, as they are sorted), then the info ones by id."""
    g, lines = style.glyphs, []
    info = []
    for f in report.findings:
        if f.severity == "info":
            info.append(f.id)
            continue
        where = f" (frame {f.frame})" if f.frame is not None else ""
        line = _fit(f"  {g['warn']} {f.severity:<8} {f.id}: {text(f.title)}{where}", style.width, g["ell"])
        lines.append(style.paint(line, SEVERITY_COLOUR[f.severity]))
    if info:
        lines += [style.paint(line, SEVERITY_COLOUR["info"])
                  for line in _wrap("  info:", [i + "," for i in info[:-1]] + info[-1:], " ", style.width, g["ell"])]
    return lines


def _fit(s: str, room: int, ell: str) -> str:
    if room <= len(ell):
        return ""
    return s if len(s) <= room else s[:room - len(ell)] + ell


def _facts_then_marks(facts_text: str, ids: list[str], warn: str, room: int, ell: str) -> tuple[str, str]:
    """A row's facts, then its finding marks (worst first), in `room` columns. When both do not fit,
    the marks shorten to their first ids and a count ("! SUITE-RC4 +2"), and the facts are cut,
    never below half the room (every finding is listed again under the ladder)."""
    if not ids:
        return _fit(facts_text, room, ell), ""
    marks = [f"{warn} " + ",".join(ids[:k]) + (f" +{len(ids) - k}" if k < len(ids) else "")
             for k in range(len(ids), 0, -1)]
    if not facts_text:
        return "", _fit(marks[0], room, ell)
    if len(facts_text) + 2 + len(marks[0]) <= room:
        return facts_text, marks[0]
    keep = min(len(facts_text), room // 2)
    mark = next((m for m in marks if keep + 2 + len(m) <= room), None)
    if mark is None:
        return _fit(facts_text, keep, ell), _fit(marks[-1], room - keep - 2, ell)
    return _fit(facts_text, room - 2 - len(mark), ell), mark


def _wrap(first: str, parts: list[str], sep: str, width: int, ell: str) -> list[str]:
    """`first` then the parts joined by `sep`, wrapped onto indented lines that fit `width`."""
    lines, line = [], first
    for part in parts:
        if len(line) + len(sep) + len(part) <= width:
            line += sep + part
        else:
            lines.append(line)
            line = _fit("    " + part, width, ell)
    return lines + [line]


def _endpoint(e) -> str:  # noqa: ANN001
    return f"[{e.ip}]:{e.port}" if ":" in e.ip else f"{e.ip}:{e.port}"


def _arrow(label: str, to_server: bool, g: dict[str, str]) -> str:
    label = label[:ARROW_WIDTH - 4]
    fill = g["line"] * (ARROW_WIDTH - len(label) - 2)
    return f"{label} {fill}{g['right']}" if to_server else f"{g['left']}{fill} {label}"


def _frames(e: Entry | DataRun | GapInfo) -> str:
    if isinstance(e, DataRun) and e.last_frame != e.frame:
        return f"{e.frame}-{e.last_frame}"
    return str(e.msg.frame if isinstance(e, Entry) else e.frame)


def _ts(e: Entry | DataRun | GapInfo, start: float) -> str:
    if isinstance(e, GapInfo):
        return ""
    ts = e.msg.ts if isinstance(e, Entry) else e.ts
    return f"{ts - start:.6f}"


def render_connection(report: Report, style: Style) -> str:
    """The ladder of one connection: each row's facts, then the ids of the findings above info
    that point at its frame (listed again at the end, the info ones by id)."""
    g, conn = style.glyphs, report.connection
    marks = finding_marks(report)
    severity = {f.id: f.severity for f in report.findings}
    head = f"#{conn.id}  {_endpoint(conn.client)} {g['both']} {_endpoint(conn.server)}"
    lines = [style.paint(line, "1") for line in _wrap(head, [text(f) for f in facts.header_facts(report)],
                                                       g["sep"], style.width, g["ell"])]
    col = f"{'time':>10}  {'frame':>9}  {'client':<{ARROW_WIDTH // 2}}{'server':>{ARROW_WIDTH - ARROW_WIDTH // 2}}"
    lines.append(_fit(col, style.width, g["ell"]))
    placed: set[tuple[int, str]] = set()
    for e in conn.entries:
        prefix = f"{_ts(e, conn.first_ts):>10}  {_frames(e):>9}  "
        if isinstance(e, GapInfo):
            body = f" TCP gap: {plural(e.length, 'byte')} from {e.side} lost ".center(ARROW_WIDTH, g["gap"]).rstrip()
            row = prefix + style.paint(body, ALERT_COLOUR)
            lines.append(row)
            continue
        to_server = e.side == "client"
        label = facts.entry_label(e, "x" if style.ascii else "×")
        arrow = _arrow(label, to_server, g)
        colour = CLIENT_COLOUR if to_server else SERVER_COLOUR
        if isinstance(e, Entry) and (e.msg.content_type == CT_ALERT or e.msg.malformed):
            colour = ALERT_COLOUR
        elif isinstance(e, Entry) and e.msg.name == "HelloRetryRequest":
            colour = NOTE_COLOUR
        joined = "; ".join(text(f) for f in facts.entry_facts(e, report))
        frame = e.msg.frame if isinstance(e, Entry) else e.frame
        ids: list[str] = []
        if frame in marks:
            cert_row = isinstance(e, Entry) and e.msg.type == HS_CERTIFICATE
            ids = [i for i in marks[frame] if _about_certificates(i) == cert_row and (frame, i) not in placed]
            placed.update((frame, i) for i in ids)
        room = style.width - len(prefix) - ARROW_WIDTH - 2
        if room < MIN_FACTS and (joined or ids):  # a narrow terminal: facts go on a line of their own
            lines.append(prefix + style.paint(arrow, colour))
            prefix, arrow, room = " " * len(prefix), "", style.width - len(prefix) - 2
        tail, mark = _facts_then_marks(joined, ids, g["warn"], room, g["ell"])
        mark_colour = SEVERITY_COLOUR[severity[ids[0]]] if ids else ""
        row = prefix + (style.paint(arrow, colour) if arrow else "")
        if tail:
            row += ("  " if arrow else "") + tail
        if mark:
            row += ("  " if arrow or tail else "") + style.paint(mark, mark_colour)
        lines.append(row)
    for note in facts.explanations(report):  # wrapped, never cut: they are the answer
        lines += [style.paint(line, NOTE_COLOUR) for line in _wrap(f"  {g['warn']}", text(note).split(" "), " ",
                                                                   style.width, g["ell"])]
    for note in facts.footer_notes(report):
        lines.append(style.paint(_fit(f"  {g['warn']} {text(note)}", style.width, g["ell"]), NOTE_COLOUR))
    lines += _finding_lines(report, style)
    return "\n".join(lines) + "\n"


def render(reports: list[Report], style: Style) -> str:
    if not reports:
        return "no TLS connections found\n"
    return "\n".join(render_connection(r, style) for r in reports)
