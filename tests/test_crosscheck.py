"""`crosscheck`: our decode against Wireshark's, through pyshark, on the repo's own captures."""

from __future__ import annotations

import pytest
from conftest import CAPTURES

from analyzer import crosscheck as cc
from analyzer.cli import main
from analyzer.errors import ExitCode
from analyzer.sources import tshark as tshark_source
from analyzer.tls import decoders, extensions

FIXTURES = sorted(p.name for p in CAPTURES.glob("*.pcap*"))


@pytest.mark.parametrize("name", FIXTURES)
def test_no_difference_on_any_fixture(tshark: str, name: str) -> None:
    result = cc.crosscheck(str(CAPTURES / name))
    assert result.differences == []
    assert result.messages > 0 and result.agree == result.messages


def test_starttls_is_decoded_as_its_protocol(tshark: str) -> None:
    assert cc.crosscheck(str(CAPTURES / "tls-starttls-smtp.pcap")).decode_as == {2525: "smtp"}


def test_a_perturbed_decode_is_reported(tshark: str, monkeypatch, capsys) -> None:
    real = extensions.DECODERS[0]

    def wrong_sni(c, kind):  # noqa: ANN001, ANN202
        fields = real(c, kind)
        if "host_name" in fields:
            fields["host_name"] = "perturbed.invalid"
        return fields

    monkeypatch.setitem(extensions.DECODERS, 0, wrong_sni)
    monkeypatch.setattr(extensions, "_INTERNED", {})
    decoders._SHARED.clear()  # hellos decoded before (shared by content) would not be decoded again
    try:
        assert main(["crosscheck", str(CAPTURES / "tls12-ecdhe.pcap")]) == ExitCode.FINDINGS
    finally:
        decoders._SHARED.clear()  # nor should the perturbed ones serve later tests
    out = capsys.readouterr().out
    assert "sni: Wireshark 'example.test', ours 'perturbed.invalid'" in out


def test_missing_tshark_is_exit_3(monkeypatch, capsys) -> None:
    monkeypatch.setattr(tshark_source.shutil, "which", lambda name: None)
    assert main(["crosscheck", str(CAPTURES / "tls13.pcap")]) == ExitCode.BACKEND
    assert capsys.readouterr().err.startswith("error: tshark is not installed")


def test_tshark_quirks_are_modelled() -> None:
    assert cc.as_tshark_shows("a\u202eb\x00rest") == "a\ufffd\ufffd\ufffdb"
