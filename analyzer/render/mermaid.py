"""The ladder as Mermaid sequence diagrams, for docs and issue reports: a Markdown document with
one fenced ```mermaid block per connection (GitHub, GitLab and mermaid-cli render those; a
bare diagram holds one connection only). Labels are escaped."""

from __future__ import annotations

from analyzer.model import Entry, GapInfo
from analyzer.render import facts
from analyzer.render.sanitize import WIRE_TEXT_MAX, cut, mermaid
from analyzer.report.connection import Report
from analyzer.wording import plural

MAX_FACTS = 4
FACT_MAX = WIRE_TEXT_MAX + 16  # characters of one fact ("SNI " and a wire string, a leaf's subject, ...)


def render_connection(report: Report) -> str:
    conn = report.connection
    c, s = conn.client, conn.server
    lines = [
        "sequenceDiagram",
        f"    participant C as Client {mermaid(c.ip)} port {c.port}",
        f"    participant S as Server {mermaid(s.ip)} port {s.port}",
        f"    Note over C,S: connection {conn.id} {mermaid(', '.join(cut(f, FACT_MAX) for f in facts.header_facts(report)))}",
    ]
    for e in conn.entries:
        if isinstance(e, GapInfo):
            lines.append(f"    Note over C,S: TCP gap, {plural(e.length, 'byte')} from {e.side} lost at frame {e.frame}")
            continue
        arrow = "C->>S" if e.side == "client" else "S->>C"
        frame = e.msg.frame if isinstance(e, Entry) else e.frame
        detail = [cut(f, FACT_MAX) for f in facts.entry_facts(e, report)[:MAX_FACTS]]
        label = f"{facts.entry_label(e)} [frame {frame}]"
        if detail:
            label += " — " + ", ".join(detail)
        lines.append(f"    {arrow}: {mermaid(label)}")
    for note in facts.explanations(report) + facts.footer_notes(report):
        lines.append(f"    Note over C,S: {mermaid(note)}")
    return "\n".join(lines) + "\n"


def fenced(report: Report) -> str:
    """One connection as a fenced ```mermaid block of a Markdown document."""
    return f"```mermaid\n{render_connection(report)}```\n"


def render(reports: list[Report]) -> str:
    if not reports:
        return "no TLS connections found\n"
    return "\n".join(fenced(r) for r in reports)
