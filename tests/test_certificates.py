"""Certificate rules: on real handshakes (captures/scripts/make_cert_captures.py), on chains built here
with `cryptography`, on hostile DER; the RFC 6125 matcher; the parse cache; CA bundles."""

from __future__ import annotations

import ipaddress
import random
import warnings
from datetime import datetime, timedelta
from pathlib import Path

import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from analyzer.api import load_keylog
from analyzer.analysis import certinfo as certs
from analyzer.analysis.case import Case
from analyzer.analysis.certificates import CERT_RULES
from analyzer.analysis.policy import CertPolicy
from analyzer.analysis.certinfo import certificate_summary, load_ca_bundle, parse_certificate
from analyzer.analysis.hostnames import dns_name_matches, name_matches
from analyzer.errors import InputError
from analyzer.model import Connection, Entry
from analyzer.net.flows import Endpoint
from analyzer.tls.events import Message
from analyzer.tls.messages import Certificate, CertificateEntry

from conftest import CAPTURES, facts
from pki import NOW, Pki, common_name, der

RULES = {r.id: r for r in CERT_RULES}
SEVERITIES = ("info", "low", "medium", "high", "critical")


def ctx(**kw) -> Case:
    return Case(cert=CertPolicy(**kw))


def hits(conn: Connection, context: Case | None = None) -> dict[str, list[tuple]]:
    """{rule id: [(title, scope, frame, evidence), ...]} for the rules that fired."""
    out: dict[str, list[tuple]] = {}
    case = Case(cert=context.cert) if context is not None else ctx()  # (a fresh memo for this connection)
    for rule in CERT_RULES:
        found = list(rule.check(conn, case))
        if found:
            out[rule.id] = found
    return out


def capture(name: str, keys: bool = True) -> Connection:
    keyfile = CAPTURES / "keys" / f"{name}.keys"
    keylog = load_keylog(str(keyfile)) if keys and keyfile.exists() else None
    conns = facts(str(CAPTURES / f"{name}.pcap"), keylog=keylog)
    assert len(conns) == 1
    return conns[0]


def certificate_frame(conn: Connection, side: str) -> int:
    frames = [e.msg.frame for e in conn.entries
              if isinstance(e, Entry) and e.side == side and isinstance(e.msg.body, Certificate)]
    assert frames
    return frames[0]


# --- real handshakes ---------------------------------------------------------------------------------

CAPTURE_EXPECTATIONS = {  # capture -> exactly the certificate rules it must fire (default policy)
    "cert-expired": {"CERT-EXPIRED"},
    "cert-not-yet-valid": {"CERT-NOT-YET-VALID"},
    "cert-expiring-soon": {"CERT-EXPIRING-SOON"},
    "cert-rsa1024-sha1-selfsigned": {"CERT-SELF-SIGNED", "CERT-WEAK-KEY", "CERT-SHA1-SIGNATURE"},
    "cert-md5": {"CERT-WEAK-SIGNATURE"},
    "cert-name-mismatch": {"CERT-NAME-MISMATCH"},
    "cert-wildcard-ok": set(),
    "cert-chain-out-of-order": {"CERT-CHAIN-ORDER"},
    "cert-chain-incomplete": {"CERT-CHAIN-INCOMPLETE"},
    "cert-long-lifetime": {"CERT-LONG-LIFETIME"},
    "cert-ec-p224": {"CERT-WEAK-KEY"},
    "cert-tls13-expired": {"CERT-EXPIRED"},
    "cert-client-expired": {"CERT-EXPIRED"},
}


@pytest.mark.parametrize("name, expected", sorted(CAPTURE_EXPECTATIONS.items()))
def test_each_capture_fires_exactly_its_rules(name: str, expected: set[str]) -> None:
    conn = capture(name)
    assert conn.certificates, "no server certificates seen"
    found = hits(conn)
    assert set(found) == expected
    for rule_id, items in found.items():
        for title, scope, frame, evidence in items:
            side = evidence["side"]
            assert scope == "negotiated" and frame == certificate_frame(conn, side)
            assert title and "\n" not in title
            orjson.dumps(evidence)  # JSON-ready


def test_time_is_the_capture_time_not_today() -> None:
    conn = capture("cert-expired")
    (_, _, _, ev), = hits(conn)["CERT-EXPIRED"]
    assert ev["not_after"] == "2001-01-01T00:00:00Z" and ev["position"] == 0 and ev["subject_cn"] == "expired.test"
    checked = datetime.fromisoformat(ev["checked_at"].replace("Z", "+00:00")).timestamp()
    assert conn.first_ts <= checked <= conn.last_ts
    (_, _, _, ev), = hits(capture("cert-not-yet-valid"))["CERT-NOT-YET-VALID"]
    assert ev["not_before"] == "2090-01-01T00:00:00Z"
    (_, _, _, ev), = hits(capture("cert-expiring-soon"))["CERT-EXPIRING-SOON"]
    assert 0 <= ev["days_left"] < 30
    assert "CERT-EXPIRING-SOON" not in hits(capture("cert-expiring-soon"), ctx(expiring_soon_days=5))


def test_tls13_certificates_are_judged_once_decrypted() -> None:
    assert capture("cert-tls13-expired", keys=False).certificates == []  # encrypted: nothing to judge
    conn = capture("cert-tls13-expired")
    assert conn.tls13 and len(conn.certificates) == 2
    (title, _, frame, ev), = hits(conn)["CERT-EXPIRED"]
    assert frame == certificate_frame(conn, "server") and ev["side"] == "server"


def test_client_certificates_are_judged_with_their_side() -> None:
    conn = capture("cert-client-expired")
    (title, scope, frame, ev), = hits(conn)["CERT-EXPIRED"]
    assert ev["side"] == "client" and title.startswith("client") and frame == certificate_frame(conn, "client")


def test_weak_keys_and_signatures_carry_their_facts() -> None:
    found = hits(capture("cert-rsa1024-sha1-selfsigned"))
    assert found["CERT-WEAK-KEY"][0][3]["key_type"] == "RSA" and found["CERT-WEAK-KEY"][0][3]["key_bits"] == 1024
    assert found["CERT-SHA1-SIGNATURE"][0][3]["signature_hash"] == "sha1"
    found = hits(capture("cert-ec-p224"))
    assert found["CERT-WEAK-KEY"][0][3]["curve"] == "secp224r1"
    assert "CERT-WEAK-KEY" not in hits(capture("cert-ec-p224"), ctx(min_ec_bits=224))
    (_, _, _, ev), = hits(capture("cert-md5"))["CERT-WEAK-SIGNATURE"]
    assert ev["signature_hash"] == "md5" and ev["position"] == 0


def test_chain_order_names_the_misplaced_issuer() -> None:
    (title, _, _, ev), = hits(capture("cert-chain-out-of-order"))["CERT-CHAIN-ORDER"]
    assert ev["violations"][0] == {"position": 0, "issuer_position": 2}
    assert ev["order"] == ["deep.test", "Cert Fixture Intermediate CA", "Cert Fixture Issuing CA"]


def test_name_mismatch_evidence() -> None:
    (_, _, _, ev), = hits(capture("cert-name-mismatch"))["CERT-NAME-MISMATCH"]
    assert ev["sni"] == "other.test" and ev["san_dns"] == ["good.test"] and ev["sni_is_ip"] is False


def test_modern_fixtures_stay_quiet() -> None:
    # make_captures.py's leaves are valid for 3650 days: only the CA/B Forum lifetime rule may speak
    for name in ("tls13", "tls13-mtls", "tls12-ecdhe", "tls12-mtls", "tls13-python-ssl"):
        conn = capture(name)
        assert conn.certificates, name
        assert set(hits(conn)) <= {"CERT-LONG-LIFETIME"}, name
        assert hits(conn, ctx(max_lifetime_days=4000)) == {}, name


# --- trust ------------------------------------------------------------------------------------------

def fixture_root() -> x509.Certificate:
    """The cert captures' root: cert-wildcard-ok sends it (its key is the same on every run)."""
    der = capture("cert-wildcard-ok").certificates[-1]
    root = x509.load_der_x509_certificate(der)
    assert root.subject == root.issuer
    return root


@pytest.mark.parametrize("name, untrusted", [
    ("cert-wildcard-ok", False),
    ("cert-chain-out-of-order", False),  # the walk reorders
    ("cert-expired", False),  # the verifier refuses the date; that is CERT-EXPIRED's finding
    ("cert-md5", False),  # the verifier refuses MD5; that is CERT-WEAK-SIGNATURE's finding
    ("cert-name-mismatch", False),
    ("cert-chain-incomplete", True),
    ("cert-rsa1024-sha1-selfsigned", True),
])
def test_untrusted_with_the_fixture_root(name: str, untrusted: bool) -> None:
    found = hits(capture(name), ctx(ca_roots=(fixture_root(),)))
    assert ("CERT-UNTRUSTED" in found) is untrusted
    if untrusted:
        assert found["CERT-UNTRUSTED"][0][3]["verifier"]


def test_untrusted_with_another_root_and_silent_without_roots() -> None:
    conn = capture("cert-wildcard-ok")
    other = Pki("Unrelated Root").root
    found = hits(conn, ctx(ca_roots=(other,)))
    assert "CERT-UNTRUSTED" in found and "CERT-CHAIN-INCOMPLETE" not in found  # ends at a self-signed root
    assert "CERT-UNTRUSTED" not in hits(conn)  # no roots: trust is not judged
    assert "CERT-UNTRUSTED" in hits(conn, ctx(ca_roots=()))  # an empty bundle trusts nothing


def test_a_tls13_chain_never_seen_is_said_not_judged_with_a_ca_bundle() -> None:
    """Without keys a TLS 1.3 server chain is encrypted: with a CA bundle, say it was not judged."""
    roots = ctx(ca_roots=(fixture_root(),))
    hidden = capture("cert-tls13-good", keys=False)
    assert not hidden.certificates
    [(title, scope, frame, evidence)] = hits(hidden, roots)["CERT-NOT-VISIBLE"]
    assert "not judged against the CA bundle" in title and evidence == {"visible": False}
    assert "CERT-NOT-VISIBLE" not in hits(hidden)  # no bundle: nothing was asked of the chain
    assert "CERT-NOT-VISIBLE" not in hits(capture("cert-tls13-good"), roots)  # decrypted: judged
    resumed = facts(str(CAPTURES / "tls13-psk-resumption.pcap"))[1]
    assert resumed.resumed == "psk" and "CERT-NOT-VISIBLE" not in hits(resumed, roots)  # no chain is sent


# --- chains built here ---------------------------------------------------------------------------------

def connection(chain: list[bytes], *, sni: str | None = "www.test", at: datetime = NOW,
               client_chain: list[bytes] | None = None) -> Connection:
    ts = at.timestamp()
    conn = Connection(id=1, client=Endpoint("127.0.0.1", 40000), server=Endpoint("127.0.0.1", 443), role_source="port",
                      first_frame=1, last_frame=9, first_ts=ts - 1, last_ts=ts + 1, tls=True, sni=sni)
    for side, frame, ders in (("server", 4, chain), ("client", 7, client_chain)):
        if ders is None:
            continue
        body = Certificate([CertificateEntry(d) for d in ders])
        msg = Message(side=0 if side == "client" else 1, frame=frame, ts=ts, content_type=22, record_version=0x0303,
                      type=11, name="Certificate", encrypted=False, length=sum(map(len, ders)), body=body)
        conn.entries.append(Entry(side=side, msg=msg))
    conn.certificates = list(chain)
    conn.client_certificates = list(client_chain or [])
    return conn


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki()


def test_a_good_chain_is_quiet_and_trusted(pki: Pki) -> None:
    conn = connection([der(pki.leaf()), der(pki.inter)])
    assert hits(conn) == {}
    assert hits(conn, ctx(ca_roots=(pki.root,))) == {}
    found = hits(conn, ctx(ca_roots=(Pki("Other").root,)))
    assert set(found) == {"CERT-UNTRUSTED", "CERT-CHAIN-INCOMPLETE"}


def test_forged_and_non_ca_issuers_are_untrusted(pki: Pki) -> None:
    # a leaf naming the intermediate as issuer, signed by some other key
    forged = Pki.issue(common_name("www.test"), ec.generate_private_key(ec.SECP256R1()), pki.inter,
                       ec.generate_private_key(ec.SECP256R1()), sans=[x509.DNSName("www.test")])
    found = hits(connection([der(forged), der(pki.inter)]), ctx(ca_roots=(pki.root,)))
    assert "CERT-UNTRUSTED" in found
    # an "intermediate" that is not a CA
    not_ca_key = ec.generate_private_key(ec.SECP256R1())
    not_ca = Pki.issue(common_name("Not A CA"), not_ca_key, pki.root, pki.root_key, ca=True, ca_flag=False)
    leaf = Pki.issue(common_name("www.test"), ec.generate_private_key(ec.SECP256R1()), not_ca, not_ca_key,
                     sans=[x509.DNSName("www.test")])
    assert "CERT-UNTRUSTED" in hits(connection([der(leaf), der(not_ca)]), ctx(ca_roots=(pki.root,)))


def test_validity_boundaries(pki: Pki) -> None:
    leaf = pki.leaf(not_before=NOW - timedelta(days=10), not_after=NOW + timedelta(days=10))
    chain = [der(leaf), der(pki.inter)]
    after = leaf.not_valid_after_utc
    before = leaf.not_valid_before_utc
    assert "CERT-EXPIRED" not in hits(connection(chain, at=after))  # notAfter is inclusive
    assert "CERT-EXPIRED" in hits(connection(chain, at=after + timedelta(seconds=1)))
    assert "CERT-NOT-YET-VALID" not in hits(connection(chain, at=before))
    assert "CERT-NOT-YET-VALID" in hits(connection(chain, at=before - timedelta(seconds=1)))
    assert "CERT-EXPIRING-SOON" in hits(connection(chain, at=after - timedelta(days=29)))
    assert "CERT-EXPIRING-SOON" not in hits(connection(chain, at=after - timedelta(days=31)))
    assert "CERT-EXPIRING-SOON" not in hits(connection(chain, at=after + timedelta(days=1)))  # expired instead


def test_lifetime_boundary(pki: Pki) -> None:
    start = NOW - timedelta(days=100)
    ok = pki.leaf(not_before=start, not_after=start + timedelta(days=398) - timedelta(seconds=1))
    long = pki.leaf(not_before=start, not_after=start + timedelta(days=398))
    assert "CERT-LONG-LIFETIME" not in hits(connection([der(ok), der(pki.inter)]))
    (_, _, _, ev), = hits(connection([der(long), der(pki.inter)]))["CERT-LONG-LIFETIME"]
    assert ev["lifetime_days"] == 398  # 398 days and a second, inclusive of both ends
    assert "CERT-LONG-LIFETIME" not in hits(connection([der(pki.inter)]))  # a CA is not a subscriber cert


def test_self_signed_and_incomplete(pki: Pki) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    selfsigned = Pki.issue(common_name("www.test"), key, None, None, sans=[x509.DNSName("www.test")])
    found = hits(connection([der(selfsigned)]))
    assert set(found) == {"CERT-SELF-SIGNED"}
    # same names, wrong key: self-issued but not self-signed
    liar = Pki.issue(common_name("www.test"), key, selfsigned, ec.generate_private_key(ec.SECP256R1()),
                     sans=[x509.DNSName("www.test")])
    assert not parse_certificate(der(liar)).self_signed and parse_certificate(der(liar)).self_issued
    # leaf only, issued by the intermediate: incomplete; by the root directly, with the root known: complete
    assert "CERT-CHAIN-INCOMPLETE" in hits(connection([der(pki.leaf())]))
    by_root = pki.leaf(issuer="root")
    assert "CERT-CHAIN-INCOMPLETE" not in hits(connection([der(by_root)]), ctx(ca_roots=(pki.root,)))
    assert "CERT-CHAIN-INCOMPLETE" not in hits(connection([der(pki.leaf()), der(pki.inter)]))  # ends at a CA


def test_chain_order_unrelated_certificate(pki: Pki) -> None:
    stranger = Pki("Stranger").inter
    (_, _, _, ev), = hits(connection([der(pki.leaf()), der(stranger), der(pki.inter)]))["CERT-CHAIN-ORDER"]
    assert ev["violations"][0] == {"position": 0, "issuer_position": 2}
    assert ev["violations"][1]["position"] == 1 and "issuer_position" not in ev["violations"][1]


def test_name_rule_on_chains(pki: Pki) -> None:
    assert "CERT-NAME-MISMATCH" in hits(connection([der(pki.leaf("a.test")), der(pki.inter)], sni="b.test"))
    assert "CERT-NAME-MISMATCH" not in hits(connection([der(pki.leaf("a.test")), der(pki.inter)], sni="A.TEST."))
    assert "CERT-NAME-MISMATCH" not in hits(connection([der(pki.leaf("a.test")), der(pki.inter)], sni=None))
    cn_only = pki.leaf("cn.test", sans=None)
    assert "CERT-NAME-MISMATCH" not in hits(connection([der(cn_only), der(pki.inter)], sni="cn.test"))
    ip_only = pki.leaf("cn.test", sans=[x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    assert "CERT-NAME-MISMATCH" in hits(connection([der(ip_only), der(pki.inter)], sni="cn.test"))  # no CN fallback
    (_, _, _, ev), = hits(connection([der(ip_only), der(pki.inter)], sni="127.0.0.2"))["CERT-NAME-MISMATCH"]
    assert ev["sni_is_ip"] is True
    assert "CERT-NAME-MISMATCH" not in hits(connection([der(ip_only), der(pki.inter)], sni="127.0.0.1"))


def test_long_san_lists_and_strings_are_capped(pki: Pki) -> None:
    sans = [x509.DNSName(f"n{i}.test") for i in range(300)] + [x509.DNSName("x" * 60 + "." + "y" * 60 + ".test")]
    leaf = pki.leaf("n0.test", sans=sans)
    (_, _, _, ev), = hits(connection([der(leaf), der(pki.inter)], sni="other.test"))["CERT-NAME-MISMATCH"]
    assert len(ev["san_dns"]) == certs.LIST_MAX and ev["san_count"] == 301
    hostile_cn = "\x1b[31mred\u202e" + "A" * 1000
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cryptography warns about the over-long CN we want
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostile_cn, _validate=False)])
    leaf = Pki.issue(name, ec.generate_private_key(ec.SECP256R1()), pki.inter, pki.inter_key, sans=[])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and the analyzer must not warn on it
        summary = certificate_summary(der(leaf))
    assert summary["notes"] and "length" in summary["notes"][0]
    assert summary["subject_cn"] == hostile_cn[:certs.STR_MAX]  # kept as str (renderers sanitise), capped
    assert all(len(v) <= certs.STR_MAX for v in summary.values() if isinstance(v, str))
    orjson.dumps(summary)


def test_summary() -> None:
    conn = capture("cert-wildcard-ok")
    s = certificate_summary(conn.certificates[0])
    assert s["san_dns"] == ["*.example.test"] and s["key_type"] == "ECDSA" and s["curve"] == "secp256r1"
    assert s["signature_algorithm"] == "ecdsa-with-SHA256" and s["signature_hash"] == "sha256"
    assert s["ca"] is False and s["self_signed"] is False and len(s["sha256"]) == 64
    assert certificate_summary(conn.certificates[2])["self_signed"] is True
    bad = certificate_summary(b"\x30\x03\x02\x01\x01")
    assert set(bad) == {"sha256", "length", "error"}
    orjson.dumps(s)


# --- RFC 6125 matching -------------------------------------------------------------------------------

@pytest.mark.parametrize("reference, presented, ok", [
    ("www.example.com", "www.example.com", True),
    ("WWW.Example.COM", "www.example.com", True),
    ("www.example.com.", "www.example.com", True),
    ("www.example.com", "WWW.EXAMPLE.COM.", True),
    ("www.example.com", "example.com", False),
    ("foo.example.com", "*.example.com", True),
    ("bar.foo.example.com", "*.example.com", False),  # exactly one label
    ("example.com", "*.example.com", False),
    (".example.com", "*.example.com", False),
    ("foo.com", "*.com", False),  # no wildcard over a 2-label name
    ("foo.example.com", "f*.example.com", False),  # partial-label wildcards are not honoured
    ("foo.example.com", "*oo.example.com", False),
    ("foo.bar.example.com", "foo.*.example.com", False),
    ("foo.bar.example.com", "*.*.example.com", False),
    ("foo.example.com", "*", False),
    ("foo.example.com", "*.", False),
    ("xn--bcher-kva.example.com", "*.example.com", True),
    ("xn--bcher-kva.example.com", "xn--bcher-kva.example.com", True),
    ("bücher.example.com", "xn--bcher-kva.example.com", False),  # an SNI is ASCII (RFC 6066 3)
    ("xn--bcher-kva.example.com", "bücher.example.com", False),  # U-labels in certificates never match
    ("k.example.com", "\u212a.example.com", False),  # KELVIN SIGN is not 'k'
    ("\u212a.example.com", "k.example.com", False),
    ("a..example.com", "a..example.com", False),
    ("", "", False),
    ("127.0.0.1", "127.0.0.1", False),  # IP references never match DNS identifiers
    ("10.0.0.1", "*.0.0.1", False),
])
def test_dns_name_matching(reference: str, presented: str, ok: bool) -> None:
    assert dns_name_matches(reference, presented) is ok


def test_name_matching_sources() -> None:
    assert name_matches("a.test", None, (), "a.test")  # no SAN extension: the CN
    assert not name_matches("a.test", [], (), "a.test")  # a SAN extension: never the CN
    assert not name_matches("a.test", ["b.test"], (), "a.test")
    assert name_matches("a.test", ["b.test", "A.TEST"])
    assert name_matches("127.0.0.1", [], ["127.0.0.1"])
    assert name_matches("::1", [], ["0:0:0:0:0:0:0:1"])
    assert name_matches("[::1]", [], ["::1"])
    assert not name_matches("127.0.0.1", ["127.0.0.1"], [])
    assert not name_matches("127.0.0.1", None, [], "127.0.0.1")


# --- hostile input -------------------------------------------------------------------------------------

def run_all(conn: Connection, context: Case | None = None) -> dict[str, list[tuple]]:
    found = hits(conn, context)
    for items in found.values():
        for _, _, _, evidence in items:
            orjson.dumps(evidence)
    return found


def test_random_and_truncated_der_never_raise(pki: Pki) -> None:
    rnd = random.Random(6125)
    real = der(pki.leaf())
    roots = ctx(ca_roots=(pki.root,))
    blobs = [bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(0, 300))) for _ in range(50)]
    blobs += [real[:n] for n in range(0, len(real), 7)]
    blobs += [b"\x30\x82\xff\xff" + real[4:], b"\x30\x80" + real[2:] + b"\x00\x00"]
    for blob in blobs:
        found = run_all(connection([blob, der(pki.inter)], sni="www.test"), roots)
        if blob != real:
            assert "CERT-UNPARSABLE" in found
            assert found["CERT-UNPARSABLE"][0][3]["position"] == 0


def test_mutated_certificates_never_raise(pki: Pki) -> None:
    rnd = random.Random(5280)
    chain = [der(pki.leaf()), der(pki.inter), der(pki.root)]
    roots = ctx(ca_roots=(pki.root,))
    for _ in range(400):
        mutated = []
        for d in chain:
            b = bytearray(d)
            for _ in range(rnd.randrange(1, 4)):
                b[rnd.randrange(len(b))] = rnd.getrandbits(8)
            mutated.append(bytes(b))
        rnd.shuffle(mutated)
        run_all(connection(mutated, sni=rnd.choice(["www.test", "127.0.0.1", "\u212a.test", "", "a" * 300])), roots)


def test_odd_names_and_serials() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    marker = "Q" * 24
    cert = Pki.issue(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, marker)]), key, None, None,
                     sans=[x509.DNSName("odd.test")])
    raw = der(cert)
    # invalid UTF-8 inside the UTF8String CN (both in subject and issuer), huge-looking serial bytes
    odd = raw.replace(marker.encode(), b"\xff\xfe\xc0\x80" * 6)
    for blob in (raw, odd):
        found = run_all(connection([blob], sni="odd.test"))
        assert isinstance(found, dict)
    assert parse_certificate(odd).cert is None or parse_certificate(odd).problems or parse_certificate(odd).subject_cn


def test_rules_survive_missing_pieces(pki: Pki) -> None:
    conn = connection([der(pki.leaf())])
    conn.entries.clear()  # no Certificate message found: frame None, time from the connection
    found = run_all(conn)
    assert found["CERT-CHAIN-INCOMPLETE"][0][2] is None
    empty = connection([])
    assert run_all(empty) == {}
    assert run_all(conn, Case()) == found  # a case without a certificate policy: the default one


# --- the parse cache ------------------------------------------------------------------------------------

def test_each_der_is_parsed_once(pki: Pki) -> None:
    d = der(pki.leaf())
    assert parse_certificate(d) is parse_certificate(bytearray(d))


def test_parse_cache_is_bounded() -> None:
    rnd = random.Random(42)
    for i in range(certs.PARSE_CACHE_MAX + 100):
        parse_certificate(i.to_bytes(4, "big") + bytes(rnd.getrandbits(8) for _ in range(8)))
    info = certs.cache_info()
    assert info["parsed"] == info["parsed_max"] == certs.PARSE_CACHE_MAX
    assert info["issuer_checks"] <= info["issuer_checks_max"]


# --- CA bundles -------------------------------------------------------------------------------------------

def test_load_ca_bundle(tmp_path: Path, pki: Pki) -> None:
    pem = tmp_path / "bundle.pem"
    pem.write_bytes(b"junk before\n" + pki.root.public_bytes(serialization.Encoding.PEM)
                    + pki.inter.public_bytes(serialization.Encoding.PEM))
    assert load_ca_bundle(str(pem)) == (pki.root, pki.inter)
    single = tmp_path / "root.der"
    single.write_bytes(der(pki.root))
    assert load_ca_bundle(str(single)) == (pki.root,)


@pytest.mark.parametrize("content", [None, "dir", b"", b"not a certificate\n", b"\x30\x03\x02\x01\x01",
                                     b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                                     b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"])
def test_load_ca_bundle_errors(tmp_path: Path, content) -> None:
    path = tmp_path / "bundle"
    if content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError) as info:
        load_ca_bundle(str(path))
    line = info.value.one_line()
    assert line.startswith("error: CA bundle") and "\n" not in line and str(path) in line


# --- the rule table ----------------------------------------------------------------------------------------

def test_rule_table() -> None:
    assert len(RULES) == len(CERT_RULES)
    for r in CERT_RULES:
        assert r.id.startswith("CERT-") and r.severity in SEVERITIES and r.source and r.explanation
        assert "\n" not in r.explanation
    assert RULES["CERT-EXPIRED"].severity == "high" and RULES["CERT-EXPIRING-SOON"].severity == "low"
    assert RULES["CERT-WEAK-SIGNATURE"].severity == "high" and RULES["CERT-SHA1-SIGNATURE"].severity == "medium"
    assert RULES["CERT-SELF-SIGNED"].severity == "medium" and RULES["CERT-UNPARSABLE"].severity == "info"
