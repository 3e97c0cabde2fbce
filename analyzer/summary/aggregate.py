"""Many connections at a glance: the summary, built one connection at a time (sans-IO).

Feed it what `analyze --format json` prints (the connection dicts, and each capture's `capture`
dict) and ask for `result()`: a plain dict, the `tls-analyzer-summary/1` document that every
renderer (table, CSV, JSON, HTML) draws from. No I/O, no clock, no printing here.

Memory follows the distinct values, never the number of connections, and is capped even for
those (a scan, or a million random SNIs): each distribution keeps at most DISTRIBUTION_LIMIT
keys, the per-server and per-client tables at most TABLE_LIMIT entries, each list inside one
entry at most ENTRY_LIMIT values (bounded.py: heavy hitters, exact until the limit). Reaching a
limit makes the counts concerned approximate, and the result says so in `approximate` and in
a warning naming the limit.
"""

from __future__ import annotations

from typing import Any, Final

from analyzer import registry
from analyzer.analysis.findings import SEVERITIES
from analyzer.summary.bounded import BoundedCounter, BoundedTable
from analyzer.summary.facts import (
    HRR_AWAY_FROM_PQ,
    HRR_TO_PQ,
    NEGOTIATED,
    NO_CLIENT_HELLO,
    NOT_OFFERED,
    OFFERED_NOT_NEGOTIATED,
    PQ_STATUSES,
    Conn,
    capped,
    days_left,
    endpoint,
    failure_reason,
    highest_version,
    is_legacy,
    pq_offered_names,
    pq_status,
    server_side,
    version_rank,
)

SCHEMA: Final = "tls-analyzer-summary/1"

DISTRIBUTION_LIMIT: Final = 1000  # distinct keys per distribution (SNI, suites, issuers, failures, ...)
TABLE_LIMIT: Final = 1000  # servers (address, port) and clients (JA4) tracked
ENTRY_LIMIT: Final = 32  # distinct (field, value) pairs of one server or client: its SNIs, versions, suites, ...
LISTED_MAX: Final = 100  # unreadable captures and warnings listed by name (their counts stay whole)
EXPIRING_SOON_DAYS: Final = 30  # as the default policy's CERT-EXPIRING-SOON

# the distributions, in the order they are shown
DISTRIBUTIONS: Final = ("versions", "cipher_suites", "groups", "signature_schemes", "alpn", "sni", "issuers")
_SEVERITY_RANK: Final = {name: rank for rank, name in enumerate(SEVERITIES)}
LEAF_FIELDS: Final = ("subject", "subject_cn", "issuer", "issuer_cn", "not_after", "sha256")  # of a certificate summary
# what the one bounded `values` counter of a server or client holds, as (field, value) -> connections
SNI, VERSION, SUITE, GROUP, LEAF, FINDING, ADDRESS, PQ_GROUP = (
    "snis", "versions", "cipher_suites", "groups", "leaf_certificates", "findings", "addresses", "pq_groups")


class _Server:
    """One server (address, port). Its SNIs, versions, suites, groups, leaf certificates and
    finding ids share one counter of ENTRY_LIMIT (field, value) pairs: the frequent ones (the
    version of every connection) outlive a churn of rare ones (a CDN's thousand SNIs)."""

    __slots__ = ("count", "values", "pq_negotiated", "pq_declined", "leaf", "leaf_ts")

    def __init__(self, key: object) -> None:
        self.count = self.pq_negotiated = self.pq_declined = 0
        self.values: BoundedCounter[tuple[str, str]] = BoundedCounter(ENTRY_LIMIT)
        self.leaf: dict[str, Any] | None = None  # LEAF_FIELDS of the leaf seen latest (by capture time) ...
        self.leaf_ts = float("-inf")  # ... and when: its days left are counted from then


class _Client:
    """One client fingerprint (JA4): its SNIs, addresses and PQ groups offered in one counter."""

    __slots__ = ("count", "values", "highest", "pq_offered")

    def __init__(self, key: object) -> None:
        self.count = self.pq_offered = 0  # pq_offered: connections whose hello offered a PQ group
        self.values: BoundedCounter[tuple[str, str]] = BoundedCounter(ENTRY_LIMIT)
        self.highest: tuple[float, str] | None = None  # highest version offered: (rank, name)


class _Tally:
    __slots__ = ("count", "severity", "example")

    def __init__(self, key: object) -> None:
        self.count = 0
        self.severity = 0  # findings: worst severity seen (rank in SEVERITIES)
        self.example: dict[str, Any] | None = None  # failures: the first connection with it


class Summary:
    """Add captures and connections in any number; `result()` at any time."""

    def __init__(self) -> None:
        self.captures = self.frames = self.capture_warnings = self.skipped_files = 0
        self.unreadable: list[dict[str, str]] = []
        self.unreadable_count = 0
        self.total = self.tls = self.answered = self.complete = 0
        self.dists: dict[str, BoundedCounter[str]] = {name: BoundedCounter(DISTRIBUTION_LIMIT) for name in DISTRIBUTIONS}
        self._dists = tuple(self.dists.values())
        self.failures: BoundedTable[str, _Tally] = BoundedTable(DISTRIBUTION_LIMIT, _Tally)
        self.findings: BoundedTable[str, _Tally] = BoundedTable(DISTRIBUTION_LIMIT, _Tally)
        self.worst = [0] * len(SEVERITIES)  # TLS connections by their worst finding's severity
        self.pq = dict.fromkeys(PQ_STATUSES, 0)
        self.hrr = {HRR_TO_PQ: 0, HRR_AWAY_FROM_PQ: 0}
        self.pq_negotiated: BoundedCounter[str] = BoundedCounter(DISTRIBUTION_LIMIT)
        self.pq_offered: BoundedCounter[str] = BoundedCounter(DISTRIBUTION_LIMIT)
        self.servers: BoundedTable[tuple[Any, Any], _Server] = BoundedTable(TABLE_LIMIT, _Server)
        self.clients: BoundedTable[str, _Client] = BoundedTable(TABLE_LIMIT, _Client)
        self._capture = ""
        self._pq_groups = registry.post_quantum_groups()
        self._highest: dict[tuple[str, ...], tuple[float, str] | None] = {}  # versions offered -> highest (a memo)

    # --- input ------------------------------------------------------------------------------------
    def begin_capture(self, name: str) -> None:
        """The connections that follow come from this capture (named in failure examples)."""
        self._capture = name

    def end_capture(self, capture: dict[str, Any], warnings: list[str]) -> None:
        """A capture read to its end: its `capture` dict (tls-analyzer/1) and its warnings."""
        self.captures += 1
        self.frames += int(capture.get("frames") or 0)
        self.capture_warnings += len(warnings)

    def capture_failed(self, name: str, error: str) -> None:
        """A capture that could not be read (the connections it gave before failing, if any, count)."""
        self.unreadable_count += 1
        if len(self.unreadable) < LISTED_MAX:
            self.unreadable.append({"file": name, "error": error})

    def skipped(self, files: int) -> None:
        """Files in the folders searched that are not captures."""
        self.skipped_files += files

    def add_connection(self, conn: Conn) -> None:
        """One connection dict, exactly as `analyze --format json` prints it. (The hot path: a
        million connections go through here, hence the inlined counter updates.)"""
        self.total += 1
        if not conn.get("tls"):
            return
        self.tls += 1
        get = conn.get
        version = get("version_name") if get("version") is not None else None
        group = get("group_name") if get("group") is not None else None
        sni = get("sni")
        sni = capped(sni) if sni.__class__ is str else None
        alpn = get("alpn")
        scheme, leaf_ts = server_side(conn)
        certs = get("certificates")
        leaf: dict[str, Any] | None = certs[0] if certs else None
        values = (version, get("cipher_suite_name") if version is not None else None, group, scheme,
                  capped(alpn) if alpn.__class__ is str else None, sni, leaf.get("issuer") if leaf else None)
        for counter, value in zip(self._dists, values):
            if value is not None:
                counts = counter.counts
                n = counts.get(value)
                if n is None:
                    counter.add(value)
                else:
                    counts[value] = n + 1
                    counter.total += 1
        if version is not None:
            self.answered += 1
        if get("complete"):
            self.complete += 1
        else:
            tally = self.failures.get(failure_reason(conn))
            tally.count += 1
            if tally.example is None:
                tally.example = {"capture": self._capture, "connection": get("id")}

        pq, hrr = pq_status(conn, self._pq_groups)
        self.pq[pq] += 1
        if hrr is not None:
            self.hrr[hrr] += 1
        if pq == NEGOTIATED and group is not None:
            self.pq_negotiated.add(group)
        offered = pq_offered_names(conn, self._pq_groups) if pq not in (NOT_OFFERED, NO_CLIENT_HELLO) else []
        for name in offered:
            self.pq_offered.add(name)

        worst: dict[str, int] = {}  # finding id -> worst severity on this connection
        for f in get("findings") or ():
            rank = _SEVERITY_RANK.get(f.get("severity"), 0)
            fid = f.get("id")
            if fid.__class__ is str and worst.get(fid, -1) < rank:
                worst[fid] = rank
        if worst:
            self.worst[max(worst.values())] += 1
            tallies = self.findings.records
            for fid, rank in worst.items():
                tally = tallies.get(fid) or self.findings.get(fid)
                tally.count += 1
                if rank > tally.severity:
                    tally.severity = rank

        self._add_server(conn, version, group, sni, pq, leaf, leaf_ts, worst)
        if get("versions_offered"):
            self._add_client(conn, sni, offered)

    def _add_server(self, conn: Conn, version: str | None, group: str | None, sni: str | None, pq: str,
                    leaf: dict[str, Any] | None, leaf_ts: float | None, findings: dict[str, int]) -> None:
        address = conn.get("server") or {}
        key = (address.get("ip"), address.get("port"))
        s = self.servers.records.get(key) or self.servers.get(key)
        s.count += 1
        keys = [(FINDING, fid) for fid in findings]
        if sni is not None:
            keys.append((SNI, sni))
        if version is not None:
            keys.append((VERSION, version))
            keys.append((SUITE, conn.get("cipher_suite_name") or ""))
        if group is not None:
            keys.append((GROUP, group))
        if pq == NEGOTIATED:
            s.pq_negotiated += 1
        elif pq == OFFERED_NOT_NEGOTIATED:
            s.pq_declined += 1
        if leaf is not None:
            sha256 = leaf.get("sha256")
            keys.append((LEAF, str(sha256)))
            at = leaf_ts if leaf_ts is not None else float("-inf")
            if at >= s.leaf_ts:  # the latest leaf tells the server's state (its days left: see result)
                s.leaf_ts = at
                if s.leaf is None or s.leaf["sha256"] != sha256:
                    s.leaf = {key: leaf.get(key) for key in LEAF_FIELDS}
        s.values.add_all(keys)

    def _add_client(self, conn: Conn, sni: str | None, pq_offered: list[str]) -> None:
        key = (conn.get("fingerprints") or {}).get("ja4") or ""
        c = self.clients.records.get(key) or self.clients.get(key)
        c.count += 1
        keys = [(ADDRESS, str((conn.get("client") or {}).get("ip")))]
        if sni is not None:
            keys.append((SNI, sni))
        offered = tuple(conn.get("versions_offered_names") or ())
        try:
            best = self._highest[offered]
        except KeyError:  # a new list of versions offered (clients send few different ones)
            if len(self._highest) >= 256:
                self._highest.clear()
            name = highest_version(list(offered))
            rank = version_rank(name) if name is not None else None
            best = self._highest[offered] = (rank, name) if rank is not None and name is not None else None
        if best is not None and (c.highest is None or best[0] > c.highest[0]):
            c.highest = best
        if pq_offered:
            c.pq_offered += 1
            keys += [(PQ_GROUP, name) for name in pq_offered]
        c.values.add_all(keys)

    # --- output -----------------------------------------------------------------------------------
    def result(self, top: int = 10) -> dict[str, Any]:
        """The `tls-analyzer-summary/1` document. `top` (0: all kept) cuts the long-tailed lists:
        cipher suites, groups, signature schemes, ALPN, SNI, issuers, servers, clients, clients
        offering no PQ group and the certificates expiring soonest."""
        severity_of = {fid: t.severity for fid, t in self.findings.records.items()}
        hit: dict[str, int] = {}  # finding id -> servers
        expired = expiring = legacy_servers = 0
        leaves: dict[tuple[Any, Any], dict[str, Any]] = {}  # server -> its leaf, with the days it had left
        dated: list[tuple[int, str, dict[str, Any]]] = []  # (days left, server, leaf)
        for key, s in self.servers.records.items():
            legacy = False
            for field, value in s.values.counts:
                if field == FINDING:
                    hit[value] = hit.get(value, 0) + 1
                elif field == VERSION:
                    legacy = legacy or is_legacy(value)
            legacy_servers += legacy
            if s.leaf is None:
                continue
            days = days_left(s.leaf["not_after"], s.leaf_ts if s.leaf_ts > float("-inf") else None)
            leaves[key] = {**s.leaf, "days_left": days}
            if days is not None:
                expired += days < 0
                expiring += 0 <= days < EXPIRING_SOON_DAYS
                dated.append((days, _endpoint(key), leaves[key]))
        dated.sort(key=lambda d: (d[0], d[1]))
        versions = self.dists["versions"].counts
        doc: dict[str, Any] = {
            "schema": SCHEMA,
            "captures": {"read": self.captures, "frames": self.frames, "warnings": self.capture_warnings,
                         "skipped_files": self.skipped_files, "unreadable": self.unreadable_count,
                         "unreadable_files": list(self.unreadable)},
            "connections": {"total": self.total, "tls": self.tls, "answered": self.answered,
                            "complete": self.complete, "incomplete": self.tls - self.complete,
                            "worst_finding": {SEVERITIES[rank]: n for rank, n in enumerate(self.worst) if n}},
            "failures": {reason: {"connections": t.count, "example": t.example}
                         for reason, t in self.failures.most_common()},
            "observed": {name: c.total for name, c in self.dists.items()},
            "distinct": {**{name: len(c) for name, c in self.dists.items()},
                         "servers": len(self.servers), "clients": len(self.clients)},
            "deprecated_versions": {"connections": sum(n for v, n in versions.items() if is_legacy(v)),
                                    "servers": legacy_servers},
            "certificates": {"servers_expired": expired, "servers_expiring_soon": expiring,
                             "soon_days": EXPIRING_SOON_DAYS,
                             "soonest": [{"server": server, **leaf} for _, server, leaf in _top(dated, top)]},
            "pq": self._pq_json(top),
            "servers": [_server_json(key, s, leaves.get(key), severity_of) for key, s in self.servers.most_common(top)],
            "clients": [_client_json(key, c) for key, c in self.clients.most_common(top)],
            "findings": {fid: {"severity": SEVERITIES[t.severity], "connections": t.count, "servers": hit.get(fid, 0)}
                         for fid, t in self.findings.most_common()},
        }
        for name, counter in self.dists.items():
            doc[name] = dict(counter.most_common(0 if name == "versions" else top))
        doc["approximate"], doc["warnings"] = self._approximations()
        return doc

    def _pq_json(self, top: int) -> dict[str, Any]:
        accepted = declined = untested = 0
        for s in self.servers.records.values():
            if s.pq_negotiated:
                accepted += 1
            elif s.pq_declined:
                declined += 1
            else:
                untested += 1
        not_offering = [(key, c) for key, c in self.clients.most_common() if not c.pq_offered]
        return {
            **self.pq,
            "hello_retry_request": dict(self.hrr),
            "groups_negotiated": dict(self.pq_negotiated.most_common()),
            "groups_offered": dict(self.pq_offered.most_common()),
            "servers": {"accepted": accepted, "declined": declined, "untested": untested},
            "clients": {"offering": len(self.clients) - len(not_offering), "not_offering": len(not_offering)},
            "clients_not_offering": [{"ja4": key, "connections": c.count, "addresses": _fields(c.values).get(ADDRESS, {})}
                                     for key, c in _top(not_offering, top)],
        }

    def _approximations(self) -> tuple[dict[str, Any], list[str]]:
        """What reached a limit: {name: {limit, error}}, and a warning naming each limit."""
        approximate: dict[str, Any] = {}
        warnings: list[str] = []
        bounded: list[tuple[str, Any, str]] = [(name, c, "DISTRIBUTION_LIMIT") for name, c in self.dists.items()]
        bounded += [("failures", self.failures, "DISTRIBUTION_LIMIT"), ("findings", self.findings, "DISTRIBUTION_LIMIT"),
                    ("pq.groups_negotiated", self.pq_negotiated, "DISTRIBUTION_LIMIT"),
                    ("pq.groups_offered", self.pq_offered, "DISTRIBUTION_LIMIT"),
                    ("servers", self.servers, "TABLE_LIMIT"), ("clients", self.clients, "TABLE_LIMIT")]
        for name, counter, limit_name in bounded:
            if counter.approximate:
                approximate[name] = {"limit": counter.limit, "error": counter.error}
                warnings.append(f"{name}: more than {counter.limit} distinct values ({limit_name}); the most "
                                f"frequent are kept and each of their counts may be over by up to {counter.error}")
        servers = sum(s.values.approximate for s in self.servers.records.values())
        clients = sum(c.values.approximate for c in self.clients.records.values())
        if servers or clients:
            approximate["entries"] = {"limit": ENTRY_LIMIT, "servers": servers, "clients": clients}
            warnings.append(f"{servers} servers and {clients} clients have more than {ENTRY_LIMIT} distinct SNIs, "
                            f"versions, suites, groups, addresses or findings together (ENTRY_LIMIT): the most "
                            f"frequent are kept, with approximate counts")
        if self.unreadable_count > len(self.unreadable):
            warnings.append(f"{self.unreadable_count} captures unreadable; the first {LISTED_MAX} are listed (LISTED_MAX)")
        return approximate, warnings


def _top(items: list, top: int) -> list:  # type: ignore[type-arg]
    return items[:top] if top else items


def _endpoint(key: tuple[Any, Any]) -> str:
    return endpoint({"ip": key[0], "port": key[1]})


def _fields(values: BoundedCounter[tuple[str, str]]) -> dict[str, dict[str, int]]:
    """A record's (field, value) counts as {field: {value: connections}}, most frequent first."""
    out: dict[str, dict[str, int]] = {}
    for (field, value), n in values.most_common():
        out.setdefault(field, {})[value] = n
    return out


def _server_json(key: tuple[Any, Any], s: _Server, leaf: dict[str, Any] | None,
                 severity_of: dict[str, int]) -> dict[str, Any]:
    fields = _fields(s.values)
    findings = fields.get(FINDING, {})
    worst = None
    if findings:  # the most severe; among equals the most frequent, then by id
        fid = min(findings, key=lambda f: (-severity_of.get(f, 0), -findings[f], f))
        worst = {"id": fid, "severity": SEVERITIES[severity_of.get(fid, 0)]}
    return {"server": _endpoint(key), "ip": key[0], "port": key[1], "connections": s.count,
            "snis": fields.get(SNI, {}), "versions": fields.get(VERSION, {}),
            "cipher_suites": fields.get(SUITE, {}), "groups": fields.get(GROUP, {}),
            "pq": "accepted" if s.pq_negotiated else "declined" if s.pq_declined else "untested",
            "pq_connections": s.pq_negotiated, "pq_declined_connections": s.pq_declined,
            "leaf": leaf, "leaf_certificates": len(fields.get(LEAF, {})), "worst_finding": worst,
            "findings": sorted(findings)}


def _client_json(key: str, c: _Client) -> dict[str, Any]:
    fields = _fields(c.values)
    return {"ja4": key, "connections": c.count, "snis": fields.get(SNI, {}), "addresses": fields.get(ADDRESS, {}),
            "highest_version": c.highest[1] if c.highest else None, "pq_offered": c.pq_offered > 0,
            "pq_offered_connections": c.pq_offered, "pq_groups": fields.get(PQ_GROUP, {})}
