"""The JSON contract (`tls-analyzer/1`) to table rows: plain dicts keyed by the columns of `columns`.

Pure functions over one connection's JSON object as `analyze --format json` prints it, so the rows
say exactly what the JSON says. Strings from the wire go in unchanged (Parquet is data, not a
terminal); nothing here can carry key material, since the JSON has none unless asked for and
`secrets` is never read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

import orjson

from analyzer import registry
from analyzer.batch.columns import COUNTS

SEVERITY_COLUMNS: Final = {name.removeprefix("findings_"): name for name, _, _ in COUNTS}
CERT_FIELDS: Final = ("sha256", "length", "subject", "subject_cn", "issuer", "issuer_cn", "serial", "san_dns",
                      "san_ip", "san_count", "key_type", "key_bits", "curve", "signature_algorithm",
                      "signature_hash", "ca", "self_signed", "problems", "error")
Identity = dict[str, str]  # the CAPTURE_KEY columns of every row of one capture


def _micros(ts: float) -> int:
    return round(ts * 1_000_000)


def _iso_micros(iso: str | None) -> int | None:
    """Epoch microseconds of an X.509 time as the JSON writes it (2036-11-21T11:35:26Z)."""
    if not iso:
        return None
    try:
        return int(datetime.fromisoformat(iso).timestamp()) * 1_000_000
    except (ValueError, OverflowError):
        return None


def _pq(code: int | None) -> bool:
    info = registry.group(code) if code is not None else None
    return info is not None and info.pq


def connection_row(c: dict[str, Any], ident: Identity, path: str) -> dict[str, Any]:
    """One connection's row. Keys absent from a non-TLS connection's JSON become nulls."""
    findings = c.get("findings") or ()
    counts = dict.fromkeys(SEVERITY_COLUMNS.values(), 0)
    for f in findings:
        counts[SEVERITY_COLUMNS[f["severity"]]] += 1
    times = [m["ts"] for m in c.get("messages") or () if m.get("ts") is not None]
    fp = c.get("fingerprints") or {}
    alerts = c.get("alerts") or ()
    chain = c.get("certificates") or ()
    return {
        **ident, "capture_path": path, "connection_id": c["id"], "transport": c["transport"],
        "client_ip": c["client"]["ip"], "client_port": c["client"]["port"],
        "server_ip": c["server"]["ip"], "server_port": c["server"]["port"], "roles_from": c.get("roles_from"),
        "first_frame": c["first_frame"], "last_frame": c["last_frame"],
        "first_time": _micros(min(times)) if times else None, "last_time": _micros(max(times)) if times else None,
        "packets": c["packets"], "bytes_client": c["bytes"]["client"], "bytes_server": c["bytes"]["server"],
        "end": c.get("end"), "gaps": len(c["gaps"]), "tls": c["tls"],
        "version_code": c.get("version"), "version_name": c.get("version_name"),
        "cipher_suite_code": c.get("cipher_suite"), "cipher_suite_name": c.get("cipher_suite_name"),
        "group_code": c.get("group"), "group_name": c.get("group_name"),
        "group_pq": _pq(c["group"]) if c.get("group") is not None else None,
        "sni": c.get("sni"), "alpn": c.get("alpn"), "alpn_offered": c.get("alpn_offered"),
        "versions_offered_names": c.get("versions_offered_names"), "groups_offered_names": c.get("groups_offered_names"),
        "pq_offered": any(_pq(g) for g in c["groups_offered"]) if c["tls"] else None,
        "ja3": fp.get("ja3"), "ja4": fp.get("ja4"), "ja4_r": fp.get("ja4_r"), "ja3s": fp.get("ja3s"),
        "complete": c.get("complete"), "resumed": c.get("resumed"), "resumption_offered": c.get("resumption_offered"),
        "hello_retry_request": c.get("hello_retry_request"), "early_data_offered": c.get("early_data_offered"),
        "early_data_accepted": c.get("early_data_accepted"), "downgrade_sentinel": c.get("downgrade_sentinel"),
        "fallback_scsv": c.get("fallback_scsv"), "renegotiation": c.get("renegotiation"), "history": c.get("history"),
        "alerts": len(alerts),
        "fatal_alert": next((a.get("description_name") for a in alerts
                             if a.get("level") == 2 and a.get("description_name")), None),
        "server_certificates": len(chain), "leaf_sha256": chain[0]["sha256"] if chain else None,
        "client_certificates": len(c.get("client_certificates") or ()), "warnings": c["warnings"],
        **counts, "worst_severity": findings[0]["severity"] if findings else None,  # the JSON lists worst first
    }


def finding_rows(c: dict[str, Any], ident: Identity) -> list[dict[str, Any]]:
    return [{**ident, "connection_id": c["id"], "rule_id": f["id"], "severity": f["severity"], "title": f["title"],
             "scope": f["scope"], "source": f["source"], "frame": f.get("frame"),
             "evidence": orjson.dumps(f.get("evidence") or {},
                                      option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()}
            for f in c.get("findings") or ()]


def certificate_rows(c: dict[str, Any], ident: Identity) -> list[dict[str, Any]]:
    """One row per certificate of each chain, where it was seen first, then what X.509 says."""
    rows = []
    for side, key in (("server", "certificates"), ("client", "client_certificates")):
        for position, cert in enumerate(c.get(key) or ()):
            row = {**ident, "connection_id": c["id"], "side": side, "position": position,
                   "server_ip": c["server"]["ip"], "server_port": c["server"]["port"], "sni": c.get("sni")}
            row.update((name, cert.get(name)) for name in CERT_FIELDS)
            row["not_before"], row["not_after"] = _iso_micros(cert.get("not_before")), _iso_micros(cert.get("not_after"))
            rows.append(row)
    return rows
