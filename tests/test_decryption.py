"""Decrypting handshakes with key logs written by the real peers that made the fixtures
(openssl -keylogfile, Python's keylog_filename): published key-schedule vectors first, then the
captures. Wrong keys must give an error on the connection, never a wrong plaintext."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from analyzer.api import load_keylog
from analyzer.cli import main
from analyzer.errors import ExitCode
from analyzer.sources.pcap import read_frames
from analyzer.sources.pcapng_writer import PcapngWriter
from analyzer.tls import decrypt
from analyzer.tls.keylog import KeyLog

from conftest import CAPTURES, ROOT, facts

KEYS = CAPTURES / "keys"


def test_hkdf_expand_label_matches_rfc8448() -> None:
    # RFC 8448 section 3, "derive write traffic keys for handshake data" (server side)
    secret = bytes.fromhex("b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38")
    assert decrypt.hkdf_expand_label(secret, "key", b"", 16, "SHA256").hex() == "3fce516009c21727d0f2e4e86ee403bc"
    assert decrypt.hkdf_expand_label(secret, "iv", b"", 12, "SHA256").hex() == "5d313eb2671276ee13000b30"


def _messages(name: str, keylog: KeyLog | None = None) -> list:
    conns = facts(str(CAPTURES / name), keylog=keylog)
    return [e.msg for c in conns for e in c.entries if hasattr(e, "msg")]


@pytest.mark.parametrize("name, expected", [
    ("tls13", ["EncryptedExtensions", "Certificate", "CertificateVerify", "Finished", "NewSessionTicket"]),
    ("tls13-hrr", ["EncryptedExtensions", "Certificate", "CertificateVerify", "Finished"]),
    ("tls13-mtls", ["CertificateRequest", "Certificate", "CertificateVerify", "Finished"]),
    ("tls13-python-ssl", ["EncryptedExtensions", "Certificate", "Finished"]),
    ("tls13-0rtt", ["EndOfEarlyData", "Finished"]),
    ("tls12-ecdhe", ["Finished"]),
    ("tls12-dhe", ["Finished"]),
    ("tls12-rsa", ["Finished"]),  # static RSA: also decryptable from the RSA premaster line
    ("tls12-mtls", ["Finished"]),
])
def test_fixture_flights_decrypt(name: str, expected: list[str]) -> None:
    before = [m.name for m in _messages(f"{name}.pcap") if m.decrypted]
    assert before == []
    msgs = _messages(f"{name}.pcap", load_keylog(str(KEYS / f"{name}.keys")))
    decrypted = [m.name for m in msgs if m.decrypted]
    for message in expected:
        assert message in decrypted, (message, decrypted)
    assert all(not m.encrypted for m in msgs if m.decrypted)
    finished = [m for m in msgs if m.name == "Finished"]
    assert {m.side for m in finished} == {0, 1} and all(m.length in (12, 32, 48) for m in finished)


def test_tls13_certificates_become_visible() -> None:
    keys = load_keylog(str(KEYS / "tls13.keys"))
    conn = facts(str(CAPTURES / "tls13.pcap"), keylog=keys)[0]
    assert conn.certificates and conn.certificates[0][:2] == b"\x30\x82"


def test_accepted_early_data_is_known_once_decrypted() -> None:
    keys = load_keylog(str(KEYS / "tls13-0rtt.keys"))
    conns = facts(str(CAPTURES / "tls13-0rtt.pcap"), keylog=keys)
    assert [c.early_data_accepted for c in conns] == [None, True]
    assert [c.early_data_accepted for c in facts(str(CAPTURES / "tls13-0rtt.pcap"))] == [None, None]


def test_wrong_keys_are_reported_and_never_give_plaintext(tmp_path: Path) -> None:
    real = (KEYS / "tls13.keys").read_text().splitlines()
    wrong = "\n".join(f"{line.split()[0]} {line.split()[1]} {'00' * (len(line.split()[2]) // 2)}" for line in real)
    keys = KeyLog()
    keys.add_text(wrong)
    conn = facts(str(CAPTURES / "tls13.pcap"), keylog=keys)[0]
    assert not any(getattr(e, "msg", None) is not None and e.msg.decrypted for e in conn.entries)
    assert any("cannot decrypt" in w for w in conn.warnings)
    assert conn.version == 0x0304 and conn.sni == "example.test"  # the rest of the analysis goes on


def test_secrets_embedded_in_pcapng_are_used(tmp_path: Path) -> None:
    target = tmp_path / "with-secrets.pcapng"
    frames = list(read_frames(str(CAPTURES / "tls13.pcap")))
    with target.open("wb") as fh:
        w = PcapngWriter(fh, frames[0].linktype)
        w.secrets((KEYS / "tls13.keys").read_bytes())
        for f in frames:
            w.write(f.ts, f.data)
    msgs = [e.msg for c in facts(str(target)) for e in c.entries if hasattr(e, "msg")]
    assert "Certificate" in [m.name for m in msgs if m.decrypted]


def test_cli_keylog_and_env_and_no_secret_in_output(tmp_path: Path) -> None:
    keyfile = KEYS / "tls13.keys"
    secrets = [line.split()[2] for line in keyfile.read_text().splitlines() if line.strip()]
    cmd = [sys.executable, str(ROOT / "cli.py")]
    p = subprocess.run(cmd + ["analyze", str(CAPTURES / "tls13.pcap"), "--format", "json", "--keylog", str(keyfile)],
                       capture_output=True, timeout=60)
    assert p.returncode == 0
    doc = json.loads(p.stdout)
    assert any(m["decrypted"] for m in doc["connections"][0]["messages"])
    ladder = subprocess.run(cmd + ["ladder", str(CAPTURES / "tls13.pcap"), "--keylog", str(keyfile)],
                            capture_output=True, timeout=60).stdout.decode()
    for secret in secrets:
        assert secret not in p.stdout.decode() and secret not in ladder
    env = subprocess.run(cmd + ["analyze", str(CAPTURES / "tls13.pcap"), "--format", "json"], capture_output=True,
                         timeout=60, env={"SSLKEYLOGFILE": str(keyfile), "PATH": "/usr/bin:/bin"})
    assert b"notice: decrypting with the key log named by SSLKEYLOGFILE" in env.stderr
    assert json.loads(env.stdout) == doc


def test_missing_keylog_is_a_one_line_error(capsys) -> None:
    assert main(["analyze", str(CAPTURES / "tls13.pcap"), "--keylog", "/nonexistent.keys"]) == ExitCode.USAGE
    assert capsys.readouterr().err.startswith("error: key log /nonexistent.keys: no such file")


def test_corpus_rc4_and_cbc_sessions_decrypt(corpus: Path) -> None:
    """Wireshark's own test capture of many TLS 1.2 suites (RC4, AES-CBC, 3DES, GCM) with its key log."""
    folder = corpus / "Lekensteyn_wireshark-notes" / "tls" / "works"
    keys = load_keylog(str(folder / "premaster.txt"))
    conns = facts(str(folder / "dump.pcapng"), keylog=keys)
    suites = {c.cipher_suite for c in conns if any(getattr(e, "msg", None) is not None and e.msg.decrypted
                                                   and e.msg.name == "Finished" for e in c.entries)}
    assert {0x0005, 0x0004} & suites  # RC4-SHA / RC4-MD5


@pytest.mark.parametrize("name, suite, etm", [
    ("keyed-tls13-chacha20", 0x1303, None), ("keyed-tls13-aes128-ccm", 0x1304, None),
    ("keyed-tls13-aes128-ccm8", 0x1305, None), ("keyed-tls12-chacha20", 0xCCA8, None),
    ("keyed-tls12-aes128-ccm", 0xC09C, None), ("keyed-tls12-aes128-ccm8", 0xC0A0, None),
    ("keyed-tls12-cbc-etm", 0xC027, True), ("keyed-tls12-cbc-mte", 0xC027, False),
    ("keyed-tls10-cbc", 0xC013, None),  # TLS 1.0: implicit IVs chained record to record
    ("keyed-tls10-cbc-mte", 0xC013, False), ("keyed-tls11-cbc-mte", 0xC014, False),
    ("keyed-tls12-cbc-sha1-etm", 0x0035, True), ("keyed-tls12-cbc-sha1-mte", 0x0035, False),
    ("keyed-tls12-cbc-sha384", 0xC028, False), ("keyed-tls12-camellia", 0xC076, None),
    ("keyed-tls12-3des-etm", 0xC012, True), ("keyed-tls12-3des-mte", 0xC012, False),
    ("keyed-tls12-null", 0xC010, None),  # integrity only: the MAC is checked, nothing is hidden
])
def test_every_cipher_family_decrypts(name: str, suite: int, etm: bool | None) -> None:
    keys = load_keylog(str(KEYS / f"{name}.keys"))
    conn = facts(str(CAPTURES / f"{name}.pcap"), keylog=keys)[0]
    assert conn.cipher_suite == suite and not conn.warnings
    if etm is not None:
        assert (conn.server_hellos[0].body.ext(22) is not None) is etm  # encrypt_then_mac negotiated or not
    decrypted = [e for e in conn.entries if getattr(e, "decrypted", False) or getattr(getattr(e, "msg", None), "decrypted", False)]
    names = [getattr(e, "msg", e).name for e in decrypted]
    assert names.count("Finished") == 2 and "ApplicationData" in names and "Alert" in names


def _decrypted_names(conn) -> list[str]:  # noqa: ANN001
    return [getattr(e, "msg", e).name for e in conn.entries
            if getattr(e, "decrypted", False) or getattr(getattr(e, "msg", None), "decrypted", False)]


def test_rsa_lines_alone_decrypt_an_extended_master_secret_session() -> None:
    """OpenSSL logs `RSA <encrypted premaster> <premaster>` for static RSA; with extended_master_secret
    the master secret hashes the handshake up to ClientKeyExchange, which the record layer keeps."""
    for name in ("tls12-rsa", "keyed-tls12-cbc-sha1-mte"):
        lines = (KEYS / f"{name}.keys").read_text().splitlines()
        keys = KeyLog()
        keys.add_text("\n".join(line for line in lines if line.startswith("RSA ")))
        assert keys.rsa and not keys.secrets
        conn = facts(str(CAPTURES / f"{name}.pcap"), keylog=keys)[0]
        assert conn.server_hellos[0].body.ext(23) is not None  # EMS negotiated
        assert _decrypted_names(conn).count("Finished") == 2 and not conn.warnings


def test_renegotiation_switches_to_the_new_keys_at_each_change_cipher_spec() -> None:
    keys = load_keylog(str(KEYS / "keyed-tls12-renegotiation.keys"))
    assert len(keys.secrets) == 2  # one master secret per handshake
    conn = facts(str(CAPTURES / "keyed-tls12-renegotiation.pcap"), keylog=keys)[0]
    names = _decrypted_names(conn)
    assert names.count("ClientHello") == 1 and names.count("Finished") == 4 and names.count("ApplicationData") == 2
    assert conn.renegotiation and conn.complete and not conn.warnings
    # without the second handshake's secret, what follows its ChangeCipherSpecs is opaque and said so
    first_only = KeyLog()
    first_only.add_text("\n".join(line for line in (KEYS / "keyed-tls12-renegotiation.keys").read_text().splitlines()
                                  if conn.client_hellos[0].body.random.hex() in line))
    conn = facts(str(CAPTURES / "keyed-tls12-renegotiation.pcap"), keylog=first_only)[0]
    assert _decrypted_names(conn).count("Finished") == 2 and "ClientHello" in _decrypted_names(conn)
    assert not any("cannot decrypt" in w for w in conn.warnings)  # opaque, not garbage


def test_null_cipher_records_are_checked_by_their_mac(tmp_path: Path) -> None:
    keys = load_keylog(str(KEYS / "keyed-tls12-null.keys"))
    wrong = KeyLog()
    wrong.add_text("\n".join(f"{p[0]} {p[1]} {'00' * 48}" for p in (line.split() for line in
                   (KEYS / "keyed-tls12-null.keys").read_text().splitlines()) if len(p) == 3 and p[0] == "CLIENT_RANDOM"))
    good = facts(str(CAPTURES / "keyed-tls12-null.pcap"), keylog=keys)[0]
    bad = facts(str(CAPTURES / "keyed-tls12-null.pcap"), keylog=wrong)[0]
    plain = facts(str(CAPTURES / "keyed-tls12-null.pcap"))[0]
    assert _decrypted_names(good).count("Finished") == 2 and not good.warnings
    assert any("MAC" in w for w in bad.warnings)  # a wrong key is caught by the MAC
    assert plain.history.count("F") == 1 and not plain.warnings  # without keys: read in the clear, MAC unchecked


def test_corpus_decrypted_messages_agree_with_tshark(corpus: Path) -> None:
    """Every TCP handshake message tshark decrypts (with the corpus key logs, derived ones too) we
    decrypt at the same frame and type. The one exception class, checked by rule not by frame:
    RC2-40 export sessions (cryptography offers no RC2 effective-key-bits parameter)."""
    from analyzer import registry

    total = found = 0
    unexplained = []
    for oracle in sorted(corpus.rglob("*.tshark-decrypted.json")):
        capture = Path(str(oracle)[: -len(".tshark-decrypted.json")])
        keyfiles = [corpus / owner / path for local, owner, path in _manifest_keylogs(corpus)
                    if corpus / local == capture] + sorted(capture.parent.glob(f"{capture.name}*keylog*"))
        keys = KeyLog()
        for k in keyfiles:
            keys.add_text(k.read_text(errors="replace"))
        conns = facts(str(capture), keylog=keys if len(keys) else None)
        ours = {(e.msg.frame, e.msg.type): c for c in conns for e in c.entries
                if getattr(e, "msg", None) is not None and e.msg.type is not None and not e.msg.encrypted}
        by_frame = {f: c for c in conns for f in range(c.first_frame, c.last_frame + 1)}
        for h in json.loads(oracle.read_text())["handshakes"]:
            if h.get("transport") != "tcp" or h.get("proto") not in ("tls", "sslv2") \
                    or not isinstance(h.get("handshake_type"), int):
                continue
            total += 1
            if (h["frame"], h["handshake_type"]) in ours:
                found += 1
                continue
            conn = by_frame.get(h["frame"])
            suite = registry.cipher_suite(conn.cipher_suite) if conn and conn.cipher_suite is not None else None
            if not (suite and suite.cipher == "RC2"):
                unexplained.append(f"{capture.name} frame {h['frame']} type {h['handshake_type']}")
    assert not unexplained, unexplained[:20]
    assert found / total > 0.99


def _manifest_keylogs(corpus: Path) -> list[tuple[str, str, str]]:
    """(capture path, owner folder, key log path) from MANIFEST.tsv's "yes (path)" column."""
    rows = []
    for line in (corpus / "MANIFEST.tsv").read_text().splitlines()[1:]:
        f = line.split("\t")
        if len(f) > 7 and f[7].startswith("yes ("):
            rows.append((f[2], f[2].split("/")[0], f[7][5:-1]))
    return rows


def test_show_secrets_is_the_only_way_secrets_get_out(capsysbinary) -> None:
    keyfile = str(KEYS / "tls13.keys")
    secret = next(line.split()[2] for line in (KEYS / "tls13.keys").read_text().splitlines()
                  if line.startswith("SERVER_TRAFFIC_SECRET_0"))
    assert main(["analyze", str(CAPTURES / "tls13.pcap"), "--keylog", keyfile, "--format", "json"]) == 0
    assert secret.encode() not in capsysbinary.readouterr().out
    assert main(["analyze", str(CAPTURES / "tls13.pcap"), "--keylog", keyfile, "--format", "json", "--show-secrets"]) == 0
    doc = json.loads(capsysbinary.readouterr().out)
    assert doc["connections"][0]["secrets"]["SERVER_TRAFFIC_SECRET_0"] == secret
