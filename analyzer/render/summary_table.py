"""The summary (`tls-analyzer-summary/1`) for people: answers first, then the tables behind them.

It fits WIDTH columns: a table wider than that shortens its widest text columns (cells cut with
an ellipsis; JSON and CSV keep every value whole). Wire strings are sanitised.
"""

from __future__ import annotations

import textwrap
from typing import Any, Final

from analyzer.analysis.findings import SEVERITIES
from analyzer.render.sanitize import text
from analyzer.summary.facts import is_legacy
from analyzer.wording import plural

WIDTH: Final = 100
LABEL: Final = 15  # width of the answers' labels
ELLIPSIS: Final = "\u2026"


def render(doc: dict[str, Any]) -> str:
    parts = [_headline(doc), _answers(doc), _negotiated(doc), _pq(doc), _servers(doc), _certificates(doc),
             _clients(doc), _findings(doc), _failures(doc)]
    return "\n\n".join(p for p in parts if p) + "\n"


# --- helpers ----------------------------------------------------------------------------------------
def share(n: int, total: int) -> str:
    if not total:
        return "-"
    pct = 100 * n / total
    return "<1%" if 0 < pct < 0.5 else f"{pct:.0f}%"


def ranked(counts: dict[str, int]) -> list[tuple[str, int]]:
    """Most frequent first, ties by name (JSON keeps its keys sorted, so order is made here)."""
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def by_connections(items: dict[str, dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """Findings or failures, most connections first, ties by name."""
    return sorted(items.items(), key=lambda kv: (-kv[1]["connections"], kv[0]))


def names(counts: dict[str, int], sep: str = ", ") -> str:
    return sep.join(k for k, _ in ranked(counts))


def inline(counts: dict[str, int], total: int | None = None) -> str:
    """name n (share), ... most frequent first; without a total, no shares."""
    return ", ".join(f"{text(k)} {n}" + (f" ({share(n, total)})" if total is not None else "")
                     for k, n in ranked(counts)) or "-"


def cut(value: str, width: int) -> str:
    return value if len(value) <= width else value[:max(width - 1, 0)] + ELLIPSIS


def table(headers: list[str], rows: list[list[Any]], shrink: list[int], right: tuple[int, ...] = ()) -> str:
    """A plain table (columns two spaces apart, `right` ones right-aligned), its `shrink` columns
    narrowed, widest first, until it fits WIDTH."""
    cells = [[text(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    floor = {i: max(len(headers[i]), 8) for i in shrink}
    while sum(widths) + 2 * (len(widths) - 1) > WIDTH:
        i = max(shrink, key=lambda j: widths[j] - floor[j])
        if widths[i] <= floor[i]:
            break
        widths[i] -= 1

    def line(values: list[str]) -> str:
        return "  ".join(cut(v, w).rjust(w) if i in right else cut(v, w).ljust(w)
                         for i, (v, w) in enumerate(zip(values, widths))).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in cells])


def answer(label: str, sentence: str) -> str:
    return textwrap.fill(sentence, WIDTH, initial_indent=label.ljust(LABEL), subsequent_indent=" " * LABEL)


def title(line: str) -> str:
    return textwrap.fill(line, WIDTH)


def titled(name: str, shown: int, distinct: int, by: str) -> str:
    return f"{name} (top {shown} of {distinct}, by {by})" if shown < distinct else name


# --- sections ---------------------------------------------------------------------------------------
def _headline(doc: dict[str, Any]) -> str:
    cap, c = doc["captures"], doc["connections"]
    line = f"{plural(cap['read'], 'capture')}, {plural(c['tls'], 'TLS connection')}"
    if c["total"] != c["tls"]:
        line += f" (of {c['total']} connections)"
    line += (f" ({c['complete']} complete, {c['incomplete']} not), {plural(doc['distinct']['servers'], 'server')}, "
             f"{plural(doc['distinct']['clients'], 'client fingerprint')}")
    if cap["unreadable"]:
        line += f"; {plural(cap['unreadable'], 'capture')} unreadable"
    if doc["approximate"]:
        line += "; counts approximate past the limits (see warnings)"
    return title(line)


def _answers(doc: dict[str, Any]) -> str:
    c, pq = doc["connections"], doc["pq"]
    hrr = pq["hello_retry_request"]
    sentence = (f"{pq['negotiated']} of {c['answered']} connections with a ServerHello negotiated a post-quantum "
                f"group{_names(pq['groups_negotiated'])}")
    if hrr["to_pq"]:
        sentence += f", {hrr['to_pq']} after a HelloRetryRequest asking for it"
    sentence += f"; {pq['offered_not_negotiated']} offered one and got a classical key exchange"
    if hrr["away_from_pq"]:
        sentence += f" ({hrr['away_from_pq']} after a HelloRetryRequest asking for a classical group)"
    s = pq["servers"]
    sentence += (f"; {pq['not_offered']} offered none. Servers: {s['accepted']} accept PQ, {s['declined']} "
                 f"declined it, {s['untested']} were never offered it.")
    lines = [answer("post-quantum", sentence)]
    old = doc["deprecated_versions"]
    legacy = {k: n for k, n in doc["versions"].items() if is_legacy(k)}  # (never cut by --top)
    lines.append(answer("old versions", f"{plural(old['connections'], 'connection')} to {plural(old['servers'], 'server')} "
                        f"negotiated TLS 1.1 or older{_names(legacy)}." if old["connections"] else
                        "no connection negotiated TLS 1.1 or older."))
    certs, seen = doc["certificates"], doc["observed"]["issuers"]
    if certs["servers_expired"] or certs["servers_expiring_soon"]:
        sentence = (f"at capture time, the leaf certificate had expired on {plural(certs['servers_expired'], 'server')}"
                    f" and would expire within {certs['soon_days']} days on {certs['servers_expiring_soon']}")
    else:
        sentence = f"no leaf certificate had expired or would within {certs['soon_days']} days, at capture time"
    sentence += f"; {seen} of {c['tls']} connections showed one"
    if seen < c["answered"]:
        sentence += " (in TLS 1.3 it is encrypted: give --keylog)"
    lines.append(answer("certificates", sentence + "."))
    worst = c["worst_finding"]
    if worst:
        ids = {sev: [fid for fid, f in by_connections(doc["findings"]) if f["severity"] == sev] for sev in worst}
        by = "; ".join(f"{sev} {worst[sev]}" + (f" ({', '.join(_few(ids[sev], 3))})" if sev in ("critical", "high") else "")
                       for sev in reversed(SEVERITIES) if sev in worst)
        lines.append(answer("findings", f"connections by their worst finding: {by}."))
    if doc["failures"]:
        reasons = ", ".join(f"{text(r)} {f['connections']}" for r, f in by_connections(doc["failures"])[:3])
        more = len(doc["failures"]) - 3
        lines.append(answer("failures", f"{plural(c['incomplete'], 'handshake')} did not complete: {reasons}"
                            + (f" and {plural(more, 'other reason')}." if more > 0 else ".")))
    return "\n".join(lines)


def _few(items: list[str], n: int) -> list[str]:
    return items[:n] + ([f"+{len(items) - n}"] if len(items) > n else [])


def _names(counts: dict[str, int]) -> str:
    return f" ({inline(counts)})" if counts else ""


def _negotiated(doc: dict[str, Any]) -> str:
    obs, distinct = doc["observed"], doc["distinct"]
    lines = ["Negotiated (connections, and their share of those where the value was seen)"]
    for key, label in (("versions", "versions"), ("groups", "groups"), ("signature_schemes", "signatures"),
                       ("alpn", "ALPN")):
        more = distinct[key] - len(doc[key])
        lines.append(answer(f"  {label}", inline(doc[key], obs[key]) + (f", +{more} more" if more > 0 else "")))
    out = ["\n".join(lines)]
    for key, heading, column in (("cipher_suites", "Cipher suites", "cipher suite"), ("sni", "SNI", "SNI"),
                                 ("issuers", "Leaf certificate issuers", "issuer")):
        if doc[key]:
            rows = [[k, n, share(n, obs[key])] for k, n in ranked(doc[key])]
            out.append(titled(heading, len(rows), distinct[key], "connections") + "\n" +
                       table([column, "conns", "share"], rows, [0], (1, 2)))
    return "\n\n".join(out)


def _pq(doc: dict[str, Any]) -> str:
    pq = doc["pq"]
    rows = [["negotiated a PQ group", pq["negotiated"]],
            ["  after a HelloRetryRequest asking for it", pq["hello_retry_request"]["to_pq"]],
            ["offered one, got a classical key exchange", pq["offered_not_negotiated"]],
            ["  after a HelloRetryRequest asking for a classical group", pq["hello_retry_request"]["away_from_pq"]],
            ["offered one, no ServerHello seen", pq["offered_unanswered"]],
            ["offered none", pq["not_offered"]],
            ["no ClientHello seen", pq["no_client_hello"]]]
    out = "Post-quantum inventory\n" + table(["connections", "count"], rows, [0], (1,))
    if pq["groups_offered"]:
        out += "\n" + answer("  offered", "connections offering each PQ group: " + inline(pq["groups_offered"]))
    s, c = pq["servers"], pq["clients"]
    out += ("\n" + answer("  servers", f"{s['accepted']} accept PQ; {s['declined']} declined it (clients offered, "
                          f"they chose classical); {s['untested']} were never offered it")
            + "\n" + answer("  clients", f"{c['offering']} fingerprints offer PQ, {c['not_offering']} offer none"))
    if pq["clients_not_offering"]:
        rows = [[r["ja4"] or "(none)", r["connections"], names(r["addresses"])] for r in pq["clients_not_offering"]]
        out += "\n\n" + titled("Clients offering no PQ group", len(rows), c["not_offering"], "connections") + "\n" + \
            table(["ja4", "conns", "addresses"], rows, [2], (1,))
    return out


def _servers(doc: dict[str, Any]) -> str:
    if not doc["servers"]:
        return ""
    rows = []
    for s in doc["servers"]:
        worst = s["worst_finding"]
        rows.append([s["server"], s["connections"], names(s["snis"]),
                     ",".join(v.removeprefix("TLSv") for v, _ in ranked(s["versions"])), names(s["groups"], ","),
                     {"accepted": "yes", "declined": "no"}.get(s["pq"], "-"),
                     f"{worst['severity']} {worst['id']}" if worst else ""])
    return (title(titled("Servers", len(rows), doc["distinct"]["servers"], "connections") +
                  "; pq: yes accepted, no declined, - never offered") + "\n" +
            table(["server", "conns", "sni", "tls", "group", "pq", "worst finding"], rows, [2, 4, 3, 6], (1,)))


def _certificates(doc: dict[str, Any]) -> str:
    soonest = doc["certificates"]["soonest"]
    if not soonest:
        return ""
    rows = [[leaf["server"], leaf["days_left"], leaf.get("subject_cn") or leaf.get("subject") or "",
             leaf.get("issuer_cn") or leaf.get("issuer") or ""] for leaf in soonest]
    return ("Leaf certificates, soonest expiry first (days left at capture time; negative: expired)\n" +
            table(["server", "days", "subject", "issuer"], rows, [2, 3], (1,)))


def _clients(doc: dict[str, Any]) -> str:
    if not doc["clients"]:
        return ""
    rows = [[c["ja4"] or "(none)", c["connections"], c["highest_version"] or "", "yes" if c["pq_offered"] else "no",
             names(c["snis"]), names(c["addresses"])] for c in doc["clients"]]
    return (title(titled("Clients by JA4", len(rows), doc["distinct"]["clients"], "connections") +
                  "; highest: version offered; pq: a PQ group offered") + "\n" +
            table(["ja4", "conns", "highest", "pq", "sni", "addresses"], rows, [4, 5], (1,)))


def _findings(doc: dict[str, Any]) -> str:
    if not doc["findings"]:
        return ""
    worst_first = sorted(by_connections(doc["findings"]), key=lambda kv: -SEVERITIES.index(kv[1]["severity"]))
    rows = [[fid, f["severity"], f["connections"], f["servers"]] for fid, f in worst_first]
    return "Findings (the worst severity each was given)\n" + \
        table(["finding", "severity", "conns", "servers"], rows, [0], (2, 3))


def _failures(doc: dict[str, Any]) -> str:
    if not doc["failures"]:
        return ""
    rows = [[reason, f["connections"], f"{f['example']['capture']} #{f['example']['connection']}" if f["example"] else ""]
            for reason, f in by_connections(doc["failures"])]
    return "Handshakes that did not complete\n" + table(["reason", "conns", "first seen in"], rows, [0, 2], (1,))
