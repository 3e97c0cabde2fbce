"""Judgement added to a connection's facts: fingerprints now, findings once a policy is given.

Runs once per finished connection (the pipeline calls it), so every output sees the same report.
"""

from __future__ import annotations

from typing import Any

from analyzer.analysis import fingerprints
from analyzer.model import Connection


def enrich(conn: Connection, policy: Any = None) -> Connection:
    if not conn.tls:
        return conn
    transport = "t" if conn.transport == "tcp" else "q"
    for m in conn.client_hellos:
        conn.message_fingerprints[id(m)] = fingerprints.client_fingerprints(m.body, transport)
    for m in conn.server_hellos:
        if not m.body.hello_retry_request:
            conn.message_fingerprints[id(m)] = fingerprints.server_fingerprints(m.body)
    first = {}
    if conn.client_hellos:
        first.update(conn.message_fingerprints[id(conn.client_hellos[0])])
    sh = next((m for m in conn.server_hellos if id(m) in conn.message_fingerprints), None)
    if sh is not None:
        first.update(conn.message_fingerprints[id(sh)])
    conn.fingerprints = first
    return conn
