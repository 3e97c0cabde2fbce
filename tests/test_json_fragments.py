"""The JSON renderer encodes each message shape once and fills in frame, direction and time
(analyzer/render/json.py, issue 20): its bytes must be exactly those of encoding `to_json()`,
on every capture we ship (decrypted too, where a key log is shipped) and on the third-party corpus,
and a wire string that looks like a %-directive must come out as it came in."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from conftest import CAPTURES
from hostile_inputs import Flow, client_hello, extension, handshake, pcap, record, records, server_hello, timed

from analyzer.api import CaptureAnalysis
from analyzer.render import json as rjson

KEYS = CAPTURES / "keys"


def _mismatches(path: Path, keylog: Path | None = None) -> tuple[int, list[str]]:
    """(connections compared, how those that differ differ)."""
    run = CaptureAnalysis(path, keylog=keylog)
    seen, wrong = 0, []
    for report in run.rendered(lambda r: r):
        seen += 1
        reference = rjson.dumps(report.to_json())
        if rjson.connection_bytes(report) != reference:
            wrong.append(f"{path.name} connection {report.connection.id}")
        line = rjson.dumps({"capture": path.name, **rjson.encodable(report)})
        if line != rjson.dumps({"capture": path.name, **report.to_json()}):
            wrong.append(f"{path.name} connection {report.connection.id} (jsonl)")
    return seen, wrong


def test_every_shipped_capture_encodes_as_its_reference() -> None:
    seen, wrong = 0, []
    for path in sorted(CAPTURES.glob("*.pcap*")):
        keys = KEYS / (path.name.split(".pcap")[0] + ".keys")
        for keylog in (None, keys) if keys.exists() else (None,):
            n, bad = _mismatches(path, keylog)
            seen, wrong = seen + n, wrong + bad
    assert seen > 100 and wrong == []


def test_the_corpus_encodes_as_its_reference(corpus: Path) -> None:
    seen, wrong = 0, []
    for path in sorted(p for p in corpus.rglob("*") if p.suffix in (".pcap", ".pcapng", ".cap")):
        n, bad = _mismatches(path)
        seen, wrong = seen + n, wrong + bad
    assert seen > 500 and wrong == []


@pytest.mark.parametrize("sni", ["a%d%b%s%%.test", "%(x)s.%5d.test", "100%"])
def test_percent_signs_from_the_wire_survive_the_template(tmp_path: Path, sni: str) -> None:
    frames = []
    for cport in (40001, 40002):  # the second hello, byte-identical, is filled into the first one's shape
        flow = Flow(cport=cport)
        frames += flow.handshake() + [flow.data(0, record(22, client_hello(sni))),
                                      flow.data(1, record(22, server_hello(0xC02F))), flow.fin(0), flow.fin(1)]
    path = tmp_path / "percent.pcap"
    path.write_bytes(pcap(timed(frames)))
    seen, wrong = _mismatches(path)
    assert seen == 2 and wrong == []
    for report in CaptureAnalysis(path).rendered(lambda r: r):
        hello = json.loads(rjson.connection_bytes(report))["messages"][0]
        assert hello["name"] == "ClientHello" and hello["extensions"][0]["host_name"] == sni


def test_a_message_too_long_to_keep_is_encoded_each_time(tmp_path: Path) -> None:
    """3,000 empty extensions: 12 kB on the wire (decoded once, shared), far more than
    TEMPLATE_BYTES_MAX of JSON, so no template is kept for it; the bytes are still the reference's."""
    exts = b"".join(extension(0xFA00 + i % 200, b"") for i in range(3000))
    body = (struct.pack("!H", 0x0303) + b"\x11" * 32 + b"\x00" + struct.pack("!HH", 2, 0x1301) + b"\x01\x00"
            + struct.pack("!H", len(exts)) + exts)
    frames = []
    for cport in (40001, 40002):
        flow = Flow(cport=cport)
        frames += flow.handshake() + [flow.data(0, records(22, handshake(1, body))), flow.fin(0), flow.fin(1)]
    path = tmp_path / "long.pcap"
    path.write_bytes(pcap(timed(frames)))
    before = len(rjson._TEMPLATES), rjson._TEMPLATES.evictions
    seen, wrong = _mismatches(path)
    assert seen == 2 and wrong == []
    assert (len(rjson._TEMPLATES), rjson._TEMPLATES.evictions) == before
    hello = json.loads(rjson.connection_bytes(next(CaptureAnalysis(path).rendered(lambda r: r))))["messages"][0]
    assert hello["name"] == "ClientHello" and len(rjson.dumps(hello)) > rjson.TEMPLATE_BYTES_MAX
