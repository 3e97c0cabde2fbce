"""`history` and `complete` against Zeek's own ssl.log baselines (fields `ssl_history` and
`established`) shipped in ../shared/corpus, connection by connection (matched by their 4-tuple),
plus handshakes that are complete although their last flight is only visible decrypted or in clear.

Every known disagreement is listed below with its reason; anything else fails.
"""

from __future__ import annotations

import csv
import struct
from pathlib import Path

from analyzer.api import load_keylog

from conftest import CAPTURES, facts

# (capture relative to the corpus, client port) -> why our history differs from Zeek's
KNOWN = {
    ("zeek_zeek/globus-url-copy.pcap", 35391): "TLS_RSA_WITH_NULL_SHA: both Finished travel in clear (with a "
    "MAC) and we decode them (F, f); Zeek counts every record after ChangeCipherSpec as encrypted and gives "
    "them no letter",
}
UDP = ("QUIC", "DTLS")  # Zeek's rows for these: we analyse TLS over TCP only


def _zeek_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a Zeek ASCII log (also the `.cut` form, whose first line is the header)."""
    fields: list[str] | None = None
    rows = []
    for line in path.read_text().splitlines():
        if line.startswith("#fields"):
            fields = line.split("\t")[1:]
        elif line.startswith("#"):
            continue
        elif fields is None and line.startswith("ts\t"):
            fields = line.split("\t")
        elif fields is not None:
            rows.append(dict(zip(fields, line.split("\t"))))
    return rows


def _baselines(corpus: Path) -> dict[str, list[Path]]:
    """Capture (relative to the corpus) -> the Zeek ssl logs MANIFEST.tsv names for it."""
    out: dict[str, list[Path]] = {}
    with (corpus / "MANIFEST.tsv").open() as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            logs = [corpus / row["local_path"].split("/")[0] / f for f in row["expected_output_files"].split()
                    if "ssl" in f.rsplit("/", 1)[-1] and f.endswith((".log", ".cut"))]
            if logs:
                out[row["local_path"]] = logs
    return out


def test_history_and_complete_agree_with_zeek(corpus: Path) -> None:
    baselines = _baselines(corpus)
    notes = {}
    with (corpus / "MANIFEST.tsv").open() as fh:
        notes = {row["local_path"]: row["notes"] for row in csv.DictReader(fh, delimiter="\t")}
    assert len({log for logs in baselines.values() for log in logs}) >= 26
    compared, agree, differences, explained = 0, 0, [], set()
    for capture, logs in sorted(baselines.items()):
        zeek = {(z.get("id.orig_h"), z.get("id.orig_p"), z.get("id.resp_h"), z.get("id.resp_p")): z
                for log in logs for z in _zeek_rows(log)}
        ours = [c for c in facts(str(corpus / capture)) if c.tls and c.transport == "tcp"]  # QUIC, DTLS: not yet
        if any(kind in notes[capture] for kind in UDP) and not ours:
            continue  # QUIC / DTLS only: not compared yet
        assert ours, f"{capture}: Zeek logs TLS here, we found none"
        for c in ours:
            z = zeek.get((c.client.ip, str(c.client.port), c.server.ip, str(c.server.port)))
            assert z is not None, f"{capture}: our connection {c.id} ({c.client} -> {c.server}) is not in Zeek's log"
            compared += 1
            mine, theirs = (c.history, c.complete), (z["ssl_history"], z["established"] == "T")
            if mine == theirs:
                agree += 1
            elif (capture, c.client.port) in KNOWN and c.complete == theirs[1]:
                explained.add((capture, c.client.port))
            else:
                differences.append(f"{capture} #{c.id}: ours {mine}, Zeek {theirs}")
    assert not differences, differences
    assert explained == set(KNOWN), f"known differences that no longer occur: {set(KNOWN) - explained}"
    assert compared >= 25 and agree == compared - len(KNOWN)


# --- complete handshakes whose end is only visible decrypted or in clear ------------------------------

def _first_frames(src: Path, dst: Path, count: int) -> Path:
    """A classic pcap holding the first `count` frames of `src` (little-endian, as ours are)."""
    data = src.read_bytes()
    out, pos = [data[:24]], 24
    for _ in range(count):
        length = struct.unpack_from("<I", data, pos + 8)[0]
        out.append(data[pos:pos + 16 + length])
        pos += 16 + length
    dst.write_bytes(b"".join(out))
    return dst


def test_tls13_0rtt_resumption_is_complete_at_the_decrypted_client_finished(tmp_path: Path) -> None:
    """PSK resumption with 0-RTT, decrypted, cut right after the client's Finished (no application
    data of the client follows): ServerHello, EncryptedExtensions, Finished, EndOfEarlyData and
    the client's Finished are all there, so the handshake is complete."""
    keys = load_keylog(str(CAPTURES / "keys" / "tls13-0rtt.keys"))
    cut = _first_frames(CAPTURES / "tls13-0rtt.pcap", tmp_path / "0rtt-cut.pcap", 25)
    resumed = facts(str(cut), keylog=keys)[1]
    names = [e.msg.name for e in resumed.entries if hasattr(e, "msg")]
    assert names[-2:] == ["EndOfEarlyData", "Finished"] and resumed.resumed == "psk"
    assert resumed.history.endswith("EF") and resumed.complete
