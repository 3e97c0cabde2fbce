"""A small test PKI: a root, an intermediate and leaves (P-256) valid around NOW, made with
`cryptography`: the certificate chains the certificate-rule and cache tests judge."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = datetime(2030, 6, 1, tzinfo=timezone.utc)


def common_name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


class Pki:
    """root -> intermediate -> leaves, P-256, valid around NOW."""

    def __init__(self, prefix: str = "Test") -> None:
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        self.root = self.issue(common_name(f"{prefix} Root"), self.root_key, None, None, ca=True)
        self.inter_key = ec.generate_private_key(ec.SECP256R1())
        self.inter = self.issue(common_name(f"{prefix} Intermediate"), self.inter_key, self.root, self.root_key, ca=True)

    @staticmethod
    def issue(name: x509.Name, key, issuer: x509.Certificate | None, issuer_key, *, ca: bool = False,
              sans: list[x509.GeneralName] | None = None, not_before: datetime = NOW - timedelta(days=30),
              not_after: datetime = NOW + timedelta(days=60), ca_flag: bool | None = None) -> x509.Certificate:
        issuer_key = issuer_key or key
        b = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer.subject if issuer else name)
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(not_before).not_valid_after(not_after)
             .add_extension(x509.BasicConstraints(ca=ca if ca_flag is None else ca_flag, path_length=None), critical=True)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
        if issuer is not None:
            b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                                critical=False)
        if ca:
            b = b.add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        else:
            b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        if sans is not None:
            b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return b.sign(issuer_key, hashes.SHA256())

    def leaf(self, host: str = "www.test", issuer: str = "inter", **kw) -> x509.Certificate:
        issuer_cert, issuer_key = (self.inter, self.inter_key) if issuer == "inter" else (self.root, self.root_key)
        kw.setdefault("sans", [x509.DNSName(host)])
        return self.issue(common_name(host), ec.generate_private_key(ec.SECP256R1()), issuer_cert, issuer_key, **kw)


def der(c: x509.Certificate) -> bytes:
    return c.public_bytes(serialization.Encoding.DER)
