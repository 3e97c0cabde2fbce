"""Profiles and policy files: what each allows, how they weigh findings, and how they fail."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from analyzer.api import load_keylog
from analyzer import registry
from analyzer.analysis import rulebook
from analyzer.analysis.findings import Rule
from analyzer.analysis.rules import rule_ids
from analyzer.analysis.policy_file import POLICY_DIR, PROFILES, load_policy_file, load_profile
from analyzer.cli import main
from analyzer.errors import ExitCode, InputError

from conftest import CAPTURES, ROOT, reports

REFERENCE = ROOT.parent / "shared" / "reference"


def _findings(name: str, policy=None, keys: str | None = None) -> dict[str, str]:  # noqa: ANN001

    keylog = load_keylog(str(CAPTURES / "keys" / keys)) if keys else None
    conn = reports(str(CAPTURES / name), keylog=keylog, policy=policy)[0]
    worst: dict[str, str] = {}
    for f in conn.findings:  # worst first: keep each id's first
        worst.setdefault(f.id, f.severity)
    return worst


@pytest.mark.parametrize("name", PROFILES)
def test_every_profile_loads_and_names_only_known_code_points(name: str) -> None:
    policy = load_profile(name)
    assert policy.name == name
    for codes, name_of in ((policy.versions, registry.version_name), (policy.cipher_suites, registry.cipher_suite_name),
                           (policy.groups, registry.group_name)):
        assert codes is None or all(not name_of(c).startswith("unknown(") for c in codes)
    assert (policy.cipher_suites is None) == (name == "default")
    assert {p.stem for p in POLICY_DIR.glob("*.toml")} == set(PROFILES)  # every file is offered, and only those


def test_mozilla_lists_are_the_guidelines_own() -> None:
    """Counted against the JSON we ship (and against shared/reference's copy when it is there)."""
    doc = json.loads((POLICY_DIR / "mozilla-guidelines-6.0.json").read_text())
    if REFERENCE.exists():
        assert doc == json.loads((REFERENCE / "mozilla-guidelines-6.0.json").read_text())
    inter = doc["configurations"]["intermediate"]
    policy = load_profile("mozilla-intermediate")
    assert len(policy.cipher_suites) == len(inter["ciphersuites"]) + len(inter["ciphers"]["iana"])
    assert {registry.cipher_suite_name(c) for c in policy.cipher_suites} == \
        set(inter["ciphersuites"]) | set(inter["ciphers"]["iana"])
    assert policy.versions == {0x0303, 0x0304}
    assert 0x11EC in policy.groups and 0x0017 in policy.groups  # X25519MLKEM768, prime256v1 = secp256r1
    assert policy.min_dh_bits == 2048 and policy.max_certificate_lifetime_days == 366
    modern = load_profile("mozilla-modern")
    assert modern.versions == {0x0304} and modern.cipher_suites == {0x1301, 0x1302, 0x1303}
    assert modern.certificate_types == {"ecdsa"} and modern.max_certificate_lifetime_days == 90
    old = load_profile("mozilla-old")
    assert old.versions == {0x0301, 0x0302, 0x0303, 0x0304} and 0x000A in old.cipher_suites  # 3DES
    assert old.min_dh_bits == 1024


def test_a_profile_judges_what_was_negotiated() -> None:
    # OpenSSL's TLS 1.2 ECDHE-RSA-AES128-GCM-SHA256 over x25519: intermediate allows it, modern does not
    inter = _findings("tls12-ecdhe.pcap", load_profile("mozilla-intermediate"))
    assert not any(i.startswith("POLICY-") for i in inter)
    modern = _findings("tls12-ecdhe.pcap", load_profile("mozilla-modern"))
    assert {"POLICY-VERSION", "POLICY-SUITE", "POLICY-CERT"} <= set(modern)
    assert "POLICY-GROUP" not in modern  # x25519 is in every list
    # the default profile has no lists at all
    assert not any(i.startswith("POLICY-") for i in _findings("tls12-rsa.pcap"))
    assert "POLICY-SUITE" in _findings("tls12-rsa.pcap", load_profile("mozilla-intermediate"))


def test_certificate_lists_and_lifetime_follow_the_profile_for_tls13_once_decrypted() -> None:
    modern = _findings("tls13.pcap", load_profile("mozilla-modern"), keys="tls13.keys")
    assert modern.get("POLICY-CERT") == "medium"  # an RSA leaf; modern wants ECDSA
    assert "POLICY-VERSION" not in modern and "POLICY-SUITE" not in modern
    assert "POLICY-CERT" not in _findings("tls13.pcap", load_profile("mozilla-modern"))  # no keys: no certificate


def test_mozilla_old_lowers_what_it_deliberately_allows() -> None:
    default = _findings("keyed-tls10-cbc.pcap")
    old = _findings("keyed-tls10-cbc.pcap", load_profile("mozilla-old"))
    assert default["PROTO-TLS10-11"] == "high" and old["PROTO-TLS10-11"] == "low"
    assert default["SUITE-CBC"] == "low" and old["SUITE-CBC"] == "info"
    assert not any(i.startswith("POLICY-") for i in old)  # TLS 1.0 ECDHE-RSA-AES128-SHA is in "old"


def test_policy_file_extends_disables_reweighs_and_sets_thresholds(tmp_path: Path) -> None:
    path = tmp_path / "team.toml"
    path.write_text('extends = "mozilla-intermediate"\n'
                    'disable = ["PROTO-NO-TLS13", "CERT-LONG-LIFETIME"]\n'
                    '[severity]\n"SUITE-STATIC-RSA" = "critical"\n'
                    '[thresholds]\nmin_dh_bits = 3072\n')
    policy = load_policy_file(str(path))
    assert policy.cipher_suites == load_profile("mozilla-intermediate").cipher_suites
    assert "extends mozilla-intermediate" in policy.source
    dhe = _findings("tls12-dhe.pcap", policy)
    assert dhe.get("KX-DH-WEAK") == "high"  # 2048-bit group under a 3072-bit minimum
    assert "KX-DH-WEAK" not in _findings("tls12-dhe.pcap")
    rsa = _findings("tls12-rsa.pcap", policy)
    assert rsa["SUITE-STATIC-RSA"] == "critical" and "PROTO-NO-TLS13" not in rsa and "CERT-LONG-LIFETIME" not in rsa
    allow = tmp_path / "allow.toml"
    allow.write_text('[allow]\ncipher_suites = ["TLS_RSA_WITH_AES_128_GCM_SHA256", "0x1301"]\n'
                     'versions = ["TLSv1.3"]\ngroups = ["secp256r1"]\n')
    allowed = _findings("tls12-rsa.pcap", load_policy_file(str(allow)))
    assert "POLICY-SUITE" not in allowed and allowed["POLICY-VERSION"] == "medium"
    assert _findings("tls12-ecdhe.pcap", load_policy_file(str(allow)))["POLICY-GROUP"] == "low"  # x25519


@pytest.mark.parametrize("text, message", [
    ("extends = 'nope'", "unknown profile 'nope'"),
    ("disable = ['NOPE-1']", "unknown rule id 'NOPE-1'"),
    ("[severity]\nSUITE-RC4 = 'urgent'", "severity of SUITE-RC4 must be one of"),
    ("[allow]\ncipher_suites = ['TLS_MADE_UP']", "unknown cipher suite 'TLS_MADE_UP'"),
    ("[allow]\ncolours = ['red']", "unknown key 'colours' in [allow]"),
    ("[thresholds]\nmin_dh_bits = -1", "thresholds.min_dh_bits must be a non-negative integer"),
    ("speed = 3", "unknown key 'speed'"),
    ("[allow\n", "not valid TOML"),
    ("disable = 'PROTO-SSLV3'", "disable must be a list"),
])
def test_policy_mistakes_are_one_line_errors(tmp_path: Path, text: str, message: str, capsys) -> None:  # noqa: ANN001
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        load_policy_file(str(path))
    assert message in err.value.one_line() and str(path) in err.value.one_line()
    assert main(["analyze", str(CAPTURES / "tls13.pcap"), "--policy", str(path)]) == ExitCode.USAGE
    err_text = capsys.readouterr().err
    assert err_text.startswith("error:") and "Traceback" not in err_text and message in err_text


def test_missing_policy_and_profile_with_policy_are_usage_errors(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    assert main(["analyze", str(CAPTURES / "tls13.pcap"), "--policy", str(tmp_path / "none.toml")]) == ExitCode.USAGE
    assert "no such policy file" in capsys.readouterr().err
    (tmp_path / "p.toml").write_text("")
    assert main(["analyze", str(CAPTURES / "tls13.pcap"), "--policy", str(tmp_path / "p.toml"),
                 "--profile", "mozilla-old"]) == ExitCode.USAGE
    assert "extends" in capsys.readouterr().err


def test_fail_on_follows_the_profile(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    tls10 = str(CAPTURES / "keyed-tls10-cbc.pcap")  # TLS 1.0, CBC; SNI keyed.test on an example.test certificate
    for base, code in (("default", ExitCode.FINDINGS), ("mozilla-old", ExitCode.OK)):
        path = tmp_path / f"{base}.toml"
        path.write_text(f'extends = "{base}"\ndisable = ["CERT-NAME-MISMATCH"]\n')
        assert main(["analyze", tls10, "--fail-on", "high", "--policy", str(path)]) == code
    assert main(["analyze", tls10, "--fail-on", "high", "--profile", "mozilla-old"]) == ExitCode.FINDINGS
    assert main(["analyze", str(CAPTURES / "tls12-ecdhe.pcap"), "--fail-on", "medium",
                 "--profile", "mozilla-intermediate"]) == ExitCode.OK
    assert main(["analyze", str(CAPTURES / "tls12-ecdhe.pcap"), "--fail-on", "medium",
                 "--profile", "mozilla-modern"]) == ExitCode.FINDINGS
    capsys.readouterr()


def test_check_fail_on(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    for name in ("tls13.pcap", "tls12-rsa.pcap"):
        shutil.copy(CAPTURES / name, tmp_path / name)
    assert main(["check", str(tmp_path), "--update"]) == ExitCode.OK
    assert main(["check", str(tmp_path)]) == ExitCode.OK
    assert main(["check", str(tmp_path), "--fail-on", "medium"]) == ExitCode.FINDINGS  # static RSA negotiated
    assert main(["check", str(tmp_path), "--fail-on", "high"]) == ExitCode.OK
    # goldens made under one profile differ under another: the profile is part of what is checked
    assert main(["check", str(tmp_path), "--profile", "mozilla-modern"]) == ExitCode.FINDINGS
    assert "POLICY-" in capsys.readouterr().out


def test_rules_command_shows_the_policy(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    path = tmp_path / "p.toml"
    path.write_text('extends = "mozilla-old"\ndisable = ["KX-NO-PQ"]\n')
    assert main(["rules", "--policy", str(path)]) == ExitCode.OK
    rows = {line.split()[0]: line.split()[1] for line in capsys.readouterr().out.splitlines()[2:]}
    assert rows["KX-NO-PQ"] == "off" and rows["PROTO-TLS10-11"] == "low" and rows["PROTO-SSLV3"] == "critical"
    assert set(rows) == rule_ids()


def test_a_failing_rule_costs_a_warning_not_the_analysis(monkeypatch) -> None:  # noqa: ANN001
    def broken(conn, policy):  # noqa: ANN001, ANN202
        raise ValueError("boom")

    rules = rulebook.all_rules() + (Rule("TEST-BROKEN", "high", "test", "always fails", broken),)
    monkeypatch.setattr(rulebook, "all_rules", lambda: rules)
    conn = reports(str(CAPTURES / "tls12-rsa.pcap"))[0]
    assert "SUITE-STATIC-RSA" in {f.id for f in conn.findings}
    assert any("rule TEST-BROKEN failed: ValueError: boom" in w for w in conn.warnings)


def test_ladder_marks_findings_on_their_rows(capsys) -> None:  # noqa: ANN001
    assert main(["ladder", str(CAPTURES / "tls12-rsa.pcap"), "--ascii", "--profile", "mozilla-intermediate"]) == 0
    lines = capsys.readouterr().out.splitlines()
    sh = next(line for line in lines if "ServerHello " in line or line.rstrip().endswith("ServerHello"))
    assert sh.endswith("1.2; TLS_RSA_WITH_AES_128_GCM_SHA256  ! POLICY-SUITE +1")  # facts whole, the worst mark first
    assert any(line.startswith("  ! ") and "SUITE-STATIC-RSA: static RSA key exchange negotiated" in line for line in lines)
    assert any(line.strip().startswith("! medium   POLICY-SUITE:") for line in lines)
    ch = next(line for line in lines if "ClientHello" in line)
    assert "POLICY-" not in ch


def test_ca_bundle_option(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    bad = tmp_path / "roots.pem"
    bad.write_text("not a certificate")
    assert main(["analyze", str(CAPTURES / "tls13.pcap"), "--ca-bundle", str(bad)]) == ExitCode.USAGE
    assert capsys.readouterr().err.startswith("error:")


def test_replace_keeps_the_cached_cert_view_fresh() -> None:
    policy = load_profile("default")
    assert policy.cert_policy().max_lifetime_days == 398
    assert replace(policy, max_certificate_lifetime_days=90).cert_policy().max_lifetime_days == 90
