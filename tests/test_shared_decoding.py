"""Byte-identical handshake messages decode once (tls/decoders.decode_shared), in a bounded cache
keyed by their bytes and by the context the decoders read; and a long table is printed in blocks
aligned on their own, so memory holds one block, never the capture (issue 20)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import CAPTURES, ROOT
from hello_builders import alpn, groups, key_share, sni, u16s, vec, versions

from analyzer.cache import LruCache
from analyzer.report.messages import body_json
from analyzer.tls.decoders import SHARED_BODY_MAX, decode_reporting, decode_shared
from analyzer.tls.messages import Certificate, ClientHello, Context


def _hello_bytes(host: bytes) -> bytes:
    exts = [sni(host), groups(29, 23), versions(0x0304), alpn(b"h2"), key_share(29)]
    return (b"\x03\x03" + bytes(32) + vec(b"", 1) + vec(u16s([0x1301, 0x1302]), 2) + vec(b"\x00", 1)
            + vec(b"".join(exts), 2))


def test_identical_hellos_share_one_decoding_that_equals_a_fresh_one() -> None:
    cache: LruCache = LruCache(8)
    body = _hello_bytes(b"a.test")
    first, why, key = decode_shared(1, body, Context(), cache)
    again, _, again_key = decode_shared(1, bytes(body), Context(), cache)  # equal bytes, another object
    assert isinstance(first, ClientHello) and why is None and again is first and len(cache) == 1
    assert key == again_key == (1, None, None, False, 64, body)
    fresh, _ = decode_reporting(1, body, Context())
    assert body_json(first) == body_json(fresh)
    other, _, _ = decode_shared(1, _hello_bytes(b"b.test"), Context(), cache)
    assert other is not first and body_json(other)["extensions"][0]["host_name"] == "b.test"


def test_the_context_the_decoders_read_is_part_of_the_key() -> None:
    cache: LruCache = LruCache(8)
    der = bytes(100)
    entry = len(der).to_bytes(3, "big") + der
    tls12 = vec(entry, 3)  # a TLS 1.2 Certificate: a list of certificates
    tls13 = b"\x00" + vec(entry + b"\x00\x00", 3)  # TLS 1.3: a request context, extensions per entry
    old, _, _ = decode_shared(11, tls12, Context(0x0303), cache)
    new, _, _ = decode_shared(11, tls13, Context(0x0304), cache)
    assert isinstance(old, Certificate) and old.request_context is None
    assert isinstance(new, Certificate) and new.request_context == b""
    capped, _, _ = decode_shared(11, tls12, Context(0x0303, max_certificates=1), cache)
    assert capped is not old and len(cache) == 3


def test_the_cache_is_bounded_evicts_and_skips_what_does_not_repeat() -> None:
    cache: LruCache = LruCache(4)
    for i in range(20):
        decode_shared(1, _hello_bytes(f"h{i}.test".encode()), Context(), cache)
    assert len(cache) == 4 and cache.evictions == 16
    decode_shared(16, b"\x00\x20" + bytes(32), Context(), cache)  # a ClientKeyExchange: per connection
    decode_shared(11, vec(SHARED_BODY_MAX.to_bytes(3, "big") + bytes(SHARED_BODY_MAX), 3), Context(), cache)
    assert cache.evictions == 16  # neither was kept


@pytest.fixture(scope="module")
def long_capture(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("table") / "long.pcap"
    subprocess.run([sys.executable, str(ROOT / "bench" / "make_big_capture.py"), str(CAPTURES / "tls13.pcap"),
                    "-o", str(out), "--packets", "40000", "--quiet"], check=True, timeout=120)
    return str(out)


def test_a_long_table_is_printed_in_aligned_blocks(long_capture: str) -> None:
    from analyzer.api import iter_reports
    from analyzer.commands.analyze import TABLE_BLOCK
    from analyzer.render import table

    rows = [table.cells(r) for r in iter_reports(long_capture)]
    assert len(rows) > 2 * TABLE_BLOCK
    blocks = [table.render(rows[k:k + TABLE_BLOCK]) for k in range(0, len(rows), TABLE_BLOCK)]
    printed = subprocess.run([sys.executable, str(ROOT / "cli.py"), "analyze", long_capture], capture_output=True,
                             check=True, timeout=300).stdout.decode()
    assert printed == "\n".join(blocks)
    assert printed.count("\n\n") == len(blocks) - 1
