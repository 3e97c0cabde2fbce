#!/usr/bin/env python3
"""Captures for the certificate rules: real openssl s_server/s_client handshakes on 127.0.0.1
that carry expired, not-yet-valid, self-signed, weak, misnamed and misordered certificates
(run as root; the helpers of capture_kit.py, the conventions of make_captures.py):

    python3 captures/scripts/make_cert_captures.py [--only NAME ...] [--keep-tmp]

Each writes captures/<name>.pcap (and captures/keys/<name>.keys for the TLS 1.3 ones).

Certificates are made with `cryptography`, except the MD5- and SHA-1-signed ones (cryptography
no longer signs with those hashes), which come from the openssl CLI. The root and intermediate
CAs have fixed EC P-256 keys (derived from constant labels), so every run's chains verify to the
same root public key whatever run made them; leaf keys are fresh each run.

Validity windows are either far from any recording date (expired 2000-2001, not yet valid
2090-2091, long lifetime 2020-2060) or relative to the moment of recording (valid from a day
before to 90 days after, expiring in 10 days): the analyzer judges validity at the capture's
own timestamp, so the findings a capture proves never depend on when the tests run.

Every capture is checked before it is kept: the handshake types (tshark), the exact certificate
chain on the wire (tshark's tls.handshake.certificate, decrypted with the key log for TLS 1.3)
against the DER we made, and s_client's own verdict ("Verify return code: N") as an independent
oracle for the property the capture is about.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import capture_kit as kit  # noqa: E402

UTC = timezone.utc
CA_NOT_BEFORE = datetime(2020, 1, 1, tzinfo=UTC)
CA_NOT_AFTER = datetime(2060, 1, 1, tzinfo=UTC)
EXPIRED = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2001, 1, 1, tzinfo=UTC))
NOT_YET_VALID = (datetime(2090, 1, 1, tzinfo=UTC), datetime(2091, 1, 1, tzinfo=UTC))
LONG = (CA_NOT_BEFORE, CA_NOT_AFTER)
CURRENT_DAYS = 90  # "valid now" leaves: a day before recording to this many days after
SOON_DAYS = 10  # the expiring-soon leaf's days left at recording time
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
ORG = "tls-analyzer cert fixtures"
SECLEVEL0 = "DEFAULT:@SECLEVEL=0"

# s_client's X509_V_ERR codes the captures expect
V_OK, V_NOT_YET_VALID, V_EXPIRED, V_SELF_SIGNED, V_NO_LOCAL_ISSUER, V_LEAF_UNVERIFIABLE, V_HOSTNAME = 0, 9, 10, 18, 20, 21, 62


def fixed_key(label: str) -> ec.EllipticCurvePrivateKey:
    """The same P-256 key on every run (fixture CAs only: never a secret)."""
    scalar = int.from_bytes(hashlib.sha256(f"tls-analyzer cert fixtures: {label}".encode()).digest(), "big")
    return ec.derive_private_key(scalar % (P256_ORDER - 1) + 1, ec.SECP256R1())


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORG), x509.NameAttribute(NameOID.COMMON_NAME, cn)])


class CertPki:
    """The fixture PKI in a temp dir: <name>.pem / <name>.key for each certificate made."""

    def __init__(self, d: Path) -> None:
        self.d = d
        self.now = datetime.now(UTC).replace(microsecond=0)
        self.der: dict[str, bytes] = {}
        self.ca("root", "Cert Fixture Root CA", None)
        self.ca("inter", "Cert Fixture Intermediate CA", "root")
        self.ca("issuing", "Cert Fixture Issuing CA", "inter", path_length=0)
        self.ca("rsainter", "Cert Fixture RSA Intermediate CA", "root", key=rsa.generate_private_key(65537, 2048))
        current = (self.now - timedelta(days=1), self.now + timedelta(days=CURRENT_DAYS))
        self.leaf("expired", ["expired.test"], "inter", EXPIRED)
        self.leaf("notyet", ["notyet.test"], "inter", NOT_YET_VALID)
        self.leaf("soon", ["soon.test"], "inter", (self.now - timedelta(days=80), self.now + timedelta(days=SOON_DAYS)))
        self.leaf("good", ["good.test"], "inter", current)
        self.leaf("wildcard", ["*.example.test"], "inter", current)
        self.leaf("deep", ["deep.test"], "issuing", current)
        self.leaf("long", ["long.test"], "inter", LONG)
        self.leaf("p224", ["p224.test"], "inter", current, key=ec.generate_private_key(ec.SECP224R1()))
        self.leaf("clientexpired", [], "inter", EXPIRED, client=True)
        self.openssl_selfsigned("selfsigned", "selfsigned.test", bits=1024, digest="sha1")
        self.openssl_leaf("md5", "md5.test", "rsainter", digest="md5")

    # --- with cryptography --------------------------------------------------------------------------
    def _write(self, name: str, cert: x509.Certificate, key) -> None:
        (self.d / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (self.d / f"{name}.key").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        self.der[name] = cert.public_bytes(serialization.Encoding.DER)
        setattr(self, f"_{name}", (cert, key))

    def ca(self, name: str, cn: str, issuer: str | None, *, path_length: int | None = None, key=None) -> None:
        key = key or fixed_key(name)
        issuer_cert, issuer_key = getattr(self, f"_{issuer}") if issuer else (None, key)
        b = (x509.CertificateBuilder().subject_name(_name(cn))
             .issuer_name(issuer_cert.subject if issuer_cert else _name(cn))
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(CA_NOT_BEFORE).not_valid_after(CA_NOT_AFTER)
             .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
             .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                          data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                          crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
        if issuer_cert is not None:
            b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
        self._write(name, b.sign(issuer_key, hashes.SHA256()), key)

    def leaf(self, name: str, sans: list[str], issuer: str, validity: tuple[datetime, datetime], *,
             key=None, client: bool = False) -> None:
        key = key or ec.generate_private_key(ec.SECP256R1())
        issuer_cert, issuer_key = getattr(self, f"_{issuer}")
        eku = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        b = (x509.CertificateBuilder().subject_name(_name(sans[0] if sans else f"{name} client"))
             .issuer_name(issuer_cert.subject).public_key(key.public_key())
             .serial_number(x509.random_serial_number()).not_valid_before(validity[0]).not_valid_after(validity[1])
             .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
             .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                          data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                          crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
             .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False))
        if sans:
            b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in sans]), critical=False)
        self._write(name, b.sign(issuer_key, hashes.SHA256()), key)

    # --- with the openssl CLI (MD5 / SHA-1 signatures) --------------------------------------------------
    def _config(self, name: str, san: str, *, ca_ext: str = "") -> Path:
        conf = self.d / f"{name}.cnf"
        conf.write_text("[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = " + san + "\n"
                        "[ext]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature,keyEncipherment\n"
                        f"extendedKeyUsage = serverAuth\nsubjectKeyIdentifier = hash\n{ca_ext}"
                        f"subjectAltName = DNS:{san}\n")
        return conf

    def _load(self, name: str) -> None:
        cert = x509.load_pem_x509_certificate((self.d / f"{name}.pem").read_bytes())
        self.der[name] = cert.public_bytes(serialization.Encoding.DER)

    def openssl_selfsigned(self, name: str, san: str, *, bits: int, digest: str) -> None:
        conf = self._config(name, san)
        kit.run(["openssl", "req", "-x509", "-config", conf, "-extensions", "ext", "-newkey", f"rsa:{bits}", "-nodes",
                f"-{digest}", "-days", CURRENT_DAYS, "-keyout", self.d / f"{name}.key", "-out", self.d / f"{name}.pem"])
        self._load(name)

    def openssl_leaf(self, name: str, san: str, issuer: str, *, digest: str) -> None:
        conf = self._config(name, san, ca_ext="authorityKeyIdentifier = keyid\n")
        p = self.d
        kit.run(["openssl", "req", "-new", "-config", conf, "-newkey", "rsa:2048", "-nodes",
                "-keyout", p / f"{name}.key", "-out", p / f"{name}.csr"])
        kit.run(["openssl", "x509", "-req", "-in", p / f"{name}.csr", "-CA", p / f"{issuer}.pem",
                "-CAkey", p / f"{issuer}.key", "-set_serial", "0x" + hashlib.sha256(name.encode()).hexdigest()[:16],
                "-days", CURRENT_DAYS, f"-{digest}", "-extfile", conf, "-extensions", "ext", "-out", p / f"{name}.pem"])
        self._load(name)

    def chain_file(self, work: Path, names: list[str]) -> Path:
        path = work / "chain.pem"
        path.write_bytes(b"".join((self.d / f"{n}.pem").read_bytes() for n in names))
        return path

    def __getattr__(self, item: str):  # pki.root_pem -> <dir>/root.pem (what kit.Session expects)
        stem, _, ext = item.rpartition("_")
        if ext in ("pem", "key") and stem:
            return self.d / f"{stem}.{ext}"
        raise AttributeError(item)


# --- the wire, as tshark sees it ------------------------------------------------------------------------

def sent_chains(pcap: Path, port: int, keylog: Path | None = None) -> dict[str, list[list[bytes]]]:
    """{"server"/"client": [chain, ...]}: every Certificate message's DER list, in wire order."""
    cmd = ["tshark", "-n", "-r", pcap, "-d", f"tcp.port=={port},tls", "-T", "fields", "-E", "occurrence=a",
           "-E", "aggregator=,", "-e", "tcp.srcport", "-e", "tls.handshake.certificate"]
    if keylog is not None:
        cmd += ["-o", f"tls.keylog_file:{keylog}"]
    out: dict[str, list[list[bytes]]] = {"server": [], "client": []}
    for line in kit.run(cmd).decode().splitlines():
        sport, _, certs = line.partition("\t")
        if certs.strip():
            side = "server" if int(sport) == port else "client"
            out[side].append([bytes.fromhex(h.replace(":", "")) for h in certs.strip().split(",")])
    return out


def verify_code(client_output: str) -> int:
    m = re.search(r"Verify return code: (\d+)", client_output)
    kit.check(m is not None, "s_client printed no verify result")
    return int(m.group(1))


def handshake(s: kit.Session, leaf: str, chain: list[str], *, sni: str, version: str = "-tls1_2",
              cipher: str | None = None, hostname: str | None = None, client_cert: str | None = None,
              client_extra: tuple[str, ...] = (), expect_code: int | tuple[int, ...] | None = None,
              expect_chain: list[str] | None = None, expect_server_error: int | None = None) -> str:
    """One s_server (leaf + `chain` sent as given) and one s_client, captured and checked."""
    pki: CertPki = s.pki
    tls13 = version == "-tls1_3"
    srv = ["openssl", "s_server", "-accept", f"127.0.0.1:{s.port}", "-naccept", "1", "-www", version,
           "-cert", pki.d / f"{leaf}.pem", "-key", pki.d / f"{leaf}.key"]
    if chain:
        srv += ["-cert_chain", pki.chain_file(s.work, chain)]
    cli = ["openssl", "s_client", "-connect", f"127.0.0.1:{s.port}", "-ign_eof", version, "-CAfile", pki.root_pem,
           "-servername", sni, *client_extra]
    if cipher:
        srv += ["-cipher", cipher]
        cli += ["-cipher", cipher]
    if hostname:
        cli += ["-verify_hostname", hostname]
    if client_cert:
        srv += ["-verify", "1"]  # ask for a client certificate, go on whatever its verdict
        cli += ["-cert", pki.d / f"{client_cert}.pem", "-key", pki.d / f"{client_cert}.key"]
    if tls13:
        cli += ["-keylogfile", s.keylog]
    slog = s.log("server")
    with kit.capture(s.pcap, s.port), kit.server(srv, s.port, slog):
        out = kit.client(cli, s.log("client"), send=kit.HTTP_GET)
    _, conns = kit.analyze(s.pcap, s.port, s.keylog if tls13 else None)
    kit.check_conns(conns, 1)
    c = conns[0]
    kit.check_hs(c, "s", [kit.SH, kit.EE, kit.CERT, kit.CV, kit.FIN] if tls13 else [kit.SH, kit.CERT, kit.SKE, kit.SHD], s.name)
    kit.check(c.appdata("s") >= 1, "handshake did not complete (no server application data)")
    wire = sent_chains(s.pcap, s.port, s.keylog if tls13 else None)
    want = [pki.der[n] for n in (expect_chain if expect_chain is not None else [leaf, *chain])]
    kit.check(wire["server"][:1] == [want], f"server sent {len(wire['server'][0]) if wire['server'] else 0} "
             f"certificate(s), not the {len(want)} made for this capture (in that order)")
    if client_cert:
        kit.check(wire["client"][:1] == [[pki.der[client_cert]]], "client certificate not on the wire as made")
        if expect_server_error is not None:
            kit.check(f"verify error:num={expect_server_error}:" in Path(slog).read_text(errors="replace"),
                     f"s_server did not report verify error {expect_server_error} for the client certificate")
    code = verify_code(out)
    if expect_code is not None:
        codes = expect_code if isinstance(expect_code, tuple) else (expect_code,)
        kit.check(code in codes, f"s_client verify return code {code}, expected {codes}")
    return f"{version[1:]} {leaf} + {chain or 'no chain'}; s_client verify code {code}"


def simple(leaf: str, chain: list[str], code: int | tuple[int, ...] | None, **kw):  # noqa: ANN201
    def make(s: kit.Session) -> str:
        return handshake(s, leaf, chain, expect_code=code, **kw)
    return make


CERT_CAPTURES = {
    "cert-expired": (14001, simple("expired", ["inter"], V_EXPIRED, sni="expired.test")),
    "cert-not-yet-valid": (14002, simple("notyet", ["inter"], V_NOT_YET_VALID, sni="notyet.test")),
    "cert-expiring-soon": (14003, simple("soon", ["inter"], V_OK, sni="soon.test")),
    "cert-rsa1024-sha1-selfsigned": (14004, simple("selfsigned", [], V_SELF_SIGNED, sni="selfsigned.test",
                                                   cipher=SECLEVEL0)),
    "cert-md5": (14005, simple("md5", ["rsainter"], None, sni="md5.test", cipher=SECLEVEL0)),
    "cert-name-mismatch": (14006, simple("good", ["inter"], V_HOSTNAME, sni="other.test", hostname="other.test")),
    "cert-wildcard-ok": (14007, simple("wildcard", ["inter", "root"], V_OK, sni="a.example.test",
                                       hostname="a.example.test")),
    "cert-chain-out-of-order": (14008, simple("deep", ["inter", "issuing"], V_OK, sni="deep.test")),
    "cert-chain-incomplete": (14009, simple("good", [], (V_NO_LOCAL_ISSUER, V_LEAF_UNVERIFIABLE), sni="good.test")),
    "cert-long-lifetime": (14010, simple("long", ["inter"], V_OK, sni="long.test")),
    "cert-ec-p224": (14011, simple("p224", ["inter"], V_OK, sni="p224.test", client_extra=("-groups", "P-256:P-224"))),
    # the negative case: a sound short-lived chain over TLS 1.3, judged through the key log
    "cert-tls13-good": (14014, simple("good", ["inter"], V_OK, sni="good.test", hostname="good.test", version="-tls1_3")),
    "cert-tls13-expired": (14012, simple("expired", ["inter"], V_EXPIRED, sni="expired.test", version="-tls1_3")),
    "cert-client-expired": (14013, simple("good", ["inter"], V_OK, sni="good.test", client_cert="clientexpired",
                                          expect_server_error=V_EXPIRED)),
}


if __name__ == "__main__":
    kit.main(CERT_CAPTURES, pki_class=CertPki, description=__doc__.split("\n")[0])
