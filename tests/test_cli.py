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
    assert p.stderr.decode().startswith("1 connection, 19 frames, 0 warnings (")  # not "1 connections"


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
    assert rows[0][:4] == ["capture", "id", "client", "server"] and len(rows) == 3
    assert rows[2][rows[0].index("resumed")] == "session_id"


def test_csv_of_several_captures_says_which_capture_each_row_is_from(capsys) -> None:
    """The capture column leads every CSV, one capture or many: the shape does not change."""
    caps = [str(CAPTURES / "tls12-session-resumption.pcap"), str(CAPTURES / "tls13-psk-resumption.pcap")]
    assert main(["analyze", *caps, "--format", "csv"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0][:2] == ["capture", "id"] and len(rows) == 5  # one header
    assert [(r[0], r[1]) for r in rows[1:]] == [(caps[0], "0"), (caps[0], "1"), (caps[1], "0"), (caps[1], "1")]
    assert main(["analyze", str(CAPTURES / "missing.pcap"), caps[1], "--format", "csv"]) == ExitCode.USAGE
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0][:2] == ["capture", "id"] and len(rows) == 3  # the header, even when the first capture failed


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


@pytest.mark.parametrize(("capture", "udp_stack"), [("tls13.pcap", False), ("quic-v1.pcap", True)])
def test_the_udp_stack_loads_with_the_first_udp_datagram(capture: str, udp_stack: bool) -> None:
    """QUIC, DTLS and the ciphers they need (cryptography) cost a TCP-only capture nothing at start-up."""
    code = ("import sys, json; from analyzer.cli import main; main(['analyze', sys.argv[1], '--format', 'json', "
            "'-o', '/dev/null']); print(json.dumps(sorted({'analyzer.datagrams', 'analyzer.quic.connection', "
            "'analyzer.dtls.connection', 'cryptography'} & set(sys.modules))))")
    p = subprocess.run([sys.executable, "-c", code, str(CAPTURES / capture)], capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    loaded = json.loads(p.stdout.decode().splitlines()[-1])
    assert loaded == (["analyzer.datagrams", "analyzer.dtls.connection", "analyzer.quic.connection", "cryptography"]
                      if udp_stack else [])


# --- rough edges a new user trips on (issue 16, items 6-9, 14-18) --------------------------------------

def test_bare_command_prints_the_help_not_an_error_line() -> None:
    p = run()
    err = p.stderr.decode()
    assert p.returncode == ExitCode.USAGE and not err.startswith("error:")
    assert err.startswith("Usage: tls-analyzer [OPTIONS] COMMAND") and len(err.splitlines()) > 10
    assert "\n  analyze " in err and "\n  check " in err  # one command a line, as --help shows them


def test_rules_help_never_breaks_a_word() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "cli.py"), "rules", "--help"], capture_output=True, text=True,
                         timeout=60, env={**__import__("os").environ, "COLUMNS": "60"}).stdout
    assert "min_dh_bits = 3072" in out and "max_certificate_lifetime_days" in out
    assert "min_dh _bits" not in out and "expiring_soon_d\n" not in out


@pytest.mark.parametrize("width", ["0", "-5", "59"])
def test_ladder_refuses_a_width_it_cannot_draw(width: str) -> None:
    p = run("ladder", str(CAPTURES / "tls13.pcap"), f"--width={width}")
    assert p.returncode == ExitCode.USAGE and p.stderr.decode().startswith("error: Invalid value for '--width'")


def test_json_of_several_captures_is_documented_as_an_array() -> None:
    assert "JSON array" in " ".join(run("analyze", "--help").stdout.decode().split())


def test_ca_bundle_that_is_not_one_is_a_plain_one_line_error(tmp_path: Path) -> None:
    notes = _write(tmp_path / "notes.txt", b"these are my notes\n")
    p = run("analyze", str(CAPTURES / "tls13.pcap"), "--ca-bundle", str(notes))
    err = p.stderr.decode().strip()
    assert p.returncode == ExitCode.USAGE and len(err.splitlines()) == 1
    assert err.startswith(f"error: CA bundle {notes} is neither a PEM bundle nor a DER certificate")
    assert "ParseError" not in err and "internal error" not in err


def test_crosscheck_reads_stdin(tshark: str) -> None:
    p = run("crosscheck", "-", stdin=(CAPTURES / "tls13.pcap").read_bytes())
    assert p.returncode == 0, p.stderr
    assert p.stdout.decode().strip().endswith("2/2 Wireshark handshake messages agree; 0 differences (decode-as: 4433=tls)")
    empty = run("crosscheck", "-", stdin=b"")
    assert empty.returncode == ExitCode.USAGE and empty.stderr.decode().startswith("error: stdin is empty")


def test_an_sslkeylogfile_not_written_yet_is_a_notice(tmp_path: Path) -> None:
    env = {**__import__("os").environ, "SSLKEYLOGFILE": str(tmp_path / "not-yet.keys")}
    p = subprocess.run([sys.executable, str(ROOT / "cli.py"), "analyze", str(CAPTURES / "tls13.pcap")],
                       capture_output=True, timeout=60, env=env)
    assert p.returncode == 0 and b"example.test" in p.stdout
    assert p.stderr.decode().startswith(f"notice: SSLKEYLOGFILE names {tmp_path / 'not-yet.keys'}, which does not exist")
    missing = run("analyze", str(CAPTURES / "tls13.pcap"), "--keylog", str(tmp_path / "typo.keys"))
    assert missing.returncode == ExitCode.USAGE  # named on the command line: a mistake


def test_the_summary_counts_the_warnings_the_table_shows(tmp_path: Path) -> None:
    """tls13-fragmented-ch.pcap cut inside its ClientHello: one connection warning, and the
    summary says 1 warning (it said 0 while the table's warnings column said 1)."""
    from test_zeek_agreement import _first_frames

    cut = _first_frames(CAPTURES / "tls13-fragmented-ch.pcap", tmp_path / "cut.pcap", 4)
    for fmt in ("table", "json", "jsonl", "csv"):
        p = run("analyze", str(cut), "--format", fmt)
        assert p.returncode == 0 and p.stderr.decode().startswith("1 connection, 4 frames, 1 warning ("), (fmt, p.stderr)
    table = run("analyze", str(cut)).stdout.decode().splitlines()
    at = table[0].index("warnings")  # (a failure column follows: the cut handshake did not complete)
    assert table[2][at:at + len("warnings")].strip() == "1"


def test_a_selection_that_matches_nothing_says_so(capsys) -> None:
    cap = str(CAPTURES / "tls12-session-resumption.pcap")
    for args in (["analyze", cap, "--conn", "99"], ["ladder", cap, "--port", "999"]):
        assert main(args) == 0
        out, err = capsys.readouterr()
        assert out == f"no connection matches {' '.join(args[2:])} (2 TLS connections in the capture)\n"
    assert main(["analyze", cap, "--conn", "99"]) == 0
    assert capsys.readouterr().err.startswith("0 of 2 connections (--conn 99), 34 frames, 0 warnings (")


def test_lost_bytes_show_in_the_table(capsys) -> None:
    assert main(["analyze", str(CAPTURES / "tls12-gap.pcap")]) == 0
    header, _, row = capsys.readouterr().out.splitlines()
    assert row[header.index(" gaps ") + 1:].split()[0] == "2219"


def test_a_bug_is_its_own_exit_code_with_a_please_report_line(monkeypatch, capsys) -> None:  # noqa: ANN001
    """An unexpected exception is not a usage error: exit 70 (EX_SOFTWARE), one line asking for a
    report; --debug adds the traceback."""
    from analyzer.commands.analyze import AnalyzeCommand

    def broken(self):  # noqa: ANN001, ANN202
        raise RuntimeError("a bug\nwith a second line")

    monkeypatch.setattr(AnalyzeCommand, "run", broken)
    assert main(["analyze", str(CAPTURES / "tls13.pcap")]) == ExitCode.INTERNAL == 70
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error: RuntimeError: a bug" in err and "please report" in err
    assert main(["--debug", "analyze", str(CAPTURES / "tls13.pcap")]) == ExitCode.INTERNAL
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "please report" in err
