"""`summary`: many connections at a glance, checked against counts made independently of it
(the golden JSONs of the fixtures, tshark's view of the corpus, what the capture scripts made)."""

from __future__ import annotations

import csv
import gzip
import io
import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import jsonschema
import pytest

from analyzer import registry
from analyzer.render import summary_table
from analyzer.summary.facts import capped

from conftest import CAPTURES, ROOT

SCHEMA = json.loads((ROOT / "analyzer/schema/tls-analyzer-summary-1.schema.json").read_text())
PQ_CAPTURES = sorted(str(p) for p in CAPTURES.glob("pq-*.pcap"))


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], capture_output=True, input=stdin,
                          timeout=300, cwd=ROOT)


def summary_json(*args: str) -> dict:
    p = run("summary", *args, "--format", "json", "--top", "0")
    assert p.returncode == 0, p.stderr.decode()
    doc = json.loads(p.stdout)
    jsonschema.validate(doc, SCHEMA)
    return doc


def golden_connections(names: list[str] | None = None) -> list[dict]:
    files = sorted((CAPTURES / "expected").glob("*.json")) if names is None else \
        [CAPTURES / "expected" / f"{n}.json" for n in names]
    return [c for f in files for c in json.loads(f.read_text())["connections"]]


def pq_codes() -> set[int]:
    """PQ groups from the registry's structured kind (not the summary's helper)."""
    return {code for code in range(0x10000) if (g := registry.group(code)) is not None and g.kind in ("pq", "pq_hybrid")}


# --- the fixtures, counted from their goldens -------------------------------------------------------
@pytest.fixture(scope="module")
def fixtures() -> dict:
    return summary_json("captures")


def test_totals_and_distributions_match_the_goldens(fixtures: dict) -> None:
    conns = golden_connections()
    tls = [c for c in conns if c["tls"]]
    assert fixtures["captures"]["read"] == len(list((CAPTURES / "expected").glob("*.json")))
    assert fixtures["captures"]["unreadable"] == 0
    assert fixtures["connections"]["total"] == len(conns)
    assert fixtures["connections"]["tls"] == len(tls)
    assert fixtures["connections"]["complete"] == sum(c["complete"] for c in tls)
    assert fixtures["connections"]["incomplete"] == sum(not c["complete"] for c in tls)
    assert fixtures["versions"] == Counter(c["version_name"] for c in tls if c["version"] is not None)
    assert fixtures["cipher_suites"] == Counter(c["cipher_suite_name"] for c in tls if c["cipher_suite"] is not None)
    assert fixtures["groups"] == Counter(c["group_name"] for c in tls if c["group"] is not None)
    assert fixtures["sni"] == Counter(capped(c["sni"]) for c in tls if c["sni"] is not None)  # (the summary's cap)
    assert fixtures["issuers"] == Counter(c["certificates"][0]["issuer"] for c in tls if c["certificates"])
    assert fixtures["observed"]["versions"] == sum(fixtures["versions"].values())
    assert fixtures["distinct"]["servers"] == len({(c["server"]["ip"], c["server"]["port"]) for c in tls})
    assert fixtures["distinct"]["clients"] == len({c["fingerprints"].get("ja4", "") for c in tls
                                                   if c["versions_offered"]})
    assert fixtures["approximate"] == {} and fixtures["warnings"] == []


def test_findings_count_connections_and_servers(fixtures: dict) -> None:
    by_id: dict[str, set] = {}
    servers: dict[str, set] = {}
    for i, c in enumerate(golden_connections()):
        for f in c.get("findings", []):
            by_id.setdefault(f["id"], set()).add(i)
            servers.setdefault(f["id"], set()).add((c["server"]["ip"], c["server"]["port"]))
    assert {fid: f["connections"] for fid, f in fixtures["findings"].items()} == {k: len(v) for k, v in by_id.items()}
    assert {fid: f["servers"] for fid, f in fixtures["findings"].items()} == {k: len(v) for k, v in servers.items()}
    # known fixtures: the expired leaf is found on its server, with its severity
    assert fixtures["findings"]["CERT-EXPIRED"]["severity"] == "high"
    expired = next(s for s in fixtures["servers"] if "expired.test" in s["snis"] and s["leaf"])
    assert expired["leaf"]["subject_cn"] == "expired.test" and expired["leaf"]["days_left"] < -9000
    assert fixtures["certificates"]["soonest"][0]["subject_cn"] == "expired.test"


def test_failed_handshakes_say_why(fixtures: dict) -> None:
    failures = fixtures["failures"]
    assert sum(f["connections"] for f in failures.values()) == fixtures["connections"]["incomplete"]
    # dtls12-fatal-alert.pcap and tls-fatal-alert.pcap: the server refuses the client's only suite (see
    # captures/README.md); failures are counted by the connection's `failure` cause, the example is the
    # first capture by name
    refused = failures["no_shared_parameters"]
    assert refused["example"] == {"capture": "captures/dtls12-fatal-alert.pcap", "connection": 0}
    assert refused["connections"] == 2
    assert "inappropriate_fallback" in failures  # weak-fallback-scsv.pcap


def test_the_expiring_certificate_is_counted_at_capture_time(fixtures: dict) -> None:
    """cert-expiring-soon.pcap's leaf had 10 days left when it was recorded (make_cert_captures.py):
    judged at the capture's own time, whenever the test runs."""
    soon = [c for c in fixtures["certificates"]["soonest"] if c["subject_cn"] == "soon.test"]
    assert [c["days_left"] for c in soon] == [9]  # 10 days minus the seconds until the handshake
    assert fixtures["certificates"]["servers_expiring_soon"] == 1
    assert fixtures["certificates"]["servers_expired"] == 1


# --- post-quantum ---------------------------------------------------------------------------------
def test_post_quantum_groups_come_from_the_registry_kinds() -> None:
    groups = registry.post_quantum_groups()
    assert groups == pq_codes()
    names = {registry.group_name(c) for c in groups}
    assert {"X25519MLKEM768", "SecP256r1MLKEM768", "MLKEM768", "X25519Kyber768Draft00"} <= names
    assert not {"x25519", "secp256r1", "ffdhe2048"} & names


def test_pq_inventory_of_the_pq_fixtures() -> None:
    """What make_pq_captures.py made: X25519MLKEM768, MLKEM768, X25519MLKEM768 after a retry asking
    for it, and one PQ offer declined without and one after a retry asking for secp256r1."""
    pq = summary_json(*PQ_CAPTURES)["pq"]
    assert (pq["negotiated"], pq["offered_not_negotiated"], pq["not_offered"]) == (3, 2, 0)
    assert pq["groups_negotiated"] == {"X25519MLKEM768": 2, "MLKEM768": 1}
    assert pq["hello_retry_request"] == {"to_pq": 1, "away_from_pq": 1}
    assert pq["servers"] == {"accepted": 3, "declined": 2, "untested": 0}
    assert pq["clients"] == {"offering": 2, "not_offering": 0}


def test_pq_servers_and_clients_in_the_fixture_folder(fixtures: dict) -> None:
    pq = fixtures["pq"]
    offered = [c for c in golden_connections() if c["tls"] and pq_codes() & set(c["groups_offered"] + c["key_share_groups"])]
    assert len(offered) == 5 and pq["negotiated"] + pq["offered_not_negotiated"] == 5
    assert pq["not_offered"] == fixtures["connections"]["tls"] - 5
    declined = {s["server"] for s in fixtures["servers"] if s["pq"] == "declined"}
    assert declined == {"127.0.0.1:19013", "127.0.0.1:19014"}


def corpus_pq_captures(corpus: Path) -> list[str]:
    """TCP captures the corpus notes as carrying a PQ group (QUIC ones wait for the QUIC transport)."""
    rows = (line.split("\t") for line in (corpus / "MANIFEST.tsv").read_text().splitlines()[1:])
    return sorted(r[2] for r in rows if "PQ:" in r[8] and "QUIC" not in r[8] and "DTLS" not in r[8])


def tshark_pq(corpus: Path, capture: str) -> Counter:
    """PQ status per TLS stream, from tshark's decode: the first ClientHello's offers and the
    ServerHello's key share."""
    handshakes = json.loads((corpus / f"{capture}.tshark.json").read_text())["handshakes"]
    pq, streams = pq_codes(), {}
    for h in handshakes:
        s = streams.setdefault(h["stream"], {"offered": None, "chosen": None, "answered": False})
        if h["handshake_type"] == 1 and s["offered"] is None:
            s["offered"] = set(h.get("supported_groups") or []) | set(h.get("key_share_groups") or [])
        if h["handshake_type"] == 2 and not h.get("is_hello_retry_request"):
            s["answered"] = True
            s["chosen"] = (h.get("key_share_groups") or [None])[0]
    out: Counter = Counter()
    for s in streams.values():
        if s["offered"] is None:
            continue
        if s["chosen"] in pq:
            out["negotiated"] += 1
        elif not pq & s["offered"]:
            out["not_offered"] += 1
        else:
            out["offered_not_negotiated" if s["answered"] else "offered_unanswered"] += 1
    return out


def test_pq_inventory_of_real_traffic_agrees_with_tshark(corpus: Path) -> None:
    captures = corpus_pq_captures(corpus)
    assert len(captures) >= 4  # Chrome's Kyber draft, X25519MLKEM768 from OQS and browsers, a declined offer
    expected: Counter = Counter()
    for capture in captures:
        expected += tshark_pq(corpus, capture)
    doc = summary_json(*(str(corpus / c) for c in captures))
    got = {k: doc["pq"][k] for k in ("negotiated", "offered_not_negotiated", "offered_unanswered", "not_offered")}
    assert got == {k: expected.get(k, 0) for k in got}
    # the Kyber draft is named as such, and the pure KEM is told from the hybrids by the registry
    assert {"X25519Kyber768Draft00", "X25519MLKEM768", "kyber_1024_r3"} <= set(doc["pq"]["groups_negotiated"])
    assert doc["pq"]["offered_not_negotiated"] >= 1  # suricata's debug-s13: X25519MLKEM768 offered, x25519 chosen


# --- inputs, errors, exit codes ---------------------------------------------------------------------
def test_a_folder_mixing_pcap_pcapng_gzip_and_other_files(tmp_path: Path) -> None:
    (tmp_path / "day1" / "deep").mkdir(parents=True)
    shutil.copy(CAPTURES / "tls13-hrr.pcap", tmp_path / "day1" / "a.pcap")
    shutil.copy(CAPTURES / "tls12-nano.pcapng", tmp_path / "day1" / "deep" / "rotated.0001")
    (tmp_path / "day1" / "b.cap.gz").write_bytes(gzip.compress((CAPTURES / "tls12-session-resumption.pcap").read_bytes()))
    (tmp_path / "day1" / "notes.txt").write_text("not a capture\n")
    shutil.copy(CAPTURES / "expected" / "tls13.pcap.json", tmp_path / "day1" / "golden.json")
    p = run("summary", str(tmp_path), "--format", "json")
    assert p.returncode == 0, p.stderr.decode()
    assert p.stderr.decode().startswith("skipped 2 files that are not captures\n")
    doc = json.loads(p.stdout)
    expected = golden_connections(["tls13-hrr.pcap", "tls12-nano.pcapng", "tls12-session-resumption.pcap"])
    assert (doc["captures"]["read"], doc["captures"]["skipped_files"]) == (3, 2)
    assert doc["connections"]["total"] == len(expected)
    assert doc["versions"] == Counter(c["version_name"] for c in expected if c.get("version") is not None)


def test_an_unreadable_capture_among_good_ones(tmp_path: Path) -> None:
    bad = tmp_path / "cut.pcap"
    bad.write_bytes((CAPTURES / "tls13.pcap").read_bytes()[:10])  # a pcap magic and half a header
    p = run("summary", str(CAPTURES / "tls13-hrr.pcap"), str(bad), str(CAPTURES / "tls12-rsa.pcap"), "--format", "json")
    assert p.returncode == 2  # as `analyze`: unreadable input
    errors = [line for line in p.stderr.decode().splitlines() if line.startswith("error:")]
    assert errors == [f"error: {bad}: pcap header is cut short (the file is truncated)"]
    doc = json.loads(p.stdout)
    jsonschema.validate(doc, SCHEMA)
    assert doc["captures"]["unreadable_files"] == [{"file": str(bad), "error": errors[0].removeprefix("error: ")}]
    assert (doc["captures"]["read"], doc["connections"]["total"]) == (2, 2)
    alone = run("summary", str(bad))
    assert alone.returncode == 2 and alone.stdout == b"" and alone.stderr.decode().startswith("error: ")


def test_no_capture_in_the_folders_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x\n")
    for command in ("summary", "analyze", "fingerprints"):
        p = run(command, str(tmp_path))
        assert p.returncode == 2
        assert p.stderr.decode().splitlines()[-1].startswith(f"error: no capture found in {tmp_path}")


def test_stdin_and_fail_on() -> None:
    p = run("summary", "-", "--format", "json", stdin=(CAPTURES / "weak-rc4.pcap").read_bytes())
    assert p.returncode == 0 and json.loads(p.stdout)["versions"]
    worst = summary_json(str(CAPTURES / "weak-sslv2.pcap"))["connections"]["worst_finding"]
    assert worst == {"critical": 1}
    failing = run("summary", str(CAPTURES / "weak-sslv2.pcap"), "--fail-on", "critical")
    assert failing.returncode == 1 and "1 connection with findings at or above critical" in failing.stderr.decode()
    assert run("summary", str(CAPTURES / "tls13.pcap"), "--fail-on", "critical").returncode == 0


def test_analyze_and_fingerprints_take_folders_too(tmp_path: Path) -> None:
    shutil.copy(CAPTURES / "tls13-hrr.pcap", tmp_path / "a.pcap")
    shutil.copy(CAPTURES / "tls12-rsa.pcap", tmp_path / "b.pcap")
    (tmp_path / "notes.txt").write_text("x\n")
    p = run("analyze", str(tmp_path), "--format", "jsonl")
    assert p.returncode == 0
    assert len(p.stdout.splitlines()) == len(golden_connections(["tls13-hrr.pcap", "tls12-rsa.pcap"]))
    assert p.stderr.decode().startswith("skipped 1 file that is not captures\n")
    fp = run("fingerprints", str(tmp_path), "--format", "json")
    assert fp.returncode == 0 and sum(r["connections"] for r in json.loads(fp.stdout)) == 2


# --- renderers --------------------------------------------------------------------------------------
def test_the_table_fits_100_columns_and_leads_with_the_answers(fixtures: dict) -> None:
    p = run("summary", "captures")
    out = p.stdout.decode()
    assert max(len(line) for line in out.splitlines()) <= 100
    lines = out.splitlines()
    assert lines[0].startswith(f"{fixtures['captures']['read']} captures, {fixtures['connections']['tls']} TLS connections")
    where = [next(i for i, line in enumerate(lines) if line.startswith(start)) for start in
             ("post-quantum", "old versions", "certificates", "findings", "failures", "Negotiated", "Post-quantum inventory",
              "Servers", "Leaf certificates", "Clients by JA4", "Findings", "Handshakes that did not complete")]
    assert where == sorted(where) and where[0] < 5  # answers first, then the tables behind them
    # wire strings are escaped (tls13-hostile-strings.pcap carries ESC, CR/LF, U+202E and NUL in its SNI)
    assert "\x1b" not in out and "\u202e" not in out and "\r" not in out and "\\x1b[31m.red" in out
    # the table is drawn from the JSON alone: the same text from the published document
    assert summary_table.render(json.loads(run("summary", "captures", "--format", "json").stdout)) == out


def test_csv_is_one_long_table_with_a_section_column(fixtures: dict) -> None:
    p = run("summary", "captures", "--format", "csv", "--top", "0")
    rows = list(csv.DictReader(io.StringIO(p.stdout.decode())))
    sections = Counter(r["section"] for r in rows)
    assert sections["server"] == fixtures["distinct"]["servers"]
    assert sections["client"] == fixtures["distinct"]["clients"]
    assert sections["finding"] == len(fixtures["findings"])
    versions = {r["key"]: int(r["connections"]) for r in rows if r["section"] == "version"}
    assert versions == fixtures["versions"]
    hostile = [r["key"] for r in rows if r["section"] == "sni" and "evil" in r["key"]]
    assert hostile and all("\x1b" not in k and "\r" not in k for k in hostile)
    assert {r["key"]: r["value"] for r in rows if r["section"] == "total"}["captures_read"] == \
        str(fixtures["captures"]["read"])


def test_top_cuts_the_long_lists_only() -> None:
    doc = summary_json("captures")  # --top 0
    p = run("summary", "captures", "--format", "json", "--top", "2")
    top2 = json.loads(p.stdout)
    assert len(top2["servers"]) == 2 and len(top2["cipher_suites"]) == 2 and len(top2["sni"]) == 2
    assert top2["versions"] == doc["versions"] and top2["findings"] == doc["findings"]
    assert top2["distinct"] == doc["distinct"] and top2["observed"] == doc["observed"]


def test_a_pq_group_chosen_for_a_client_hello_never_captured_still_counts(corpus: Path) -> None:
    """nDPI's tls_missing_ch_frag.pcap lost the ClientHello; the ServerHello chose CECPQ2, which
    the registry grades a PQ hybrid (Google's 2019 experiment)."""
    doc = summary_json(str(corpus / "ntop_nDPI/tls_missing_ch_frag.pcap"))
    assert doc["pq"]["negotiated"] == 1 and doc["pq"]["groups_negotiated"] == {"CECPQ2": 1}
    assert doc["pq"]["servers"]["accepted"] == 1 and doc["clients"] == []
