"""Certificate weakness rules over the chains a connection carried (issue #6, certificate slice).

Judgement only, like `weakness.py`: every check reads `Connection` facts (the DER chains that
`assemble` collected, the SNI, the Certificate message's frame and timestamp) plus a
`CertPolicy` handed in as `case.cert` (analysis/case.py), and returns its hits, `(title, scope, frame, evidence)` tuples.
Certificates are parsed with `cryptography`, each DER once, in a bounded cache keyed by its
SHA-256; a DER (or a part of one) that does not parse becomes a CERT-UNPARSABLE finding, never
an exception.

Time: validity is judged at the timestamp of the packet that carried the Certificate message
(the capture's own clock), never at today's date, so results do not change as captures age.

Trust (CERT-UNTRUSTED, only when `ca_roots` is given), in two steps:
  1. `cryptography.x509.verification` (web-PKI profile, server verifier) at the capture time,
     for the SNI when the leaf matches it, else for a name the leaf itself carries. Success: trusted.
  2. When it rejects, a plain path walk decides: from the leaf, follow certificates of the chain
     whose subject is the child's issuer, that are CAs (basicConstraints cA, keyCertSign when
     keyUsage is present) and whose key verifies the child's signature (any algorithm
     `cryptography` can verify, MD5 and SHA-1 included), until a root of `ca_roots` issues
     (or is) the current certificate. Reaching a root means the verifier's rejection was about
     validity dates, names, key sizes or signature algorithms (which CERT-EXPIRED,
     CERT-NAME-MISMATCH, CERT-WEAK-KEY, CERT-WEAK-SIGNATURE and CERT-SHA1-SIGNATURE report on
     their own) or about the web-PKI profile's extension requirements (AKI, SAN, EKU) that
     private PKIs often skip; not reaching one is CERT-UNTRUSTED, with the verifier's reason as
     evidence. The walk does not enforce path length, name constraints, EKU or policies.

Chain shape: CERT-CHAIN-ORDER wants each certificate issued by the next (RFC 5246 7.4.2; TLS 1.3
relaxes it to SHOULD). CERT-CHAIN-INCOMPLETE follows issuers through the sent certificates from
the leaf: the path must end at a self-signed certificate or one a root of `ca_roots` issues;
without `ca_roots`, only an end-entity certificate whose issuer was not sent counts (ending at an
intermediate is normal: the client holds the root).

Severity: a rule's finding has one severity, so SHA-1 (medium) and MD5/MD2/MD4 (high)
signatures are two rules. Rules on the server chain only: SELF-SIGNED, CHAIN-INCOMPLETE,
LONG-LIFETIME, NAME-MISMATCH, UNTRUSTED; the others judge the client's chain too
(`"side": "client"` in the evidence).

Strings taken from certificates are untrusted: they stay `str` (renderers sanitise) and are
capped (`STR_MAX` characters, `LIST_MAX` list entries).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Final

from analyzer.analysis.case import Case
from analyzer.analysis.certinfo import (
    LIST_MAX,
    WEAK_HASHES,
    CertInfo,
    RootSet,
    capped,
    drop_none,
    error_reason,
    is_trust_anchor,
    iso,
    issued_by,
    parse_certificate,
)
from analyzer.analysis.findings import Rule
from analyzer.analysis.hostnames import ip_address_of, name_matches, reference_host
from analyzer.cache import LruCache
from analyzer.model import Connection, Entry
from analyzer.registry.codes import HS_CERTIFICATE
from analyzer.tls.messages import Certificate

CHAIN_MAX: Final = 16  # certificates judged per chain; a longer chain is judged on its first ones

RFC5280: Final = "RFC 5280"
BR: Final = "CA/B Forum BR"




# --- the chains of a connection -------------------------------------------------------------------------

@dataclass(slots=True, init=False)
class Chain:
    """One side's certificate chain, where and when it was sent. Treat as immutable."""

    side: str  # "server" / "client"
    frame: int | None
    ts: float | None
    certs: tuple[CertInfo, ...]  # the first CHAIN_MAX, leaf first
    total: int
    at: datetime | None  # ts as an aware datetime

    def __init__(self, side: str, frame: int | None, ts: float | None, certs: tuple[CertInfo, ...], total: int,
                 at: datetime | None = None) -> None:
        self.side, self.frame, self.ts, self.certs, self.total, self.at = side, frame, ts, certs, total, at

    @property
    def scope(self) -> str:
        return "negotiated"

    def evidence(self, i: int, **extra: Any) -> dict[str, Any]:
        c = self.certs[i]
        return drop_none({"side": self.side, "position": i, "subject_cn": c.subject_cn,
                           "issuer_cn": c.issuer_cn, "sha256": c.sha256, **extra})


def _certificate_message(conn: Connection, side: str, ders: list[bytes]) -> Any:
    for e in conn.entries:
        if isinstance(e, Entry) and e.side == side and e.msg.type == HS_CERTIFICATE and isinstance(e.msg.body, Certificate):
            if [ent.der for ent in e.msg.body.entries] == ders:
                return e.msg
    return None


def _when(ts: float | None) -> datetime | None:
    if ts is None:
        return None
    try:
        return datetime.fromtimestamp(ts, timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def chains(conn: Connection, case: Case) -> list[Chain]:
    """The server chain and the client chain, when they were seen (every certificate rule asks in
    turn: kept in the case)."""
    found: list[Chain] | None = case.memo.get("chains")
    if found is None:
        found = case.memo["chains"] = _chains(conn)
    return found


def _chains(conn: Connection) -> list[Chain]:
    out = []
    for side, ders in (("server", conn.certificates), ("client", conn.client_certificates)):
        if not ders:
            continue
        msg = _certificate_message(conn, side, ders)
        ts = msg.ts if msg is not None else conn.first_ts
        out.append(Chain(side, msg.frame if msg is not None else None, ts,
                         tuple(parse_certificate(d) for d in ders[:CHAIN_MAX]), len(ders), _when(ts)))
    return out


def server_chain(conn: Connection, case: Case) -> Chain | None:
    """The server's chain of the connection, if one was seen (the certificate and POLICY-CERT rules)."""
    for chain in chains(conn, case):
        if chain.side == "server":
            return chain
    return None



# --- the rules ----------------------------------------------------------------------------------------

Hits = list[tuple[str, str, int | None, dict[str, Any]]]


def _unparsable(conn: Connection, case: Case) -> Hits:
    hits: Hits = []
    for chain in chains(conn, case):
        for i, c in enumerate(chain.certs):
            if c.error is not None:
                hits.append((f"{chain.side} certificate {i} does not parse", chain.scope, chain.frame,
                             chain.evidence(i, length=c.length, reason=c.error)))
            elif c.problems:
                hits.append((f"parts of {chain.side} certificate {i} do not parse", chain.scope, chain.frame,
                             chain.evidence(i, length=c.length, parts=list(c.problems[:LIST_MAX]))))
    return hits


def _expired(conn: Connection, case: Case) -> Hits:
    hits: Hits = []
    for chain in chains(conn, case):
        for i, c in enumerate(chain.certs):
            if chain.at is not None and c.not_after is not None and chain.at > c.not_after:
                hits.append((f"{chain.side} certificate {i} expired on {c.not_after:%Y-%m-%d}", chain.scope,
                             chain.frame, chain.evidence(i, not_after=iso(c.not_after), checked_at=iso(chain.at))))
    return hits


def _not_yet_valid(conn: Connection, case: Case) -> Hits:
    hits: Hits = []
    for chain in chains(conn, case):
        for i, c in enumerate(chain.certs):
            if chain.at is not None and c.not_before is not None and chain.at < c.not_before:
                hits.append((f"{chain.side} certificate {i} not valid before {c.not_before:%Y-%m-%d}", chain.scope,
                             chain.frame, chain.evidence(i, not_before=iso(c.not_before), checked_at=iso(chain.at))))
    return hits


def _expiring_soon(conn: Connection, case: Case) -> Hits:
    hits: Hits = []
    days = case.cert.expiring_soon_days
    for chain in chains(conn, case):
        for i, c in enumerate(chain.certs):
            if chain.at is None or c.not_after is None or chain.at > c.not_after:
                continue
            left = c.not_after - chain.at
            if left.days < days:  # (a timedelta's days are floored: the same as left < timedelta(days=days))
                hits.append((f"{chain.side} certificate {i} expires within {days} days", chain.scope, chain.frame,
                             chain.evidence(i, not_after=iso(c.not_after), checked_at=iso(chain.at),
                                            days_left=left.days)))
    return hits


def _self_signed(conn: Connection, case: Case) -> Hits:
    chain = server_chain(conn, case)
    if chain is None or not chain.certs[0].self_signed:
        return []
    leaf = chain.certs[0]
    return [("server certificate is self-signed", chain.scope, chain.frame,
             chain.evidence(0, key_type=leaf.key_type, key_bits=leaf.key_bits, chain_length=chain.total))]


def _chain_order(conn: Connection, case: Case) -> Hits:
    hits: Hits = []
    for chain in chains(conn, case):
        certs = chain.certs
        bad = []
        for i in range(len(certs) - 1):
            if issued_by(certs[i], certs[i + 1]) is not False:
                continue  # issued by the next one (or cannot tell)
            if certs[i].self_signed:
                bad.append({"position": i, "issuer_position": i, "note": "self-signed certificate before the end"})
                continue
            j = next((k for k, other in enumerate(certs) if k not in (i, i + 1) and issued_by(certs[i], other)), None)
            bad.append(drop_none({"position": i, "issuer_position": j}))
        if bad:
            first = bad[0]
            where = (f"at position {first['issuer_position']}" if first.get("issuer_position") is not None
                     else "not in the chain")
            hits.append((f"{chain.side} certificate chain out of order: the issuer of certificate "
                         f"{first['position']} is {where}", chain.scope, chain.frame,
                         {"side": chain.side, "violations": bad[:LIST_MAX],
                          "order": [c.subject_cn or c.sha256[:16] for c in certs[:LIST_MAX]]}))
    return hits


def _chain_incomplete(conn: Connection, case: Case) -> Hits:
    chain = server_chain(conn, case)
    if chain is None or chain.certs[0].cert is None:
        return []
    roots = case.cert.roots
    path, reached = _issuer_path(chain, roots, strict=False)
    end_i = path[-1]
    end = chain.certs[end_i]
    if reached or end.self_signed:
        return []  # ends at a trusted root, or at a self-signed one (trusting it is CERT-UNTRUSTED's question)
    if roots is not None:
        why = "no trusted root issues the last certificate of the issuer path"
    elif end.ca:
        return []  # an intermediate ends the path: its root is the client's to have
    else:
        # no roots to ask: an end-entity certificate whose issuer was not sent. Roots do not issue
        # subscriber certificates directly (CA/B Forum BR 6.1.7), so an intermediate was left out.
        why = "the issuer of the end-entity certificate was not sent"
    return [(f"server certificate chain incomplete: {why}", chain.scope, chain.frame,
             chain.evidence(end_i, chain_length=chain.total, roots=None if roots is None else len(roots)))]


def _weak_key(conn: Connection, case: Case) -> Hits:
    hits: Hits = []
    policy = case.cert
    for chain in chains(conn, case):
        for i, c in enumerate(chain.certs):
            bits = c.key_bits or 0
            if c.key_type == "RSA" and bits < policy.min_rsa_bits:
                what = f"RSA key of {bits} bits"
            elif c.key_type == "ECDSA" and bits < policy.min_ec_bits:
                what = f"EC key of {bits} bits ({c.curve})"
            elif c.key_type == "DSA":
                what = f"DSA key of {bits} bits"
            else:
                continue
            hits.append((f"{chain.side} certificate {i} has a weak {what}", chain.scope, chain.frame,
                         chain.evidence(i, key_type=c.key_type, key_bits=c.key_bits, curve=c.curve)))
    return hits


def _signature_rule(hashes: tuple[str, ...]):  # noqa: ANN202
    def check(conn: Connection, case: Case) -> Hits:
        hits: Hits = []
        roots = case.cert.roots
        for chain in chains(conn, case):
            for i, c in enumerate(chain.certs):
                if c.sig_hash in hashes and not is_trust_anchor(c, roots):
                    hits.append((f"{chain.side} certificate {i} signed with {c.sig_hash.upper()}", chain.scope,
                                 chain.frame,
                                 chain.evidence(i, signature_algorithm=c.sig_name, signature_hash=c.sig_hash)))
        return hits
    return check


def _long_lifetime(conn: Connection, case: Case) -> Hits:
    chain = server_chain(conn, case)
    if chain is None:
        return []
    leaf = chain.certs[0]
    if leaf.ca or leaf.not_before is None or leaf.not_after is None:
        return []
    period = leaf.not_after - leaf.not_before + timedelta(seconds=1)  # inclusive (RFC 5280 4.1.2.5)
    limit = case.cert.max_lifetime_days
    if period > timedelta(days=limit):
        return [(f"server certificate valid for {period.days} days (more than {limit})", chain.scope, chain.frame,
                 chain.evidence(0, not_before=iso(leaf.not_before), not_after=iso(leaf.not_after),
                                lifetime_days=period.days))]
    return []


def _name_mismatch(conn: Connection, case: Case) -> Hits:
    chain = server_chain(conn, case)
    if chain is None or not conn.sni:
        return []
    leaf = chain.certs[0]
    if leaf.cert is None or any(p.startswith("extensions") for p in leaf.problems):
        return []  # CERT-UNPARSABLE says so; the names cannot be judged
    if _names(conn.sni, leaf):
        return []
    return [("server certificate does not match the SNI", chain.scope, chain.frame,
             chain.evidence(0, sni=capped(conn.sni), sni_is_ip=ip_address_of(conn.sni) is not None,
                            san_dns=[capped(n) for n in leaf.san_dns[:LIST_MAX]], san_ip=list(leaf.san_ip[:LIST_MAX]),
                            san_count=len(leaf.san_dns) + len(leaf.san_ip), san_present=leaf.san_present))]


_NAMED: Final = LruCache[bool](4096)  # (SNI, leaf SHA-256) -> matches: both repeat in traffic


def _names(sni: str, leaf: CertInfo) -> bool:
    """Does the leaf name the SNI (RFC 6125)? Asked again for each connection to the same host."""
    key = (sni, leaf.sha256)
    found = _NAMED.get(key)
    if found is None:
        found = _NAMED.put(key, name_matches(sni, leaf.san_dns if leaf.san_present else None, leaf.san_ip,
                                             leaf.subject_cn))
    return found


def _verifier_subject(conn: Connection, leaf: CertInfo) -> Any:
    """A name for the strict verifier: the SNI when the leaf matches it, else one the leaf carries
    (a mismatch is CERT-NAME-MISMATCH's to report, not a trust failure)."""
    from cryptography.x509 import verification as xv

    if conn.sni and name_matches(conn.sni, leaf.san_dns if leaf.san_present else None, leaf.san_ip, leaf.subject_cn):
        ip = ip_address_of(conn.sni)
        return xv.IPAddress(ip) if ip is not None else xv.DNSName(reference_host(conn.sni) or conn.sni)
    for name in leaf.san_dns:
        if name.startswith("*."):
            name = "wildcard" + name[1:]  # any one label the wildcard covers
        if not name.isascii() or "*" in name:
            continue
        try:
            return xv.DNSName(name)
        except ValueError:
            continue
    for address in leaf.san_ip:
        ip = ip_address_of(address)
        if ip is not None:
            return xv.IPAddress(ip)
    return None


def _strict_verify(conn: Connection, chain: Chain, roots: RootSet) -> str | None:
    """None when cryptography's web-PKI verifier accepts the chain, else its reason."""
    from cryptography.x509 import verification as xv

    if roots.store is None:
        return "no usable trusted roots"
    if chain.at is None:
        return "no capture time to verify at"
    try:
        subject = _verifier_subject(conn, chain.certs[0])
        if subject is None:
            return "the leaf carries no name to verify against"
        leaf = chain.certs[0].cert
        if leaf is None:
            return "the leaf certificate does not parse"
        verifier = xv.PolicyBuilder().store(roots.store).time(chain.at).build_server_verifier(subject)
        verifier.verify(leaf, [c.cert for c in chain.certs[1:] if c.cert is not None])
    except Exception as exc:  # noqa: BLE001  VerificationError, or a hostile chain the verifier refuses
        return error_reason(exc)
    return None


def _issuer_path(chain: Chain, roots: RootSet | None, strict: bool) -> tuple[list[int], bool]:
    """From the leaf, follow the certificates of the chain that issue the current one, until a
    root issues (or is) it; returns (positions walked, reached a root). `strict`: an issuer must
    be a CA (basicConstraints cA, keyCertSign when keyUsage is present) and its signature must
    verify; otherwise a matching name with a signature that cannot be checked is enough."""
    certs = chain.certs
    path = [0]
    current = certs[0]

    def issues(child: CertInfo, issuer: CertInfo) -> bool:
        signed = issued_by(child, issuer)
        return signed is True or (not strict and signed is None and issuer.cert is not None)

    for _ in range(len(certs)):
        if roots is not None and roots.issues(current):
            return path, True
        nxt = next((j for j, c in enumerate(certs) if j not in path and c.cert is not None and issues(current, c)
                    and (not strict or (c.ca and c.key_cert_sign is not False))), None)
        if nxt is None:
            return path, False
        path.append(nxt)
        current = certs[nxt]
    return path, roots is not None and roots.issues(current)


def _untrusted(conn: Connection, case: Case) -> Hits:
    roots = case.cert.roots
    if roots is None:
        return []
    chain = server_chain(conn, case)
    if chain is None or chain.certs[0].cert is None:
        return []
    reason = _strict_verify(conn, chain, roots)
    if reason is None:
        return []
    path, reached = _issuer_path(chain, roots, strict=True)
    if reached:
        return []  # the verifier objected to dates, names, sizes or algorithms: other rules report those
    return [("server certificate chain does not lead to a trusted root", chain.scope, chain.frame,
             chain.evidence(0, verifier=reason, path=[chain.certs[j].subject_cn or chain.certs[j].sha256[:16]
                                                      for j in path][:LIST_MAX],
                            roots=len(roots)))]


def _not_visible(conn: Connection, case: Case) -> Hits:
    """With a CA bundle, say so when a TLS 1.3 server chain could not be judged at all: it travels
    encrypted, and without (working) keys it was never seen. A resumption sends no chain."""
    sh = conn.server_hello
    if case.cert.ca_roots is None or not conn.tls13 or sh is None or conn.resumed or conn.certificates:
        return []
    return [("server certificate encrypted (TLS 1.3) and not decrypted: not judged against the CA bundle "
             "(give --keylog)", "negotiated", sh.frame, {"visible": False})]


CERT_RULES: Final[tuple[Rule, ...]] = (
    Rule("CERT-UNPARSABLE", "info", RFC5280 + " 4.1", "A certificate (or a part of it) could not be parsed.", _unparsable),
    Rule("CERT-EXPIRED", "high", RFC5280 + " 4.1.2.5", "A certificate was past its notAfter when it was sent.", _expired),
    Rule("CERT-NOT-YET-VALID", "high", RFC5280 + " 4.1.2.5", "A certificate was before its notBefore when it was sent.",
         _not_yet_valid),
    Rule("CERT-EXPIRING-SOON", "low", RFC5280 + " 4.1.2.5", "A certificate was close to its notAfter when it was sent.",
         _expiring_soon),
    Rule("CERT-SELF-SIGNED", "medium", RFC5280 + " 6.1", "The server's certificate is self-signed: nothing vouches for it.",
         _self_signed),
    Rule("CERT-CHAIN-ORDER", "low", "RFC 5246 7.4.2, RFC 8446 4.4.2", "Each certificate should be certified by the next.",
         _chain_order),
    Rule("CERT-CHAIN-INCOMPLETE", "low", "RFC 8446 4.4.2, " + BR + " 6.1.7",
         "The server did not send the intermediates up to a root.", _chain_incomplete),
    Rule("CERT-WEAK-KEY", "high", BR + " 6.1.5", "RSA or EC keys below policy size, or DSA keys, in certificates.", _weak_key),
    Rule("CERT-WEAK-SIGNATURE", "high", BR + " 7.1.3.2, RFC 6151", "A certificate signed with MD5 (or MD2/MD4).",
         _signature_rule(WEAK_HASHES)),
    Rule("CERT-SHA1-SIGNATURE", "medium", BR + " 7.1.3.2", "A certificate (not a root) signed with SHA-1.",
         _signature_rule(("sha1",))),
    Rule("CERT-LONG-LIFETIME", "low", BR + " 6.3.2", "The server certificate is valid for more than 398 days.",
         _long_lifetime),
    Rule("CERT-NAME-MISMATCH", "high", "RFC 6125 6.4", "The server certificate does not name the SNI host.", _name_mismatch),
    Rule("CERT-UNTRUSTED", "high", RFC5280 + " 6.1", "The server chain does not lead to a configured trusted root.",
         _untrusted),
    Rule("CERT-NOT-VISIBLE", "info", "RFC 8446 4.4.2", "With --ca-bundle: a TLS 1.3 server chain was encrypted and "
         "not decrypted (no key log), so it could not be judged.", _not_visible),
)
