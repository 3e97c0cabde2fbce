"""The QUIC core against Wireshark: the corpus's tshark oracles (plain and decrypted) and tshark run
live on the QUIC fixtures of captures/ (plain and with their key logs). Message by message: frame,
handshake type, suites, extension types, SNI, ALPN, supported_versions, key_share groups.

The figures (run with -s to see them):
    TLS_ANALYZER_PURE=1 python3 -m pytest -q -s tests/test_quic_oracle.py
"""

from __future__ import annotations

from pathlib import Path

import pytest

from analyzer.quic.connection import QuicConnection
from analyzer.quic.events import EncryptedRun, Malformed
from analyzer.quic.packet import looks_like_quic

from conftest import CAPTURES
from udp_oracle import (Agreement, captures_with, compare, manifest_keylogs, messages_by_key, oracle_rows, run_core,
                        tshark_handshakes)

# (capture relative to the corpus, frame, handshake type) -> why we differ from tshark. None today:
# every QUIC handshake message tshark shows in the corpus, we show alike.
KNOWN: dict[tuple[str, int, int], str] = {}
QUIC_CAPTURES = CAPTURES
FIXTURES = sorted(p.name for p in QUIC_CAPTURES.glob("quic-*.pcap"))
# After a Retry or a Version Negotiation aioquic sends a new ClientHello (new random); tshark 4.0 keeps
# the first hello of the connection (it reports the new one as a "reused stream offset") and so
# finds no key-log secrets for the second. We read the new hello, and the handshake with its keys.
NEW_HELLO = {"quic-retry.pcap": 3, "quic-version-negotiation.pcap": 3}
CONNECTIONS = {"quic-0rtt.pcap": 2}  # a full handshake, then a resumption with 0-RTT


def _corpus(corpus: Path, decrypted: bool) -> Agreement:
    keylogs = manifest_keylogs(corpus)
    result = Agreement()
    for capture, oracle in captures_with(corpus, "quic", decrypted):
        rel = str(capture.relative_to(corpus))
        flows = run_core(capture, QuicConnection, looks_like_quic, keylogs.get(rel), use_keys=decrypted)
        compare(oracle_rows(oracle, "quic"), messages_by_key(flows), rel, KNOWN, result)
    return result


@pytest.mark.parametrize("decrypted", [False, True], ids=["plain", "decrypted"])
def test_corpus_quic_agrees_with_tshark(corpus: Path, decrypted: bool) -> None:
    result = _corpus(corpus, decrypted)
    print("\n" + result.figure("QUIC " + ("decrypted" if decrypted else "plain")))
    assert not result.problems, f"{len(result.problems)} disagreements:\n" + "\n".join(result.problems[:30])
    assert result.excused_seen == {k for k in KNOWN}, "known exceptions that no longer occur"
    assert result.agree + result.excused == result.total and result.total >= (16 if decrypted else 177)


@pytest.mark.parametrize("name", FIXTURES)
@pytest.mark.parametrize("keyed", [False, True], ids=["plain", "keylog"])
def test_fixture_agrees_with_live_tshark(tshark: str, name: str, keyed: bool) -> None:
    capture = QUIC_CAPTURES / name
    keylog = CAPTURES / "keys" / (Path(name).stem + ".keys")
    use = keyed and keylog.exists()
    flows = run_core(capture, QuicConnection, looks_like_quic, keylog, use_keys=use)
    assert len(flows) == CONNECTIONS.get(name, 1) and all(f.core.confirmed for f in flows)
    assert not [e for f in flows for e in f.events if isinstance(e, Malformed)]
    ours = messages_by_key(flows)
    if use:
        assert {t for (_, t) in ours} >= {1, 2, 8, 11, 15, 20}, "the whole handshake decrypts with the key log"
    if name == "quic-0rtt.pcap":
        runs = [e for e in flows[1].events if isinstance(e, EncryptedRun) and e.packet_type == "0-RTT"]
        assert runs and all(r.decrypted == (r.packets if use else 0) for r in runs)
        if use:
            assert [m.frame for (_, t), ms in ours.items() if t == 4 for m in ms], "NewSessionTicket in 1-RTT"
    if name in NEW_HELLO:
        second = NEW_HELLO[name]
        assert [m.name for m in ours.pop((second, 1))] == ["ClientHello"]
        if use:
            return  # tshark cannot decrypt these (see NEW_HELLO); the line above checked what we read
    result = Agreement()
    rows = tshark_handshakes(tshark, capture, keylog if use else None, hello_fields=not use)
    compare(rows, ours, name, {}, result)
    assert not result.problems, "\n".join(result.problems)
    leftover = {k: v for k, v in ours.items() if v}
    assert not leftover, f"messages tshark does not show: {sorted(leftover)}"
    assert result.total == len(rows) > 0


def test_bench_capture_replicas_are_distinct_connections(tmp_path: Path) -> None:
    """bench/make_quic_capture.py: every replica a connection of its own (fresh connection ids,
    Initials re-protected with their keys), its hellos read as in the seed."""
    import subprocess
    import sys

    out = tmp_path / "quic.pcap"
    bench = Path(__file__).resolve().parent.parent / "bench" / "make_quic_capture.py"
    done = subprocess.run([sys.executable, str(bench), "-o", str(out), "--packets", "400", "--concurrent", "5"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    flows = run_core(out, QuicConnection, looks_like_quic)
    assert len(flows) >= 20 and all(f.core.confirmed for f in flows)
    cids = [cid for f in flows for cid in f.core.connection_ids]
    assert len(cids) == len(set(cids)), "replicas share connection ids"
    for f in flows:
        names = [m.name for ms in messages_by_key([f]).values() for m in ms]
        assert names.count("ServerHello") == 1 and "ClientHello" in names
        assert not [e for e in f.events if isinstance(e, Malformed)]
