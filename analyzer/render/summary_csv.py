"""The summary (`tls-analyzer-summary/1`) as one CSV table for spreadsheets and pandas.

A summary is several tables (totals, distributions, servers, clients, findings), and CSV has no
sections that readers understand. So it is one "long" table under one header: every row is one
item of one section, `section` says which, and the other columns are filled where they apply
(empty otherwise). Filter on the first column (`grep '^server,'`, `df[df.section == "server"]`)
to get any part; nothing is lost against JSON but the per-entry count maps, given as
`name=count` lists.

Sections, in order: total (`value`: captures read, connections, complete, ...), version, cipher_suite, group,
signature_scheme, alpn, sni, issuer (one row per value: connections and share of the connections
where it was seen), pq (one row per PQ status and HelloRetryRequest outcome), pq_group_offered,
pq_group_negotiated, server, client, finding, failure (`detail`: where it was first seen),
unreadable (a capture that could not be read, `detail`: why), warning.
"""

from __future__ import annotations

import csv
import io
from typing import Any, Final

from analyzer.render.sanitize import csv_cell

COLUMNS: Final = ["section", "key", "value", "connections", "share", "servers", "severity", "snis", "versions",
                  "cipher_suites", "groups", "pq", "leaf_subject", "leaf_issuer", "leaf_not_after", "days_left",
                  "worst_finding", "addresses", "highest_version", "detail"]
_DISTRIBUTIONS: Final = (("versions", "version"), ("cipher_suites", "cipher_suite"), ("groups", "group"),
                         ("signature_schemes", "signature_scheme"), ("alpn", "alpn"), ("sni", "sni"),
                         ("issuers", "issuer"))


def render(doc: dict[str, Any]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, COLUMNS, lineterminator="\n", restval="")
    w.writeheader()
    for row in rows(doc):
        w.writerow({k: csv_cell(v) for k, v in row.items()})
    return buf.getvalue()


def _ranked(d: dict[str, int]) -> list[tuple[str, int]]:
    return sorted(d.items(), key=lambda kv: (-kv[1], kv[0]))


def _counts(d: dict[str, int]) -> str:
    return " ".join(f"{k}={n}" for k, n in _ranked(d))


def rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cap, conns = doc["captures"], doc["connections"]
    for key in ("read", "frames", "skipped_files", "unreadable"):
        out.append({"section": "total", "key": f"captures_{key}", "value": cap[key]})
    for key in ("total", "tls", "answered", "complete", "incomplete"):
        out.append({"section": "total", "key": f"connections_{key}", "value": conns[key]})
    for name, section in _DISTRIBUTIONS:
        seen = doc["observed"][name]
        for key, n in _ranked(doc[name]):
            out.append({"section": section, "key": key, "connections": n, "share": f"{n / seen:.4f}" if seen else ""})
    pq = doc["pq"]
    for key in ("negotiated", "offered_not_negotiated", "offered_unanswered", "not_offered", "no_client_hello"):
        out.append({"section": "pq", "key": key, "connections": pq[key]})
    for key, n in pq["hello_retry_request"].items():
        out.append({"section": "pq", "key": f"hello_retry_request_{key}", "connections": n})
    for key, n in pq["servers"].items():
        out.append({"section": "pq", "key": f"servers_{key}", "servers": n})
    for key, n in _ranked(pq["groups_offered"]):
        out.append({"section": "pq_group_offered", "key": key, "connections": n})
    for key, n in _ranked(pq["groups_negotiated"]):
        out.append({"section": "pq_group_negotiated", "key": key, "connections": n})
    for s in doc["servers"]:
        leaf = s["leaf"] or {}
        worst = s["worst_finding"]
        out.append({"section": "server", "key": s["server"], "connections": s["connections"],
                    "snis": _counts(s["snis"]), "versions": _counts(s["versions"]),
                    "cipher_suites": _counts(s["cipher_suites"]), "groups": _counts(s["groups"]), "pq": s["pq"],
                    "leaf_subject": leaf.get("subject", ""), "leaf_issuer": leaf.get("issuer", ""),
                    "leaf_not_after": leaf.get("not_after", ""), "days_left": leaf.get("days_left", ""),
                    "worst_finding": worst["id"] if worst else "", "severity": worst["severity"] if worst else ""})
    for c in doc["clients"]:
        out.append({"section": "client", "key": c["ja4"], "connections": c["connections"], "snis": _counts(c["snis"]),
                    "addresses": _counts(c["addresses"]), "highest_version": c["highest_version"] or "",
                    "pq": "offered" if c["pq_offered"] else "not_offered", "groups": _counts(c["pq_groups"])})
    for fid, f in doc["findings"].items():
        out.append({"section": "finding", "key": fid, "severity": f["severity"], "connections": f["connections"],
                    "servers": f["servers"]})
    for reason, f in doc["failures"].items():
        ex = f["example"]
        out.append({"section": "failure", "key": reason, "connections": f["connections"],
                    "detail": f"{ex['capture']} #{ex['connection']}" if ex else ""})
    for bad in cap["unreadable_files"]:
        out.append({"section": "unreadable", "key": bad["file"], "detail": bad["error"]})
    for text in doc["warnings"]:
        out.append({"section": "warning", "key": "", "detail": text})
    return out
