"""`batch` on one machine: the tables against `analyze --format json`, resume, errors, the schema.

The cluster cases (a real `dask scheduler` and workers, a worker killed mid-run) are in
test_batch_cluster.py.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

pytest.importorskip("distributed", reason="the batch extra is not installed (pip install '.[batch]')")

from analyzer.api import load_keylog
from analyzer.batch import columns, progress  # noqa: E402
from analyzer.errors import ExitCode  # noqa: E402

from batch_helpers import analyze_documents, batch, fixture_captures, part_files, rows  # noqa: E402
from conftest import CAPTURES, ROOT, assert_no_secret  # noqa: E402

# The contract: names and Arrow types. A change here is a change users' queries see.
EXPECTED_COLUMNS = {
    "connections": "capture:string capture_sha256:string capture_path:string connection_id:int64 transport:string "
                   "client_ip:string client_port:int32 server_ip:string server_port:int32 roles_from:string "
                   "first_frame:int64 last_frame:int64 first_time:timestamp[us,tz=UTC] last_time:timestamp[us,tz=UTC] "
                   "packets:int64 bytes_client:int64 bytes_server:int64 end:string gaps:int32 tls:bool "
                   "version_code:int32 version_name:string cipher_suite_code:int32 cipher_suite_name:string "
                   "group_code:int32 group_name:string group_pq:bool sni:string alpn:string alpn_offered:list<string> "
                   "versions_offered_names:list<string> groups_offered_names:list<string> pq_offered:bool ja3:string "
                   "ja4:string ja4_r:string ja3s:string complete:bool resumed:string "
                   "resumption_offered:list<string> hello_retry_request:bool early_data_offered:bool "
                   "early_data_accepted:bool downgrade_sentinel:string fallback_scsv:bool renegotiation:bool "
                   "history:string alerts:int32 fatal_alert:string server_certificates:int32 leaf_sha256:string "
                   "client_certificates:int32 warnings:list<string> findings_info:int32 findings_low:int32 "
                   "findings_medium:int32 findings_high:int32 findings_critical:int32 worst_severity:string",
    "findings": "capture:string capture_sha256:string connection_id:int64 rule_id:string severity:string "
                "title:string scope:string source:string frame:int64 evidence:string",
    "certificates": "capture:string capture_sha256:string connection_id:int64 side:string position:int32 "
                    "server_ip:string server_port:int32 sni:string sha256:string length:int32 subject:string "
                    "subject_cn:string issuer:string issuer_cn:string serial:string san_dns:list<string> "
                    "san_ip:list<string> san_count:int32 not_before:timestamp[us,tz=UTC] "
                    "not_after:timestamp[us,tz=UTC] key_type:string key_bits:int32 curve:string "
                    "signature_algorithm:string signature_hash:string ca:bool self_signed:bool "
                    "problems:list<string> error:string",
    "captures": "capture:string capture_sha256:string capture_path:string file_size:int64 "
                "file_mtime:timestamp[ns,tz=UTC] format:string compressed:bool truncated:bool frames:int64 "
                "connections:int64 warnings:list<string> analyzer_version:string",
    "errors": "capture:string capture_sha256:string capture_path:string kind:string error:string",
}


def _columns(schema) -> str:  # noqa: ANN001
    """`name:type ...` (a list's item field is named item in memory and element in Parquet: not shown)."""
    def kind(t) -> str:  # noqa: ANN001
        return f"list<{kind(t.value_type)}>" if hasattr(t, "value_type") else str(t).replace(" ", "")
    return " ".join(f"{f.name}:{kind(f.type)}" for f in schema)


@pytest.fixture(scope="module")
def fixtures_batch(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    """captures/ and one file that is no capture, through the default local pool (two processes)."""
    folder = tmp_path_factory.mktemp("batch")
    (folder / "notes.pcap").write_text("not a capture\n")
    out = folder / "ds"
    p = batch(str(CAPTURES), str(folder / "notes.pcap"), "--out", str(out), "--workers", "2")
    assert p.returncode == ExitCode.USAGE, p.stderr
    return out, p


@pytest.fixture(scope="module")
def documents() -> dict[str, dict]:
    return analyze_documents(fixture_captures())


def test_schema_is_the_documented_contract(fixtures_batch) -> None:
    import pyarrow.parquet as pq

    out, _ = fixtures_batch
    for table, expected in EXPECTED_COLUMNS.items():
        assert _columns(columns.arrow_schema(table)) == expected, table
        for f in sorted((out / table).glob("*.parquet"))[:5]:  # what is on disk is that schema too
            assert _columns(pq.read_schema(f)) == expected, (table, f)
    readme = (ROOT / "README.md").read_text()
    assert columns.markdown() in readme, "README's column tables differ: paste `python3 -m analyzer.batch.columns`"


def test_rows_agree_with_analyze_json(fixtures_batch, documents) -> None:
    out, p = fixtures_batch
    conns = {(r["capture_path"], r["connection_id"]): r for r in rows(out, "connections")}
    findings = Counter((r["capture_path"], r["connection_id"], r["rule_id"]) for r in _with_path(out, "findings"))
    certs = {(r["capture_path"], r["connection_id"], r["side"], r["position"]): r
             for r in _with_path(out, "certificates")}
    captures = {r["capture_path"]: r for r in rows(out, "captures")}
    assert sorted(captures) == sorted(documents)
    assert [(e["capture"], e["kind"]) for e in rows(out, "errors")] == [("notes.pcap", "input")]

    expected_conns = expected_certs = 0
    for path, doc in documents.items():
        cap = captures[path]
        assert (cap["frames"], cap["format"], cap["truncated"]) == (doc["capture"]["frames"], doc["capture"]["format"],
                                                                      doc["capture"]["truncated"])
        assert cap["connections"] == len(doc["connections"]) and cap["warnings"] == doc["warnings"]
        for c in doc["connections"]:
            expected_conns += 1
            row = conns[(path, c["id"])]
            assert (row["client_ip"], row["client_port"], row["server_ip"], row["server_port"]) == (
                c["client"]["ip"], c["client"]["port"], c["server"]["ip"], c["server"]["port"])
            assert row["tls"] == c["tls"] and row["packets"] == c["packets"] and row["warnings"] == c["warnings"]
            if not c["tls"]:
                assert row["version_name"] is None and row["first_time"] is None
                continue
            fp = c["fingerprints"]
            assert (row["version_code"], row["version_name"], row["cipher_suite_name"], row["group_name"], row["sni"],
                    row["alpn"], row["complete"], row["resumed"], row["hello_retry_request"], row["history"]) == (
                c["version"], c.get("version_name"), c.get("cipher_suite_name"), c.get("group_name"), c["sni"],
                c["alpn"], c["complete"], c["resumed"], c["hello_retry_request"], c["history"])
            assert (row["ja3"], row["ja4"], row["ja3s"]) == (fp.get("ja3"), fp.get("ja4"), fp.get("ja3s"))
            ts = [m["ts"] for m in c["messages"]]
            assert row["first_time"].timestamp() == pytest.approx(min(ts), abs=1e-6)
            assert row["last_time"].timestamp() == pytest.approx(max(ts), abs=1e-6)
            assert sum(row[f"findings_{s}"] for s in ("info", "low", "medium", "high", "critical")) == len(c["findings"])
            assert Counter(f["id"] for f in c["findings"]) == Counter(
                {rule: n for (p, i, rule), n in findings.items() if (p, i) == (path, c["id"])})
            for side, key in (("server", "certificates"), ("client", "client_certificates")):
                for position, cert in enumerate(c[key]):
                    expected_certs += 1
                    got = certs[(path, c["id"], side, position)]
                    assert (got["sha256"], got["subject"], got["san_dns"]) == (cert["sha256"], cert.get("subject"),
                                                                               cert.get("san_dns"))
    assert len(conns) == expected_conns and len(certs) == expected_certs
    assert sum(findings.values()) == sum(len(c.get("findings", ())) for d in documents.values()
                                         for c in d["connections"])
    assert p.stderr.strip().splitlines()[-1].startswith(f"{len(documents) + 1} captures ({len(documents)} analysed, "
                                                          f"0 already done, 1 errors), {expected_conns:,} connections")


def _readme_blocks(language: str) -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Batch"):]
    section = section[:section.index("\n## ", 1)]
    return [block.split("\n```", 1)[0] for block in section.split(f"```{language}\n")[1:]]


def test_readme_queries_answer_what_analyze_says(fixtures_batch, documents) -> None:
    import duckdb

    out, _ = fixtures_batch
    conns = [c for d in documents.values() for c in d["connections"]]
    queries = _readme_blocks("sql")
    assert len(queries) >= 8
    results = []
    for query in queries:
        results.append(duckdb.sql(query.replace("tls-dataset", str(out))).fetchall())
    versions = Counter(c["version_name"] for c in conns if c["tls"] and c.get("version_name"))
    assert results[0] == sorted(versions.items(), key=lambda kv: (-kv[1], kv[0]))
    assert sum(row[2] for row in results[1]) == sum(c["complete"] for c in conns if c["tls"])
    assert sum(row[1] for row in results[2]) == sum(c["tls"] for c in conns)
    assert sum(row[4] for row in results[3]) == sum(1 for c in conns if c["tls"] and not c["complete"])
    assert sum(row[-1] for row in results[4]) == sum(c["tls"] for c in conns)
    assert sum(row[1] for row in results[5]) == sum(1 for c in conns if c.get("fingerprints", {}).get("ja4"))
    by_rule = Counter((f["id"], f["severity"]) for c in conns for f in c.get("findings", ()))
    assert {(r[0], r[1]): r[2] for r in results[6]} == by_rule
    assert [r[0] for r in results[-1]] == [str(out.parent / "notes.pcap")]

    namespace: dict = {}
    [script] = _readme_blocks("python")
    exec(script.replace("tls-dataset", str(out)), namespace)  # noqa: S102 - the README's own example
    assert dict(namespace["versions"]) == versions
    assert len(namespace["serious"]) == sum(1 for c in conns for f in c.get("findings", ())
                                            if f["severity"] in ("high", "critical")) > 0


def _with_path(out: Path, table: str) -> list[dict]:
    """Rows of a table keyed to their capture's path through the capture's hash."""
    path = {r["capture_sha256"]: r["capture_path"] for r in rows(out, "captures")}
    return [{**r, "capture_path": path[r["capture_sha256"]]} for r in rows(out, table)]


def test_wire_strings_go_in_exactly_as_sent(fixtures_batch, documents) -> None:
    out, _ = fixtures_batch
    path = str(CAPTURES / "tls13-hostile-strings.pcap")
    got = sorted((r["connection_id"], r["sni"], r["alpn_offered"]) for r in rows(out, "connections")
                 if r["capture_path"] == path)
    want = sorted((c["id"], c["sni"], c["alpn_offered"]) for c in documents[path]["connections"])
    assert got == want and any("\x1b" in (sni or "") for _, sni, _ in got)


def test_second_run_adds_nothing_and_same_content_is_not_read_twice(fixtures_batch, tmp_path: Path) -> None:
    out, _ = fixtures_batch
    copy = tmp_path / "ds"
    shutil.copytree(out, copy)
    before = part_files(copy)
    again = tmp_path / "renamed.pcap"  # the same bytes under another name: known by content
    shutil.copy(CAPTURES / "tls13.pcap", again)
    p = batch(str(CAPTURES), str(again), "--out", str(copy), "--workers", "1")
    assert p.returncode == 0, p.stderr
    total = len(fixture_captures()) + 1
    assert f"{total} captures (0 analysed, {total} already done, 0 errors)" in p.stderr
    assert part_files(copy) == before


def test_a_capture_left_half_done_is_redone_without_duplicates(fixtures_batch, tmp_path: Path) -> None:
    out, _ = fixtures_batch
    copy = tmp_path / "ds"
    shutil.copytree(out, copy)
    victim = next(r for r in rows(copy, "captures") if r["capture"] == "tls12-mtls.pcap")
    sha = victim["capture_sha256"]
    before = {t: len(rows(copy, t)) for t in ("connections", "findings", "certificates")}
    # a crash after the parts were published but before the done marker, with a temporary file left behind
    (copy / "captures" / f"{sha}.parquet").unlink()
    (copy / "findings" / f".{sha}.0123.tmp").write_bytes(b"PAR1 half written")
    p = batch(str(CAPTURES), "--out", str(copy), "--workers", "1")
    assert p.returncode == 0, p.stderr
    assert "(1 analysed," in p.stderr
    assert {t: len(rows(copy, t)) for t in before} == before
    assert not list(copy.rglob(".*.tmp"))


def test_corrupt_capture_is_listed_in_errors_and_the_rest_done(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("tls13.pcap", "tls12-ecdhe.pcap", "tls13-hrr.pcap"):
        shutil.copy(CAPTURES / name, folder / name)
    bad = folder / "zz-bad.pcap"
    bad.write_bytes(b"this is no capture\n" * 10)
    out = tmp_path / "ds"
    p = batch(str(folder), str(bad), "--out", str(out), "--workers", "1")
    assert p.returncode == ExitCode.USAGE
    assert f"error: {bad} is not a pcap or pcapng file" in p.stderr and "Traceback" not in p.stderr
    assert "4 captures (3 analysed, 0 already done, 1 errors)" in p.stderr
    errors = rows(out, "errors")
    assert [(e["capture"], e["kind"]) for e in errors] == [("zz-bad.pcap", "input")]
    assert errors[0]["error"].startswith(f"{bad} is not a pcap or pcapng file")
    assert sorted(r["capture"] for r in rows(out, "captures")) == ["tls12-ecdhe.pcap", "tls13-hrr.pcap", "tls13.pcap"]

    shutil.copy(CAPTURES / "tls12-rsa.pcap", bad)  # repaired: read on the next run, its error gone
    p = batch(str(folder), str(bad), "--out", str(out), "--workers", "1")
    assert p.returncode == 0, p.stderr
    assert "4 captures (1 analysed, 3 already done, 0 errors)" in p.stderr
    assert rows(out, "errors") == []


def test_key_material_never_reaches_the_tables(tmp_path: Path) -> None:

    keys = CAPTURES / "keys" / "keyed-tls12-cbc-mte.keys"
    out = tmp_path / "ds"
    p = batch(str(CAPTURES / "keyed-tls12-cbc-mte.pcap"), "--keylog", str(keys), "--out", str(out), "--workers", "1")
    assert p.returncode == 0, p.stderr
    dump = repr([rows(out, t) for t in columns.TABLES])
    secrets = [s for per in load_keylog(str(keys)).secrets.values() for s in per.values()]
    assert secrets
    for secret in secrets:
        assert_no_secret(dump, secret)
    # the key log was used: the history holds the decrypted Finished, as analyze --keylog says
    doc = analyze_documents([str(CAPTURES / "keyed-tls12-cbc-mte.pcap")], "--keylog", str(keys))
    want = [c["history"] for d in doc.values() for c in d["connections"]]
    assert [r["history"] for r in rows(out, "connections")] == want and "F" in want[0]


def test_other_settings_do_not_mix_into_a_batch(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    assert batch(str(CAPTURES / "tls13.pcap"), "--out", str(out), "--workers", "1").returncode == 0
    p = batch(str(CAPTURES / "tls13.pcap"), "--out", str(out), "--workers", "1", "--profile", "mozilla-modern")
    assert p.returncode == ExitCode.USAGE
    assert p.stderr.startswith(f"error: {out} holds a batch made with other settings") and len(p.stderr.splitlines()) == 1


def test_local_cluster_prints_its_dashboard(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    p = batch(str(CAPTURES / "tls13.pcap"), str(CAPTURES / "tls12-ecdhe.pcap"), "--out", str(out),
              "--scheduler", "local", "--workers", "1")
    assert p.returncode == 0, p.stderr
    link = next(line for line in p.stderr.splitlines() if line.startswith("dashboard: "))
    assert link.startswith("dashboard: http://127.0.0.1:") and link.endswith("/status")
    assert len(rows(out, "connections")) == 2


def test_unreachable_scheduler_is_one_line_exit_3(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = batch(str(CAPTURES / "tls13.pcap"), "--out", str(tmp_path / "ds"), "--scheduler", f"tcp://127.0.0.1:{port}")
    assert p.returncode == ExitCode.BACKEND
    assert p.stderr.startswith(f"error: cannot reach the Dask scheduler at tcp://127.0.0.1:{port}")
    assert len(p.stderr.strip().splitlines()) == 1


def test_without_the_batch_extra_it_says_how_to_install_it(tmp_path: Path) -> None:
    block = ("import sys, importlib.abc\n"
             "class Block(importlib.abc.MetaPathFinder):\n"
             "    def find_spec(self, name, path=None, target=None):\n"
             "        if name.split('.')[0] in ('dask', 'distributed', 'pyarrow'): raise ImportError(name)\n"
             "sys.meta_path.insert(0, Block())\n"
             "from analyzer.cli import main\n"
             f"sys.exit(main(['batch', {str(CAPTURES / 'tls13.pcap')!r}, '--out', {str(tmp_path / 'ds')!r}]))\n")
    p = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert p.returncode == ExitCode.BACKEND
    assert p.stderr == ("error: batch needs dask, distributed, pyarrow, which are not installed "
                        "(install them with: pip install 'tls-analyzer[batch]')\n")
    assert not (tmp_path / "ds").exists()


def test_progress_bar_on_a_terminal_and_one_line_otherwise() -> None:
    now = [100.0]
    tty, plain = io.StringIO(), io.StringIO()
    bars = [progress.Progress(progress.Tally(total=10), stream, is_tty, clock=lambda: now[0])
            for stream, is_tty in ((tty, True), (plain, False))]
    for p in bars:
        now[0] = 100.0
        p.started = 100.0
        for i in range(4):
            now[0] += 2.0
            p.tally.done += 1
            p.tally.connections += 3
            p.tally.frames += 50
            p.draw()
        p.finish("ds")
    assert "\r\x1b[2K[#########---------------] 4/10 captures, 12 connections, 0.5 captures/s, ETA 12s" in tty.getvalue()
    assert plain.getvalue() == ("10 captures (4 analysed, 0 already done, 0 errors), 12 connections, 200 packets in "
                                "8.0s (0.5 captures/s, 25 packets/s) -> ds\n")
    assert [progress.duration(s) for s in (5, 75, 7300)] == ["5s", "1m15s", "2h01m"]


def test_every_row_fills_exactly_its_table_columns(documents) -> None:
    from analyzer.batch import rows as make

    ident = {"capture": "x.pcap", "capture_sha256": "0" * 64}
    names = {t: {name for name, _, _ in cols} for t, cols in columns.TABLES.items()}
    made = {"connections": 0, "findings": 0, "certificates": 0}
    for doc in documents.values():
        for c in doc["connections"]:
            assert set(make.connection_row(c, ident, "/x.pcap")) == names["connections"]
            made["connections"] += 1
            for table, rows_of in (("findings", make.finding_rows), ("certificates", make.certificate_rows)):
                for row in rows_of(c, ident):
                    assert set(row) == names[table]
                    made[table] += 1
    assert all(made.values()), made


def test_post_quantum_columns_follow_the_registry(documents) -> None:
    from analyzer import registry
    from analyzer.batch.rows import connection_row

    hybrid = registry.code_for("group", "X25519MLKEM768")
    assert hybrid is not None and registry.group(hybrid).pq and not registry.group(29).pq
    c = next(c for d in documents.values() for c in d["connections"] if c["tls"] and c.get("group") == 29)
    ident = {"capture": "x", "capture_sha256": "0" * 64}
    row = connection_row(c, ident, "/x")
    assert (row["group_pq"], row["pq_offered"]) == (False, False)
    row = connection_row({**c, "group": hybrid, "groups_offered": [29, hybrid]}, ident, "/x")
    assert (row["group_pq"], row["pq_offered"]) == (True, True)
    row = connection_row({**c, "groups_offered": [hybrid, 29]}, ident, "/x")
    assert (row["group_pq"], row["pq_offered"]) == (False, True)


def test_a_task_retried_after_its_result_was_lost_counts_as_analysed(tmp_path: Path) -> None:
    """Dask reruns a task whose result died with its worker; the first try may have finished and
    written the capture's done marker. The rerun reports the capture analysed, with its counts (the
    driver skips captures done before the run unread, so only a retry meets its own marker); the
    same bytes under another path stay 'already done'."""
    from analyzer.batch import parts
    from analyzer.batch.adapter import Settings
    from analyzer.batch.task import run_capture

    out = str(tmp_path / "ds")
    parts.make_dirs(out)
    capture = tmp_path / "tls13.pcap"
    shutil.copy(CAPTURES / "tls13.pcap", capture)
    first = run_capture(str(capture), out, Settings())
    retry = run_capture(str(capture), out, Settings())
    assert first.status == retry.status == "done"
    assert (retry.connections, retry.frames) == (first.connections, first.frames) and first.connections > 0
    assert len(rows(Path(out), "connections")) == first.connections  # the retry wrote nothing more
    twin = tmp_path / "twin.pcap"
    shutil.copy(capture, twin)
    assert run_capture(str(twin), out, Settings()).status == "skipped"
