"""Encrypted Client Hello on real captures from the third-party corpus (Chrome and Firefox offering
ECH to Google and Cloudflare): offered, the SNI marked as the outer name, the kind left unknown
where the wire cannot tell; the acceptance rules on a real hello with the server's side altered."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jsonschema
import pytest
from conftest import CAPTURES, ROOT, facts, reports

from analyzer.analysis.ech import explain_ech
from analyzer.cli import main
from analyzer.registry.codes import EXT_ENCRYPTED_CLIENT_HELLO
from analyzer.tls.extensions import Extension

SCHEMA = json.loads((ROOT / "analyzer/schema/tls-analyzer-1.schema.json").read_text())
ECH = SCHEMA["properties"]["connections"]["items"]["properties"]["ech"]
OFFERS = [("ntop_nDPI/tls_ech.pcapng", "performance.radar.cloudflare.com", 216),
          ("jiep_pqc-demos/demo-oqs-wireshark/handshake_tls13_x25519mlkem768.pcapng", "cloudflare-ech.com", 21),
          ("OISF_suricata-verify/tls/tls-fin-close-data-01/debug-s13.pcap", "rr4---sn-5hne6nzy.googlevideo.com", 1)]


@pytest.mark.parametrize("path, sni, config_id", OFFERS)
def test_real_offers_mark_the_sni_as_the_outer_name(corpus: Path, path: str, sni: str, config_id: int) -> None:
    report = reports(corpus / path)[0]
    ech = report.to_json()["ech"]
    jsonschema.validate(ech, ECH)
    assert report.connection.sni == sni and ech["outer_sni"] is True
    assert ech["offer"]["config_id"] == config_id and ech["offer"]["ech_type"] == 0
    assert ech["kind"] == "unknown" and ech["accepted"] is None  # no HRR, no key log: the wire cannot tell
    assert "outer (public) name" in ech["evidence"][0]


def test_the_table_and_ladder_say_outer(corpus: Path, capsys) -> None:
    path = str(corpus / OFFERS[0][0])
    main(["analyze", path])
    assert "performance.radar.cloudflare.com (ECH outer)" in capsys.readouterr().out
    main(["ladder", path, "--width", "200"])
    assert "SNI performance.radar.cloudflare.com (ECH outer name) | ECH unknown" in capsys.readouterr().out


def test_no_ech_without_an_offer() -> None:
    for name in ("tls13.pcap", "tls13-hrr.pcap", "tls12-ecdhe.pcap"):
        assert all(r.ech is None and "ech" not in r.to_json() for r in reports(CAPTURES / name))


def _with_ech(conn, ext: Extension):  # noqa: ANN001, ANN202
    """The real connection, its first hello given `ext` as its encrypted_client_hello."""
    hello = conn.client_hellos[0]
    body = dataclasses.replace(hello.body)  # (copy.copy cannot make a compiled class)
    body.extensions = [e for e in hello.body.extensions if e.type != EXT_ENCRYPTED_CLIENT_HELLO] + [ext]
    hello.body = body
    return conn


def test_an_ech_confirmation_in_the_hello_retry_request_means_real_and_accepted(corpus: Path) -> None:
    offer = facts(corpus / OFFERS[0][0])[0].client_hellos[0].body.ext(EXT_ENCRYPTED_CLIENT_HELLO)
    conn, = facts(CAPTURES / "tls13-hrr.pcap")  # a real retry; the server's HRR given an ECH confirmation
    _with_ech(conn, offer)
    hrr = conn.server_hellos[0]
    body = dataclasses.replace(hrr.body)
    body.extensions = [*hrr.body.extensions, Extension(EXT_ENCRYPTED_CLIENT_HELLO, 8, {"length": 8})]
    hrr.body = body
    ech = explain_ech(conn)
    assert ech is not None and (ech.kind, ech.accepted) == ("real", True)


def test_retry_configs_in_encrypted_extensions_mean_not_accepted(corpus: Path) -> None:
    from analyzer.api import load_keylog

    offer = facts(corpus / OFFERS[0][0])[0].client_hellos[0].body.ext(EXT_ENCRYPTED_CLIENT_HELLO)
    conn, = facts(CAPTURES / "tls13.pcap", keylog=load_keylog(CAPTURES / "keys" / "tls13.keys"))
    _with_ech(conn, offer)
    ee = next(e.msg for e in conn.entries if getattr(e, "msg", None) is not None and e.msg.name == "EncryptedExtensions")
    body = dataclasses.replace(ee.body)
    body.extensions = [*ee.body.extensions, Extension(EXT_ENCRYPTED_CLIENT_HELLO, 70, {"length": 70,
                                                                                      "retry_configs": True})]
    ee.body = body
    ech = explain_ech(conn)
    assert ech is not None and (ech.kind, ech.accepted) == ("unknown", False)
    assert any("retry_configs" in line for line in ech.evidence)


def test_an_inner_hello_is_the_destination() -> None:
    conn, = facts(CAPTURES / "tls13.pcap")
    _with_ech(conn, Extension(EXT_ENCRYPTED_CLIENT_HELLO, 1, {"ech_type": 1}))
    ech = explain_ech(conn)
    assert ech is not None and (ech.kind, ech.outer_sni) == ("real", False)
