"""Output files are never torn (issue 23, items 13-14): --output of every format and the goldens of
`check --update` are written beside their target and renamed over it once whole, so a run that
fails half-way leaves the previous file as it was. And a long wire string cannot blow up a text
view (item 12): cut in the table, ladder and live rows, whole in JSON."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from analyzer.api import CaptureAnalysis
from analyzer.cli import main
from analyzer.commands import check
from analyzer.commands.fingerprints import Inventory
from analyzer.commands.live import live_row
from analyzer.errors import ExitCode
from analyzer.model import Connection
from analyzer.net.flows import Endpoint
from analyzer.output import Output
from analyzer.render import ladder, mermaid, table
from analyzer.render.fingerprints import fingerprint_table
from analyzer.render.sanitize import WIRE_TEXT_MAX
from analyzer.report.connection import Report

from conftest import CAPTURES

OLD = b"the previous output, which a failed run must leave as it was\n"


def _fail_on(monkeypatch, capture: Path, exc: BaseException) -> None:  # noqa: ANN001
    """Reading `capture` fails half-way through (a bug, a kill), whatever reads it."""
    for name in ("rendered", "as_they_end"):
        real = getattr(CaptureAnalysis, name)

        def failing(self, *args, real=real, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
            if self.path == str(capture):
                raise exc
            return real(self, *args, **kwargs)

        monkeypatch.setattr(CaptureAnalysis, name, failing)


@pytest.mark.parametrize("fmt", ["table", "csv", "json", "jsonl"])
def test_a_run_that_fails_half_way_leaves_the_old_output(tmp_path: Path, monkeypatch, fmt: str) -> None:
    out = tmp_path / "out"
    out.write_bytes(OLD)
    _fail_on(monkeypatch, CAPTURES / "tls12-rsa.pcap", RuntimeError("a bug met in the second capture"))
    written: list[bytes] = []
    real_write = Output.write
    monkeypatch.setattr(Output, "write", lambda self, data: (written.append(data), real_write(self, data))[1])
    code = main(["analyze", str(CAPTURES / "tls13.pcap"), str(CAPTURES / "tls12-rsa.pcap"), "--format", fmt,
                 "--output", str(out), "--jobs", "1"])
    assert code == ExitCode.INTERNAL  # an internal error, reported
    assert b"".join(written)  # the first capture's output was on its way
    assert out.read_bytes() == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # and no temporary file left behind


def test_an_interrupted_ladder_leaves_the_old_output(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "ladder.md"
    out.write_bytes(OLD)
    monkeypatch.setattr(ladder, "render_connection", lambda report, style: (_ for _ in ()).throw(KeyboardInterrupt))
    assert main(["ladder", str(CAPTURES / "tls13.pcap"), "--output", str(out)]) == ExitCode.INTERRUPTED
    assert out.read_bytes() == OLD and sorted(p.name for p in tmp_path.iterdir()) == ["ladder.md"]


def test_an_unreadable_later_capture_is_left_out_and_the_rest_written(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    out.write_bytes(OLD)
    (tmp_path / "notes.pcap").write_bytes(b"not a capture at all, just text\n" * 4)
    code = main(["analyze", str(CAPTURES / "tls13.pcap"), str(tmp_path / "notes.pcap"), "--format", "json",
                 "--output", str(out)])
    assert code == ExitCode.USAGE
    assert [d["capture"]["file"] for d in json.loads(out.read_bytes())] == ["tls13.pcap"]  # valid, complete


def test_output_keeps_the_mode_of_the_file_it_replaces_and_writes_through_dev_null(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    out.write_bytes(OLD)
    out.chmod(0o640)
    assert main(["analyze", str(CAPTURES / "tls13.pcap"), "--format", "json", "--output", str(out)]) == 0
    assert json.loads(out.read_bytes())["schema"] == "tls-analyzer/1" and out.stat().st_mode & 0o777 == 0o640
    assert main(["analyze", str(CAPTURES / "tls13.pcap"), "--output", "/dev/null"]) == 0  # not renamed over


def test_check_update_replaces_a_golden_only_when_it_is_whole(tmp_path: Path, monkeypatch) -> None:
    """Killed before the rename (here: the rename fails), the old golden is still there, whole."""
    shutil.copy(CAPTURES / "tls13.pcap", tmp_path / "tls13.pcap")
    golden = tmp_path / "expected" / "tls13.pcap.json"
    golden.parent.mkdir()
    golden.write_bytes(OLD)

    def killed(src: str, dst: str) -> None:
        raise KeyboardInterrupt  # the moment a kill would come

    monkeypatch.setattr("analyzer.output.os.replace", killed)
    with pytest.raises(KeyboardInterrupt):
        list(check.check_folder(tmp_path, update=True))
    assert golden.read_bytes() == OLD
    assert sorted(p.name for p in golden.parent.iterdir()) == ["tls13.pcap.json"]
    monkeypatch.undo()
    assert [r.status for r in check.check_folder(tmp_path, update=True)] == ["updated"]
    assert json.loads(golden.read_bytes())["capture"]["file"] == "tls13.pcap"


# --- long wire strings in text views --------------------------------------------------------------------

def _conn(i: int, sni: str) -> Report:
    return Report(Connection(id=i, client=Endpoint("192.0.2.1", 40000 + i), server=Endpoint("192.0.2.2", 443),
                             role_source="syn", first_frame=i, last_frame=i, first_ts=0.0, last_ts=0.0, tls=True,
                             sni=sni, alpn="h2", history="Cs"))


def test_one_65kb_sni_among_3001_connections_keeps_the_table_small() -> None:
    huge = "a" * 65_000 + ".example"
    conns = [_conn(i, huge if i == 1500 else f"host{i}.example") for i in range(3001)]
    text = table.render([table.cells(c) for c in conns])
    lines = text.splitlines()
    assert len(lines) == 3003 and max(map(len, lines)) < 250  # (padded to the 65 KB cell: 196 MB)
    assert ("a" * (WIRE_TEXT_MAX - 3) + "...") in lines[1502] and huge not in text
    assert conns[1500].to_json()["sni"] == huge  # JSON keeps it whole
    assert huge in table.csv_row(conns[1500])  # CSV too (sanitised, not cut)
    assert len(live_row(conns[1500])) < 200
    inventory = Inventory()
    for c in conns[1499:1502]:
        c.fingerprints = {"ja4": "t13d0411h2_16476d049b0b_78f1d400d464", "ja3": "9dffdb8b608a430b774a2ff7d36c1a0c"}
        inventory.add(c)
    assert len(fingerprint_table(inventory.rows())) < 1000  # (not 65 KB)


def test_the_ladder_and_mermaid_cut_a_long_sni() -> None:
    conn = _conn(0, "b" * 65_000)
    text = ladder.render_connection(conn, ladder.Style(ascii=True, width=120))
    assert max(map(len, text.splitlines())) <= 120
    assert max(map(len, mermaid.render([conn]).splitlines())) < 300
