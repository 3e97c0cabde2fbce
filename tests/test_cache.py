"""Caches are keyed by content and bounded: the LRU helper evicts one entry at a time, and the
fingerprint cache gives each ClientHello its own JA3/JA4 even when the extension objects of
earlier hellos are gone and their addresses are reused (issue 16, item 1)."""

from __future__ import annotations

import threading

import pytest

from analyzer.report import build as enrich
from analyzer.analysis.fingerprints import client_fingerprints, client_key
from analyzer.cache import LruCache
from analyzer.tls import extensions

from hello_builders import alpn, client_hello, ext, groups, server_hello, sig_algs, sni, versions


def test_lru_evicts_the_least_recently_used_one_at_a_time() -> None:
    cache: LruCache[str] = LruCache(3)
    for k in "abc":
        cache.put(k, k.upper())
    assert cache.get("a") == "A"  # a is now the most recent: b goes first
    cache.put("d", "D")
    assert "b" not in cache and [k in cache for k in "acd"] == [True, True, True]
    assert len(cache) == 3 and cache.evictions == 1
    cache.put("e", "E")
    assert "c" not in cache and cache.get("a") == "A" and cache.evictions == 2
    assert cache.get_or_make("f", lambda: "F") == "F" and len(cache) == 3
    assert cache.get_or_make("f", lambda: pytest.fail("made twice")) == "F"


def test_lru_refuses_a_size_that_holds_nothing() -> None:
    with pytest.raises(ValueError):
        LruCache(0)


def test_lru_stays_bounded_under_threads() -> None:
    cache: LruCache[int] = LruCache(50)

    def work(base: int) -> None:
        for i in range(2000):
            cache.get_or_make((base, i % 120), lambda i=i: i)

    threads = [threading.Thread(target=work, args=(b,)) for b in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cache) <= 50


CLIENTS = [b"h2", b"http/1.1", b"h3", b"spdy/3", b"xmpp", b"imap", b"pop3", b"acme-tls/1"]


def _hello(i: int):  # noqa: ANN202
    """Client i % 8: the same suites as the others and its own ALPN (its one interned extension)."""
    return client_hello([0x1301, 0x1302, 0xC02B, 0xC02F], [alpn(CLIENTS[i % len(CLIENTS)])])


INTERN_CAP = 16  # the intern table's cap (extensions.INTERN_MAX), scaled down so it fills every 16 hellos


@pytest.mark.parametrize("cache_size", [None, 5])
def test_each_hello_gets_its_own_fingerprint_while_interned_extensions_churn(monkeypatch, cache_size) -> None:
    """The issue's scenario scaled down: hellos from 8 clients differing only in ALPN, while
    distinct ServerHellos fill the intern table, which is emptied when full: the freed ALPN
    extensions' addresses are reused by the next hellos' ones. Every hello must get the JA3/JA4
    of its own ALPN (with `id()` keys, 44,661 of 100,000 did not; here about 7 in 10). With a
    fingerprint cache smaller than the number of clients, entries are evicted all along too."""
    interned: dict = {}
    monkeypatch.setattr(extensions, "_INTERNED", interned)
    cache = enrich._CLIENT_CACHE if cache_size is None else LruCache(cache_size)  # the module's own, or a small one
    cache.clear()
    evicted = cache.evictions
    truth = [client_fingerprints(_hello(c), "t") for c in range(len(CLIENTS))]
    assert len({fp["ja4"] for fp in truth}) == len(CLIENTS)
    wrong, hellos = 0, 10_000
    for i in range(hellos):
        server_hello(0x1301, [ext(0xFF77, i.to_bytes(4, "big"))])  # a distinct extension, interned
        if len(interned) >= INTERN_CAP:
            interned.clear()
        fp = enrich.cached_client_fingerprints(cache, _hello(i), "t") if cache_size is None else \
            enrich.cached_client_fingerprints(cache, _hello(i), "t")
        expected = truth[i % len(CLIENTS)]
        wrong += fp["ja4"] != expected["ja4"] or fp["ja3"] != expected["ja3"]
    assert wrong == 0, f"{wrong} of {hellos} hellos got another client's fingerprint"
    if cache_size is None:  # content keys: one entry per client, however often re-decoded
        assert len(cache) == len(CLIENTS) and cache.evictions == evicted
    else:
        assert len(cache) == cache_size and cache.evictions > hellos // 2


def test_fingerprint_cache_is_bounded_and_evicts() -> None:
    cache: LruCache[dict[str, str]] = LruCache(16)
    for i in range(100):  # 100 distinct clients (suite lists) through a cache of 16
        ch = client_hello([0x1301, 0x0100 + i], [sni(b"a.test"), versions(0x0304)])
        assert enrich.cached_client_fingerprints(cache, ch, "t") == client_fingerprints(ch, "t")
    assert len(cache) == 16 and cache.evictions == 84
    assert enrich._CLIENT_CACHE.maxsize == enrich.CACHE_MAX  # the module's own is bounded the same way


def test_client_key_tells_apart_every_field_the_fingerprints_read() -> None:
    base = [0x1301, 0xC02B]
    variants = [
        client_hello(base, [sni(), groups(29), sig_algs(0x0403), alpn(b"h2"), versions(0x0304)]),
        client_hello(base, [groups(29), sig_algs(0x0403), alpn(b"h2"), versions(0x0304)]),  # no SNI
        client_hello(base, [sni(), groups(23), sig_algs(0x0403), alpn(b"h2"), versions(0x0304)]),
        client_hello(base, [sni(), groups(29), sig_algs(0x0804), alpn(b"h2"), versions(0x0304)]),
        client_hello(base, [sni(), groups(29), sig_algs(0x0403), alpn(b"h3"), versions(0x0304)]),
        client_hello(base, [sni(), groups(29), sig_algs(0x0403), alpn(b"h2"), versions(0x0303)]),
        client_hello(base, [sni(), groups(29), sig_algs(0x0403), alpn(b"h2"), versions(0x0304)], version=0x0301),
        client_hello(base[::-1], [sni(), groups(29), sig_algs(0x0403), alpn(b"h2"), versions(0x0304)]),
    ]
    keys = [client_key(ch, "t") for ch in variants]
    fps = [client_fingerprints(ch, "t") for ch in variants]
    assert len(set(keys)) == len(variants)
    assert len({(fp["ja3"], fp["ja4_ro"]) for fp in fps}) == len(variants)
    assert client_key(variants[0], "t") != client_key(variants[0], "q")
    # another SNI, same fingerprint: one cache entry serves both
    other_host = client_hello(base, [sni(b"other.test"), groups(29), sig_algs(0x0403), alpn(b"h2"), versions(0x0304)])
    assert client_key(other_host, "t") == keys[0]


def test_get_or_make_caches_none_too() -> None:
    cache: LruCache[int | None] = LruCache(2)
    calls = []
    assert cache.get_or_make("k", lambda: calls.append(1)) is None
    assert cache.get_or_make("k", lambda: calls.append(1)) is None and calls == [1]


def test_ca_bundles_are_parsed_once_a_run_and_never_told_apart_by_address() -> None:
    """A run's Judge parses its CA bundle once; each run's bundle is its own (no cache keyed on a
    bundle's address, which a freed tuple gives to the next one)."""
    from dataclasses import replace

    from pki import Pki

    from analyzer.analysis.policy import Policy
    from analyzer.analysis.rulebook import Judge

    a, b = Pki("A"), Pki("B")
    first = Judge(replace(Policy(), ca_roots=(a.root,))).cert.roots
    assert first is not None and len(first.digests) == 1
    for _ in range(50):  # fresh tuples: addresses of freed ones come back
        other = Judge(replace(Policy(), ca_roots=tuple([b.root]))).cert.roots
        assert other is not None and other.digests != first.digests
        assert Judge(replace(Policy(), ca_roots=tuple([a.root]))).cert.roots.digests == first.digests
