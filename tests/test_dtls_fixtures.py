"""The DTLS fixtures (captures/dtls*.pcap, made by captures/scripts/make_dtls_captures.py from openssl and
gnutls peers) through the core, against tshark run live on each (decode-as, key log), and against
what the script made them to show: each cipher family decrypts (both Finished, the client's data,
the close_notify alerts), the cookie exchange, the fragmented certificate, the plaintext alert."""

from __future__ import annotations

import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

from analyzer.api import load_keylog
from analyzer.dtls.events import Fragment, Retransmission
from analyzer.dtls.messages import HelloVerifyRequest
from analyzer.dtls.versions import DTLS10, DTLS12
from analyzer.tls.events import Alert, Malformed, Message
from analyzer.tls.messages import ClientHello, ServerHello

import dtls_harness
from conftest import CAPTURES

DTLS = CAPTURES
DATA_LENGTH = len(b"hello over DTLS\n")  # what every client sent (make_dtls_captures.DATA)
# capture -> (negotiated version, suite, encrypt_then_mac)
KEYED = {
    "dtls12-aes128-gcm": (DTLS12, 0xC02F, False),
    "dtls12-chacha20": (DTLS12, 0xCCA8, False),
    "dtls12-cbc-etm": (DTLS12, 0xC028, True),
    "dtls12-cbc-mte": (DTLS12, 0xC028, False),
    "dtls10-cbc": (DTLS10, 0xC013, True),
    "dtls12-small-mtu": (DTLS12, 0xC02F, False),
    "dtls12-gnutls": (DTLS12, None, None),
}
TSHARK_CANNOT_DECRYPT = {"dtls12-chacha20"}  # tshark 4.0 leaves DTLS ChaCha20-Poly1305 records encrypted


def _port(capture: Path) -> int:
    return int(subprocess.run(["tshark", "-n", "-r", str(capture), "-c", "1", "-T", "fields", "-e", "udp.dstport"],
                              capture_output=True, text=True, timeout=60, check=True).stdout.split()[0])


def _tshark_types(capture: Path, keys: Path | None) -> dict[int, list[int]]:
    cmd = ["tshark", "-n", "-r", str(capture), "-d", f"udp.port=={_port(capture)},dtls", "-T", "fields",
           "-E", "occurrence=a", "-E", "aggregator=,", "-e", "frame.number", "-e", "dtls.handshake.type"]
    if keys is not None:
        cmd += ["-o", f"tls.keylog_file:{keys}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True).stdout
    rows = {}
    for line in out.splitlines():
        frame, _, types = line.partition("\t")
        if types.strip():
            rows[int(frame)] = [int(t) for t in types.split(",")]
    return rows


def _keys(name: str) -> Path | None:
    path = DTLS / "keys" / f"{name}.keys"
    return path if path.exists() else None


def _events(name: str) -> list:
    keys = _keys(name)
    keylog = load_keylog(str(keys)) if keys else None
    flows = dtls_harness.run(DTLS / f"{name}.pcap", keylog)
    assert len(flows) == 1, "one DTLS flow per fixture"
    return flows[0].events


@pytest.mark.parametrize("name", sorted(p.stem for p in DTLS.glob("dtls*.pcap")))
def test_fixture_agrees_with_live_tshark(tshark: str, name: str) -> None:
    events = _events(name)
    ours: dict[int, list[int]] = defaultdict(list)
    for e in events:
        if isinstance(e, Message) and e.type is not None:
            ours[e.frame].append(e.type)
        elif isinstance(e, Fragment | Retransmission):
            ours[e.frame].append(e.type)
    theirs = _tshark_types(DTLS / f"{name}.pcap", _keys(name))
    if name in TSHARK_CANNOT_DECRYPT:
        ours = {f: [t for t in types if t != 20] for f, types in ours.items()}
        ours = {f: t for f, t in ours.items() if t}
    assert dict(ours) == theirs
    assert not [e for e in events if isinstance(e, Malformed)]


@pytest.mark.parametrize("name", sorted(KEYED))
def test_each_cipher_family_decrypts(name: str) -> None:
    version, suite, etm = KEYED[name]
    events = _events(name)
    msgs = [e for e in events if isinstance(e, Message)]
    sh = next(m.body for m in msgs if isinstance(m.body, ServerHello))
    assert (sh.legacy_version, sh.cipher_suite if suite else None) == (version, suite)
    if etm is not None:
        assert (sh.ext(22) is not None) == etm
    finished = [m for m in msgs if m.type == 20]
    assert [(m.side, m.decrypted) for m in finished] == [(0, True), (1, True)]
    data = [m for m in msgs if m.name == "ApplicationData" and m.side == 0]
    assert [(m.decrypted, m.length) for m in data] == [(True, DATA_LENGTH)]
    alerts = [m.body for m in msgs if isinstance(m.body, Alert) and m.side == 0]
    assert alerts == [Alert(1, 0)]  # the client's close_notify, decrypted
    assert not any(m.encrypted for m in msgs)


@pytest.mark.parametrize("name", sorted(KEYED))
def test_without_keys_records_after_ccs_stay_opaque(name: str) -> None:
    flows = dtls_harness.run(DTLS / f"{name}.pcap")
    msgs = [e for e in flows[0].events if isinstance(e, Message)]
    ccs_seen = set()
    for m in msgs:
        if m.name == "ChangeCipherSpec":
            ccs_seen.add(m.side)
        elif m.side in ccs_seen:
            assert m.encrypted and m.body.epoch == 1, m
    assert {m.name for m in msgs if m.encrypted} == {"EncryptedHandshakeMessage", "ApplicationData", "EncryptedAlert"}


def test_cookie_exchange() -> None:
    msgs = [e for e in _events("dtls12-aes128-gcm") if isinstance(e, Message)]
    first, hvr, second = msgs[0], msgs[1], msgs[2]
    assert isinstance(first.body, ClientHello) and first.body.cookie == b""
    assert isinstance(hvr.body, HelloVerifyRequest) and hvr.name == "HelloVerifyRequest" and len(hvr.body.cookie) > 0
    assert isinstance(second.body, ClientHello) and second.body.cookie == hvr.body.cookie
    assert second.body.random == first.body.random


def test_small_mtu_fragments_the_certificate() -> None:
    events = _events("dtls12-small-mtu")
    pieces = [e for e in events if isinstance(e, Fragment) and e.type == 11]
    cert = next(e for e in events if isinstance(e, Message) and e.type == 11)
    assert len(pieces) >= 8 and all(p.message_length == cert.length for p in pieces)
    assert sum(p.length for p in pieces) < cert.length  # the last fragment is the message's own row
    assert len(cert.body.entries) == 2  # leaf + intermediate, whole after reassembly


def test_fatal_alert_in_the_clear() -> None:
    msgs = [e for e in _events("dtls12-fatal-alert") if isinstance(e, Message)]
    assert [m.name for m in msgs] == ["ClientHello", "HelloVerifyRequest", "ClientHello", "Alert"]
    assert msgs[-1].body == Alert(2, 40) and msgs[-1].side == 1 and not msgs[-1].encrypted
