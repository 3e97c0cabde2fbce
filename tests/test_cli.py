"""The command line as users and CI meet it: exit codes, one-line errors, formats, --output."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from analyzer.cli import main
from analyzer.errors import ExitCode

from conftest import CAPTURES, ROOT


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], capture_output=True, input=stdin,
                          timeout=120)


def test_help_lists_every_command_with_an_example() -> None:
    p = run("--help")
    assert p.returncode == 0
    out = p.stdout.decode()
    for command in ("analyze", "ladder", "check"):
        assert command in out
        sub = run(command, "--help").stdout.decode()
        assert "tls-analyzer " + command in sub, f"{command} --help has no runnable example"


def test_analyze_table_shows_the_negotiated_facts() -> None:
    p = run("analyze", str(CAPTURES / "tls13.pcap"))
    assert p.returncode == 0
    out = p.stdout.decode()
    assert "example.test" in out and "TLSv1.3" in out and "TLS_AES_256_GCM_SHA384" in out
    assert "1 connections" in p.stderr.decode()


def test_cli_shim_and_installed_entry_behave_the_same() -> None:
    shim = run("analyze", str(CAPTURES / "tls12-ecdhe.pcap"), "--format", "json").stdout
    module = subprocess.run([sys.executable, "-c", "import sys; from analyzer.cli import main; sys.exit(main())",
                             "analyze", str(CAPTURES / "tls12-ecdhe.pcap"), "--format", "json"],
                            capture_output=True, timeout=120).stdout
    assert shim == module and json.loads(shim)["schema"] == "tls-analyzer/1"


@pytest.mark.parametrize("make, what", [
    (lambda d: d / "missing.pcap", "no such file"),
    (lambda d: d, "no capture found in"),  # a folder is searched; this one holds nothing
    (lambda d: _write(d / "empty.pcap", b""), "is empty"),
    (lambda d: _write(d / "notes.txt", b"hello, this is text\n" * 10), "not a pcap or pcapng"),
])
def test_bad_input_is_one_line_exit_2(tmp_path: Path, make, what: str) -> None:
    p = run("analyze", str(make(tmp_path)))
    err = p.stderr.decode().strip().splitlines()
    assert p.returncode == ExitCode.USAGE
    assert len(err) == 1 and err[0].startswith("error: ") and what in err[0] and "(" in err[0]
    assert "Traceback" not in p.stderr.decode()


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_truncated_capture_keeps_what_came_before(tmp_path: Path) -> None:
    raw = (CAPTURES / "tls12-ecdhe.pcap").read_bytes()
    cut = _write(tmp_path / "cut.pcap", raw[: len(raw) * 2 // 3])
    p = run("analyze", str(cut), "--format", "json")
    assert p.returncode == 0
    doc = json.loads(p.stdout)
    assert doc["capture"]["truncated"] is True
    names = [m["name"] for m in doc["connections"][0]["messages"]]
    assert names[:2] == ["ClientHello", "ServerHello"]
    assert "truncated" in p.stderr.decode()


def test_stdin_reads_a_capture() -> None:
    p = run("analyze", "-", "--format", "json", stdin=(CAPTURES / "tls13.pcap").read_bytes())
    assert p.returncode == 0 and json.loads(p.stdout)["connections"][0]["sni"] == "example.test"


def test_unknown_option_is_a_usage_error() -> None:
    p = run("analyze", str(CAPTURES / "tls13.pcap"), "--frobnicate")
    err = p.stderr.decode().strip()
    assert p.returncode == ExitCode.USAGE and len(err.splitlines()) == 1
    assert err.startswith("error: No such option: --frobnicate") and "tls-analyzer analyze --help" in err
    missing = run("analyze").stderr.decode().strip()
    assert missing.startswith("error: Missing argument") and "internal error" not in missing


def test_output_file_is_only_created_when_there_is_something_to_write(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    assert main(["analyze", str(tmp_path / "missing.pcap"), "--output", str(target)]) == ExitCode.USAGE
    assert not target.exists()
    assert main(["analyze", str(CAPTURES / "tls13.pcap"), "--format", "json", "--output", str(target)]) == 0
    assert json.loads(target.read_bytes())["connections"][0]["version"] == 0x0304


def test_jsonl_streams_one_connection_per_line(capsysbinary) -> None:
    assert main(["analyze", str(CAPTURES / "tls13-psk-resumption.pcap"), "--format", "jsonl"]) == 0
    lines = capsysbinary.readouterr().out.splitlines()
    conns = [json.loads(line) for line in lines]
    assert [c["resumed"] for c in conns] == [None, "psk"]
    assert all(c["capture"] == "tls13-psk-resumption.pcap" for c in conns)


def test_csv_has_a_header_and_a_row_per_connection(capsys) -> None:
    assert main(["analyze", str(CAPTURES / "tls12-session-resumption.pcap"), "--format", "csv"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0][:3] == ["id", "client", "server"] and len(rows) == 3
    assert rows[2][rows[0].index("resumed")] == "session_id"


def test_selection_by_sni_port_and_conn(capsysbinary) -> None:
    cap = str(CAPTURES / "tls13-hostile-strings.pcap")
    assert main(["analyze", cap, "--format", "jsonl", "--conn", "1"]) == 0
    assert [json.loads(x)["id"] for x in capsysbinary.readouterr().out.splitlines()] == [1]
    assert main(["analyze", str(CAPTURES / "tls13.pcap"), "--format", "jsonl", "--sni", "*.test"]) == 0
    assert len(capsysbinary.readouterr().out.splitlines()) == 1
    assert main(["analyze", str(CAPTURES / "tls13.pcap"), "--format", "jsonl", "--sni", "other.*"]) == 0
    assert capsysbinary.readouterr().out == b""
    assert main(["analyze", str(CAPTURES / "tls13.pcap"), "--format", "jsonl", "--port", "4433"]) == 0
    assert len(capsysbinary.readouterr().out.splitlines()) == 1


def test_several_captures_give_an_array_of_documents(capsysbinary) -> None:
    assert main(["analyze", str(CAPTURES / "tls13.pcap"), str(CAPTURES / "tls12-rsa.pcap"), "--format", "json"]) == 0
    docs = json.loads(capsysbinary.readouterr().out)
    assert [d["capture"]["file"] for d in docs] == ["tls13.pcap", "tls12-rsa.pcap"]


def test_depth_tcp_lists_connections_without_tls(capsysbinary) -> None:
    assert main(["analyze", str(CAPTURES / "tls-starttls-smtp.pcap"), "--depth", "tcp", "--format", "json"]) == 0
    conn = json.loads(capsysbinary.readouterr().out)["connections"][0]
    assert conn["bytes"]["client"] > 0 and conn["bytes"]["server"] > 0 and conn["gaps"] == []
    assert "messages" not in conn


def test_start_up_imports_nothing_heavy() -> None:
    code = ("import sys, analyzer.cli; heavy = {'scapy', 'pyshark', 'cryptography', 'cryptodatahub', 'tabulate'}; "
            "loaded = heavy & {m.split('.')[0] for m in sys.modules}; assert not loaded, loaded")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60).returncode == 0
