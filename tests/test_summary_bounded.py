"""The summary's memory follows the distinct values up to its limits, never the connections:
heavy-hitter counters keep their guarantees, and a million hostile connections hold no more
than a hundred thousand."""

from __future__ import annotations

import gc
import random
import sys
import tracemalloc
import types
from collections import Counter
from collections.abc import Iterator

from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.summary.aggregate import DISTRIBUTION_LIMIT, ENTRY_LIMIT, TABLE_LIMIT, Summary
from analyzer.summary.bounded import BoundedCounter


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 60), max_size=400), st.integers(1, 12))
def test_counts_are_exact_until_the_limit_then_bounded_overestimates(stream: list[int], limit: int) -> None:
    counter: BoundedCounter[int] = BoundedCounter(limit)
    for key in stream:
        counter.add(key)
    true = Counter(stream)
    assert counter.total == len(stream)
    assert len(counter) <= 2 * limit
    if len(true) <= 2 * limit:  # never pruned: exact
        assert counter.counts == true and not counter.approximate
    for key, n in counter.counts.items():
        assert true[key] <= n <= true[key] + counter.error
    for key, n in true.items():  # whatever was evicted was never heavier than the error
        if n > counter.error:
            assert key in counter.counts


def test_add_all_is_add_one_by_one() -> None:
    rng = random.Random(7)
    stream = [rng.randrange(50) for _ in range(5000)]
    one, lot = BoundedCounter[int](8), BoundedCounter[int](8)
    for key in stream:
        one.add(key)
    for i in range(0, len(stream), 7):
        lot.add_all(stream[i:i + 7])
    assert one.counts == lot.counts and one.error == lot.error and one.total == lot.total


def test_a_heavy_key_survives_a_flood_of_distinct_ones() -> None:
    counter: BoundedCounter[str] = BoundedCounter(100)
    for i in range(100_000):
        counter.add("popular.example" if i % 10 == 0 else f"{i:x}.random.example")
    top, n = counter.most_common(1)[0]
    assert top == "popular.example" and 10_000 <= n <= 10_000 + counter.error
    assert counter.error < 2_000 and len(counter) <= 200


# --- a million hostile connections ------------------------------------------------------------------
SHAPES = [  # what the summary reads of a connection, in the shape `analyze --format json` prints
    {"tls": True, "version": v, "version_name": vn, "cipher_suite": 4865, "cipher_suite_name": "TLS_AES_128_GCM_SHA256",
     "group": g, "group_name": gn, "groups_offered": [4588, 29, 23], "groups_offered_names": ["X25519MLKEM768", "x25519", "secp256r1"],
     "key_share_groups": [4588, 29], "key_share_group_names": ["X25519MLKEM768", "x25519"], "hello_retry_request": False,
     "hrr_group": None, "versions_offered": [772, 771], "versions_offered_names": ["TLSv1.3", "TLSv1.2"], "alpn": "h2",
     "complete": complete, "alerts": [] if complete else [{"from": "server", "level": 2, "level_name": "fatal",
                                                           "description": 40, "description_name": "handshake_failure"}],
     "certificates": [{"sha256": f"{v:064x}", "subject": "CN=x", "subject_cn": "x", "issuer": "CN=CA", "issuer_cn": "CA",
                       "not_after": "2030-01-01T00:00:00Z"}],
     "messages": [{"from": "client", "ts": 1.7e9, "name": "ClientHello"},
                  {"from": "server", "ts": 1.7e9, "name": "Certificate", "certificates": [{}]},
                  {"from": "server", "ts": 1.7e9, "name": "CertificateVerify", "signature_scheme_name": "rsa_pss_rsae_sha256"}],
     "findings": [{"id": "SUITE-CBC", "severity": "info"}, {"id": "CERT-LONG-LIFETIME", "severity": "low"}]}
    for v, vn, g, gn, complete in ((772, "TLSv1.3", 4588, "X25519MLKEM768", True), (772, "TLSv1.3", 29, "x25519", True),
                                   (771, "TLSv1.2", 23, "secp256r1", False))]


def hostile(n: int, start: int = 0, servers: int = 500, clients: int = 50) -> Iterator[dict]:
    """Every SNI new (a flood of random names); servers and client fingerprints from pools."""
    for i in range(start, start + n):
        c = dict(SHAPES[i % 3])
        c["id"] = i
        c["sni"] = f"{i:x}.example"
        j = i * 7919 % servers  # (a prime stride: every server, in no simple order)
        c["server"] = {"ip": f"10.{j >> 16 & 255}.{j >> 8 & 255}.{j & 255}", "port": 443}
        c["client"] = {"ip": f"192.0.2.{i % 200}", "port": 50000}
        c["fingerprints"] = {"ja4": f"t13d1516h2_{i * 104729 % clients:012x}_02713d6af862"}
        yield c


def retained(root: object) -> int:
    """Bytes of everything `root` holds (types, functions and modules it names are not its own)."""
    seen: set[int] = set()
    stack, total = [root], 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType,
                                               frozenset)):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return total


def test_a_million_connections_with_a_million_snis_hold_no_more_memory_than_a_hundred_thousand() -> None:
    summary, sizes = Summary(), []
    for start in range(0, 1_000_000, 100_000):  # what the summary holds, every 100,000 connections
        for c in hostile(100_000, start=start):
            summary.add_connection(c)
        sizes.append(retained(summary))
    assert summary.total == 1_000_000
    assert max(sizes[5:]) <= max(sizes[:5]) * 1.05, sizes  # (lists fill and get pruned: a sawtooth, no slope)
    assert max(sizes) < 8 << 20, sizes

    doc = summary.result()
    assert doc["connections"]["total"] == 1_000_000 and doc["pq"]["negotiated"] == 333_334  # plain counts: exact
    assert doc["versions"] == {"TLSv1.3": 666_667, "TLSv1.2": 333_333}  # few keys: still exact
    assert doc["approximate"]["sni"] == {"limit": DISTRIBUTION_LIMIT, "error": doc["approximate"]["sni"]["error"]}
    assert any(w.startswith("sni: more than 1000 distinct values (DISTRIBUTION_LIMIT)") for w in doc["warnings"])
    assert len(doc["sni"]) == 10 and doc["distinct"]["sni"] <= 2 * DISTRIBUTION_LIMIT
    assert doc["distinct"]["servers"] == 500 and "servers" not in doc["approximate"]


def test_tracemalloc_peak_is_flat_once_the_lists_are_full() -> None:
    """Everything allocated from the first connection on, traced: the peak after 15,000 hostile
    connections is the peak after 5,000 (the distributions and per-entry lists full by then)."""
    summary, peaks = Summary(), []
    tracemalloc.start()
    try:
        for start in range(0, 15_000, 5_000):
            for c in hostile(5_000, start=start, servers=25, clients=25):
                summary.add_connection(c)
            peaks.append(tracemalloc.get_traced_memory()[1])
    finally:
        tracemalloc.stop()
    assert peaks[-1] <= peaks[0] * 1.1 and peaks[-1] < 4 << 20, peaks


def test_more_servers_and_clients_than_the_tables_hold() -> None:
    """A scan: 20,000 servers and 5,000 client fingerprints; the tables keep the busiest."""
    summary, sizes = Summary(), []
    for start in range(0, 80_000, 20_000):
        for c in hostile(20_000, start=start, servers=20_000, clients=5_000):
            summary.add_connection(c)
        sizes.append(retained(summary))
    assert max(sizes[2:]) <= max(sizes[:2]) * 1.05, sizes
    doc = summary.result(top=0)
    assert len(doc["servers"]) <= 2 * TABLE_LIMIT and len(doc["clients"]) <= 2 * TABLE_LIMIT
    assert doc["approximate"]["servers"]["limit"] == TABLE_LIMIT and doc["approximate"]["clients"]["limit"] == TABLE_LIMIT
    assert any("(TABLE_LIMIT)" in w for w in doc["warnings"])
    assert all(len(s["snis"]) <= 2 * ENTRY_LIMIT for s in doc["servers"])
