#!/usr/bin/env python3
"""Generate analyzer/registry/tables.py from cryptodatahub (and scapy where it has no registry).

Why a generator: cryptodatahub carries the IANA registries with structured facts, but importing it
costs ~0.3 s, and the analyzer must start fast.  So its data is flattened here into plain literals,
and ``--check`` (run by the tests) fails as soon as the committed table drifts from the library.

Sources:
  cryptodatahub  cipher suites (+SCSVs, SSLv2 cipher kinds), supported groups (+EC/DH/KEM sizes),
                 signature schemes, extensions, versions, EC point formats, PSK modes, certificate
                 compression, compression methods, GREASE one-byte values, well-known DH primes.
  scapy          alert levels/descriptions, handshake types, content types (cryptodatahub has none),
                 and extension types cryptodatahub lacks.
  SUPPLEMENT     below: the few code points neither library has, each with its RFC.

Usage: python tools/gen_registry.py [--check]
"""
from __future__ import annotations

import argparse
import collections
import difflib
import hashlib
import importlib.metadata
import re
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "analyzer" / "registry" / "tables.py"

# Code points that neither cryptodatahub 1.6.1 nor scapy 2.8.0 carries (checked).  Library data wins
# if it ever gains one of these; the generator then says the entry is redundant.
SUPPLEMENT: dict[str, dict[int, str]] = {
    "CONTENT_TYPES": {24: "heartbeat",  # RFC 6520
                      25: "tls12_cid",  # RFC 9146
                      26: "ack"},  # RFC 9147
    "HANDSHAKE_TYPES": {5: "end_of_early_data",  # RFC 8446
                        9: "request_connection_id", 10: "new_connection_id",  # RFC 9147
                        17: "client_certificate_request",  # RFC 9261
                        25: "compressed_certificate",  # RFC 8879
                        26: "ekt_key",  # RFC 8870
                        254: "message_hash"},  # RFC 8446
    "ALERT_DESCRIPTIONS": {52: "too_many_cids_requested",  # RFC 9147
                           121: "ech_required"},  # draft-ietf-tls-esni (ECH)
    "EXTENSIONS": {54: "connection_id",  # RFC 9146 (53 is the deprecated draft value)
                   58: "ticket_request",  # RFC 9149
                   59: "dnssec_chain",  # RFC 9102
                   0xFFA5: "quic_transport_parameters_draft"},  # draft-ietf-quic-tls-13..32
    "VERSIONS": {0xFEFF: "DTLSv1.0", 0xFEFD: "DTLSv1.2",  # RFC 4347, RFC 6347
                 0xFEFC: "DTLSv1.3",  # RFC 9147
                 0x0100: "DTLSv1.0-OpenSSL-pre"},  # OpenSSL < 0.9.8f DTLS1_BAD_VER (Cisco AnyConnect)
}
# RFC 8734 TLS 1.3 brainpool groups: code -> (IANA name, cryptodatahub ECParamWellKnown member).
SUPPLEMENT_GROUPS = {31: ("brainpoolP256r1tls13", "BRAINPOOLP256R1"),
                     32: ("brainpoolP384r1tls13", "BRAINPOOLP384R1"),
                     33: ("brainpoolP512r1tls13", "BRAINPOOLP512R1")}

# IANA spellings where cryptodatahub's member name, lower-cased, is not the IANA name.
NAME_FIXES = {
    "DELEGATED_CREDENTIALS": "delegated_credential",  # RFC 9345
    "CONNECTION_ID": "connection_id_deprecated",  # value 53, superseded by 54 (RFC 9146)
    "APPLICATION_LAYER_PROTOCOL_SETTINGS": "application_settings",  # ALPS, codepoint 17613
    "OLD_APPLICATION_LAYER_PROTOCOL_SETTINGS": "application_settings",  # ALPS, codepoint 17513
    "PSK_DH_KE": "psk_dhe_ke",  # RFC 8446
    "SM2_SM3": "sm2sig_sm3",  # RFC 8998
    "CURVESM2": "curveSM2",  # RFC 8998
    "X25519_KYBER_768_R3": "X25519Kyber768Draft00",  # IANA 0x6399
    "SECP256R1_KYBER_768_R3": "SecP256r1Kyber768Draft00",  # IANA 0x639A
}
# Effective key strength where cryptodatahub's key_size is not it (3DES meet-in-the-middle; IDEA and
# GOST 28147-89 carry block size, Fortezza the Skipjack key with padding).
EFFECTIVE_BITS = {"TRIPLE_DES_EDE": 112, "IDEA": 128, "GOST2814789": 256, "FORTEZZA": 80}
AEAD_MODES = {"GCM", "CCM", "CCM_8", "POLY1305", "MGM"}


def fixed_name(member: str) -> str:
    """IANA-style lower-case name of a cryptodatahub member; OLD_X becomes x_old."""
    if member in NAME_FIXES:
        return NAME_FIXES[member]
    name = member.lower()
    if name.startswith("old_"):
        name = name[4:] + "_old"
    return name.replace("brainpoolp", "brainpoolP").replace("ansix962", "ansiX962")


def short_hash(member: str | None) -> str:
    """SHA2_256 -> SHA256, SHAKE_256 -> SHAKE256, GOST_R3411_94 -> GOSTR3411_94."""
    if member is None:
        return "NONE"
    return member.replace("SHA2_", "SHA").replace("SHAKE_", "SHAKE").replace("GOST_R", "GOSTR")


# ----------------------------------------------------------------------------- cipher suites
def suite_row(member, notes: list[str]) -> tuple:
    """(name, kx, auth, cipher, mode, bits, mac, export, tls13, scsv) from cryptodatahub facts."""
    from cryptodatahub.tls.version import TlsVersion
    v = member.value
    name = v.iana_name or fixed_name(member.name).upper()
    kx = v.key_exchange.name if v.key_exchange else None
    auth = v.authentication.name if v.authentication else None
    tls13 = v.initial_version.value.code >= TlsVersion.TLS1_3.value.code
    if tls13:
        kx = auth = "TLS13"  # negotiated separately, by supported_groups/key_share and signature_algorithms
    elif auth == "PSK":
        if name.startswith("TLS_PSK_WITH_") and kx != "PSK":
            notes.append(f"0x{v.code:04x} {name}: cryptodatahub key_exchange {kx}, name says PSK")
            kx = "PSK"
        kx = "PSK" if kx == "PSK" else f"{kx}_PSK"
    elif kx in ("ADH", "AECDH"):  # anonymous (EC)DH is ephemeral: ServerKeyExchange without signature
        kx, auth = ("DHE" if kx == "ADH" else "ECDHE"), "anon"
    elif kx == "NULL":
        auth = "NULL"
    kx = {"SM9IBC": "SM9"}.get(kx, "GOST" if kx.startswith("GOST") else kx)
    auth = "anon" if auth == "ANONYMOUS" else ("GOST" if auth.startswith("GOST") else auth)

    bc = v.bulk_cipher.name if v.bulk_cipher else None
    if bc is None:
        cipher, bits = "NULL", 0
    else:
        bits = EFFECTIVE_BITS.get(bc, v.bulk_cipher.value.key_size)
        family = re.sub(r"_\d+$", "", bc)
        cipher = {"TRIPLE_DES_EDE": "3DES", "DES40": "DES", "ESTREAM_SALSA20": "SALSA20"}.get(family, family)
        if cipher.startswith("GOST"):
            cipher = "GOST"
    mode = v.block_cipher_mode.name if v.block_cipher_mode else None
    if cipher == "NULL":
        mode = "NULL"
    elif cipher in ("RC4", "SALSA20"):
        mode = "STREAM"  # cryptodatahub marks a few RC4 suites CBC
    elif cipher == "CHACHA20":
        mode = "POLY1305"
    elif "_CTR_OMAC" in name:
        mode = "CTR"  # Kuznyechik/Magma CTR-OMAC (RFC 9189); cryptodatahub says EAX
    elif "_CNT_" in name:
        mode = "CNT"
    mac = v.mac.name if v.mac else None
    if mode in AEAD_MODES:
        mac = "AEAD"  # decided by the mode: cryptodatahub's authenticated_encryption flag is unreliable
    elif mac is None:
        mac = "NULL"
    else:
        mac = {"SHA1": "SHA", "IMIT_GOST28147": "GOST28147", "GOST_R3411_94": "GOSTR3411"}.get(
            mac, "OMAC" if mac.endswith("_OMAC") else short_hash(mac))
    return (name, kx, auth, cipher, mode or "UNKNOWN", bits, mac, bool(v.export_grade), tls13, False)


def cipher_suites(notes: list[str]) -> tuple[dict, dict]:
    from cryptodatahub.tls.algorithm import SslCipherKind, TlsCipherSuite, TlsCipherSuiteExtension
    suites = {m.value.code: suite_row(m, notes) for m in TlsCipherSuite}
    for m in TlsCipherSuiteExtension:  # signalling values, not ciphers: all fields say SCSV
        suites[m.value.code] = ("TLS_" + m.name, "SCSV", "SCSV", "SCSV", "SCSV", 0, "SCSV", False, False, True)
    sslv2 = {m.value.code: m.value.iana_name or m.name for m in SslCipherKind}
    return suites, sslv2


# ----------------------------------------------------------------------------- groups
def ec_share_len(ec_param) -> int | None:
    """Key share length: RFC 7748 for Montgomery, X9.62 uncompressed point for Weierstrass."""
    from cryptodatahub.common.parameter import ECParameterForm
    form = ec_param.value.parameter_numbers.get_parameter_form()
    size = (ec_param.value.field_size + 7) // 8
    if form == ECParameterForm.MONTGOMERY:
        return size
    if form in (ECParameterForm.WEIERSTRASS_PRIME, ECParameterForm.WEIERSTRASS_BINARY):
        return 1 + 2 * size
    return None


def kem_len(bits: int) -> int | None:
    return bits // 8 if bits % 8 == 0 else None


def group_row(member) -> tuple:
    """(name, kind, bits, client_share_len, server_share_len, pq) for one TlsNamedCurve member."""
    from cryptodatahub.common.parameter import DHParamWellKnown, ECParamWellKnown
    from cryptodatahub.common.pqc import HybridNamedGroup, KeyEncapsulationMechanism
    key, kp = member.name, member.value.key_parameter
    if isinstance(kp, ECParamWellKnown):
        name = kp.value.name if kp.value.name.lower() == key.lower() else (
            key if key.startswith("GC") else fixed_name(key))
        share = None if key.startswith("GC") else ec_share_len(kp)  # GOST curves: RFC 9367 encoding
        return (name, "ec", kp.value.field_size, share, share, False)
    if isinstance(kp, DHParamWellKnown):
        share = kp.value.field_size // 8
        return (fixed_name(key), "ff", kp.value.field_size, share, share, False)
    if isinstance(kp, KeyEncapsulationMechanism):
        kem = kp.value
        name = key if kem.name.startswith("ML-KEM-") else fixed_name(key)  # IANA: MLKEM512 ...
        return (name, "pq", kem.security_category.value.bit_security,
                kem_len(kem.encapsulation_key_size), kem_len(kem.ciphertext_size), True)
    if isinstance(kp, HybridNamedGroup):
        hy = kp.value
        name = hy.name if kp.name == key and "/" not in hy.name else fixed_name(key)
        ec, kem = ec_share_len(hy.classical_key_parameter), hy.post_quantum_key_parameter.value
        ek, ct = kem_len(kem.encapsulation_key_size), kem_len(kem.ciphertext_size)
        return (name, "pq_hybrid", hy.security_category.value.bit_security,
                None if None in (ec, ek) else ec + ek, None if None in (ec, ct) else ec + ct, True)
    return (fixed_name(key), "other", 0, None, None, False)


def groups() -> dict:
    from cryptodatahub.common.parameter import ECParamWellKnown
    from cryptodatahub.tls.algorithm import TlsNamedCurve
    rows = {m.value.code: group_row(m) for m in TlsNamedCurve}
    for code, (name, ec_member) in SUPPLEMENT_GROUPS.items():
        if code in rows:
            print(f"hint: SUPPLEMENT_GROUPS {code} {name} is now in cryptodatahub", file=sys.stderr)
            continue
        ec = ECParamWellKnown[ec_member]
        share = ec_share_len(ec)
        rows[code] = (name, "ec", ec.value.field_size, share, share, False)
    return rows


# ----------------------------------------------------------------------------- signature schemes
LEGACY_HASH = {None: "none", "MD5": "md5", "SHA1": "sha1", "SHA2_224": "sha224",
               "SHA2_256": "sha256", "SHA2_384": "sha384", "SHA2_512": "sha512"}
LEGACY_SIG = {"ANONYMOUS": "anonymous", "RSA": "rsa_pkcs1", "DSS": "dsa", "ECDSA": "ecdsa"}
ECDSA_CURVE = {"sha256": "secp256r1", "sha384": "secp384r1", "sha512": "secp521r1"}  # RFC 8446 names
SIG_FAMILY = {"DSS": "DSA", "MLDSA": "ML_DSA", "SLHDSA": "SLH_DSA"}


def signature_schemes(notes: list[str]) -> dict:
    from cryptodatahub.tls.algorithm import TlsSignatureAndHashAlgorithm
    members = sorted(TlsSignatureAndHashAlgorithm, key=lambda m: m.value.code)

    def parts(m):
        h = m.value.hash_algorithm.name if m.value.hash_algorithm else None
        return h, m.value.signature_algorithm.name

    legacy = [m for m in members if m.value.code < 0x0800 and parts(m)[0] in LEGACY_HASH
              and parts(m)[1] in LEGACY_SIG]
    # TLS 1.2 code = hash byte << 8 | signature byte: learn each byte by majority, drop entries that disagree.
    hash_byte = collections.defaultdict(collections.Counter)
    sig_byte = collections.defaultdict(collections.Counter)
    for m in legacy:
        hash_byte[parts(m)[0]][m.value.code >> 8] += 1
        sig_byte[parts(m)[1]][m.value.code & 0xFF] += 1
    rows = {}
    for m in members:
        code, (h, s) = m.value.code, parts(m)
        if m in legacy:
            if (code >> 8, code & 0xFF) != (hash_byte[h].most_common(1)[0][0], sig_byte[s].most_common(1)[0][0]):
                notes.append(f"0x{code:04x} {m.name}: hash/signature bytes contradict cryptodatahub's own "
                             "other entries; left out")
                continue
            hname = LEGACY_HASH[h]
            sname = "ecdsa_" + ECDSA_CURVE[hname] if s == "ECDSA" and hname in ECDSA_CURVE else LEGACY_SIG[s]
            name = f"{sname}_{hname}"
        else:
            name = fixed_name(m.name)
        if s == "RSA":
            family = "RSA_PSS" if "PSS" in m.name else "RSA_PKCS1"
        elif re.match(r"(P256|P384|P521|RSA3072)_", s):
            family = "HYBRID"
        else:
            family = "GOST" if s.startswith("GOST") else SIG_FAMILY.get(s, s)
        hash_ = short_hash(h) if (h or m in legacy) else "INTRINSIC"
        if family == "EDDSA":
            hash_ = "INTRINSIC"  # RFC 8446: Ed25519/Ed448 hash internally
        rows[code] = (name, family, hash_)
    return rows


# ----------------------------------------------------------------------------- simple name maps
def simple_maps() -> dict[str, dict[int, str]]:
    from cryptodatahub.tls.algorithm import (
        TlsCertificateCompressionAlgorithm, TlsCompressionMethod, TlsECPointFormat, TlsExtensionType,
        TlsPskKeyExchangeMode)
    from cryptodatahub.tls.version import TlsVersion
    from scapy.layers.tls.basefields import _tls_type
    from scapy.layers.tls.extensions import _tls_ext
    from scapy.layers.tls.handshake import _tls_handshake_type
    from scapy.layers.tls.record import _tls_alert_description, _tls_alert_level

    def version(member: str) -> str:
        m = re.fullmatch(r"TLS1_3_(DRAFT|GOOGLE_EXPERIMENT)_(\d+)", member)
        if m:
            return f"TLSv1.3-{'draft' if m[1] == 'DRAFT' else 'google-experiment'}{m[2]}"
        return {"SSL2": "SSLv2", "SSL3": "SSLv3", "TLS1": "TLSv1.0"}.get(member) or \
            "TLSv1." + member.rsplit("_", 1)[1]

    maps = {
        "EXTENSIONS": {m.value.code: fixed_name(m.name) for m in TlsExtensionType},
        "VERSIONS": {m.value.code: version(m.name) for m in TlsVersion},
        "EC_POINT_FORMATS": {m.value.code: fixed_name(m.name) for m in TlsECPointFormat},
        "PSK_KEY_EXCHANGE_MODES": {m.value.code: fixed_name(m.name) for m in TlsPskKeyExchangeMode},
        "CERTIFICATE_COMPRESSION": {m.value.code: fixed_name(m.name) for m in TlsCertificateCompressionAlgorithm},
        "COMPRESSION_METHODS": {m.value.code: m.value.name for m in TlsCompressionMethod},
        # scapy: strip IANA's _RESERVED marks so old peers' alerts/messages read by their own names.
        "ALERT_DESCRIPTIONS": {c: n.removesuffix("_RESERVED") for c, n in _tls_alert_description.items()},
        "ALERT_LEVELS": dict(_tls_alert_level),
        "HANDSHAKE_TYPES": {c: {"session_ticket": "new_session_ticket"}.get(n, n)
                            for c, n in _tls_handshake_type.items()},
        "CONTENT_TYPES": dict(_tls_type),
    }
    for code, name in _tls_ext.items():  # scapy only where cryptodatahub has nothing
        maps["EXTENSIONS"].setdefault(code, name)
    for table, extra in SUPPLEMENT.items():
        for code, name in extra.items():
            if code in maps[table]:
                print(f"hint: SUPPLEMENT {table} {code} {name} is now in a library ({maps[table][code]})",
                      file=sys.stderr)
            else:
                maps[table][code] = name
    return maps


# ----------------------------------------------------------------------------- DH primes
def dh_prime_name(member: str, data_name: str) -> str:
    """rfc2409/oakley group 2 (1024), rfc3526/modp2048, rfc5114/modp2048-224, rfc7919/ffdhe2048, apache 2.0.18 (1024)."""
    if m := re.fullmatch(r"RFC2539_(\d+)_BIT_MODP_GROUP", member):
        group = re.search(r"Oakley Group (\d+)", data_name)
        return f"rfc2409/oakley group {group[1] if group else '?'} ({m[1]})"
    if m := re.fullmatch(r"RFC3526_(\d+)_BIT_MODP_GROUP", member):
        return f"rfc3526/modp{m[1]}"
    if m := re.fullmatch(r"RFC5114_(\d+)_BIT_MODP_GROUP_WITH_(\d+)_BIT_PRIME_ORDER_SUBGROUP", member):
        return f"rfc5114/modp{m[1]}-{m[2]}"
    if m := re.fullmatch(r"RFC7919_(\d+)_BIT_FINITE_FIELD_DIFFIE_HELLMAN_GROUP", member):
        return f"rfc7919/ffdhe{m[1]}"
    if m := re.fullmatch(r"APPLICATION_SERVER_(\w+?)_VERSION_([\d_]+)_BIT_(\d+)", member):
        return f"{m[1].lower()} {m[2].replace('_', '.')} ({m[3]})"
    return member.lower()


def der_first_integer(blob: bytes) -> int:
    """p from a DER DHParameter SEQUENCE {p, g}: some cryptodatahub entries store the DER, not p."""
    def length(i: int) -> tuple[int, int]:  # (content length, offset of content) for the length at i
        n = blob[i] & 0x7F if blob[i] & 0x80 else 0
        return (int.from_bytes(blob[i + 1:i + 1 + n], "big") if n else blob[i]), i + 1 + n
    if len(blob) < 4 or blob[0] != 0x30 or blob[length(1)[1]] != 0x02:
        return 0
    size, start = length(length(1)[1] + 1)
    return int.from_bytes(blob[start:start + size], "big")


def dh_primes(notes: list[str]) -> dict[str, str]:
    from cryptodatahub.common.parameter import DHParamWellKnown
    names: dict[str, set[str]] = collections.defaultdict(set)
    for m in DHParamWellKnown:
        p, size = m.value.parameter_numbers.p, m.value.field_size
        if p.bit_length() != size:
            p = der_first_integer(p.to_bytes((p.bit_length() + 7) // 8, "big"))
            notes.append(f"DH {m.name}: stored as DER, p extracted" if p.bit_length() == size
                         else f"DH {m.name}: p is not {size} bits; left out")
            if p.bit_length() != size:
                continue
        digest = hashlib.sha256(p.to_bytes((p.bit_length() + 7) // 8, "big")).hexdigest()
        names[digest].add(dh_prime_name(m.name, m.value.name))
    return {d: " / ".join(sorted(n)) for d, n in names.items()}


# ----------------------------------------------------------------------------- output
def row_text(row) -> str:
    """A structured row as one space-separated string: a str constant compiles ~5x faster than a
    tuple, which keeps the import under budget even where bytecode is not cached.  None is "-"."""
    if not isinstance(row, tuple):
        return row
    fields = ["-" if f is None else str(int(f)) if isinstance(f, bool) else str(f) for f in row]
    if any(not f or any(c.isspace() for c in f) for f in fields):
        raise SystemExit(f"field with whitespace in {row}")
    return " ".join(fields)


def render_dict(name: str, comment: str, rows: dict, key_width: int | None = 4) -> list[str]:
    out = [f"# {comment}", f"{name} = {{"]
    for key in sorted(rows):
        k = f"0x{key:0{key_width}X}" if key_width else repr(key)
        out.append(f"    {k}: {row_text(rows[key])!r},")
    return out + ["}", ""]


def generate() -> str:
    notes: list[str] = []
    suites, sslv2 = cipher_suites(notes)
    group_rows, schemes, maps, primes = groups(), signature_schemes(notes), simple_maps(), dh_primes(notes)
    from cryptodatahub.tls.algorithm import TlsGreaseOneByte
    for table, rows in [("groups", group_rows), ("suites", suites), ("schemes", schemes)]:
        dup = [n for n, c in collections.Counter(r[0] for r in rows.values()).items() if c > 1]
        if dup:
            raise SystemExit(f"duplicate {table} names: {dup}")
    cdh = importlib.metadata.version("CryptoDataHub")
    out = [f"# generated by tools/gen_registry.py from cryptodatahub {cdh}; do not edit",
           "# Alert, handshake and content types (and extension types cryptodatahub lacks) come from scapy;",
           "# SUPPLEMENT in the generator adds the few code points neither library has, each with its RFC.",
           '"""IANA TLS registries as plain literals, so importing them costs no library import."""',
           "", f"CRYPTODATAHUB_VERSION = {cdh!r}", ""]
    if notes:
        out += ["# Data notes (cryptodatahub records corrected or left out by the generator):"]
        out += [f"#   {n}" for n in sorted(notes)] + [""]
    out += render_dict("CIPHER_SUITES", "code: 'name kx auth cipher mode bits mac export tls13 scsv' (flags 0/1)"
                       " -- cryptodatahub TlsCipherSuite + TlsCipherSuiteExtension", suites)
    out += render_dict("SSLV2_CIPHER_KINDS", "24-bit code: name -- cryptodatahub SslCipherKind", sslv2, 6)
    out += render_dict("GROUPS", "code: 'name kind bits client_share_len server_share_len pq' (- is None)"
                       " -- cryptodatahub TlsNamedCurve + EC/DH/KEM/hybrid parameters", group_rows)
    out += render_dict("SIGNATURE_SCHEMES", "code: 'name sig hash' -- cryptodatahub TlsSignatureAndHashAlgorithm",
                       schemes)
    wide = {"EXTENSIONS", "VERSIONS", "CERTIFICATE_COMPRESSION"}  # 16-bit code points; the rest are 8-bit
    for table, rows in maps.items():
        out += render_dict(table, "code: name", rows, 4 if table in wide else 2)
    out += ["# RFC 8701 one-byte GREASE values (PSK modes) -- cryptodatahub TlsGreaseOneByte",
            f"GREASE_ONE_BYTE = {tuple(sorted(m.value.code for m in TlsGreaseOneByte))!r}", ""]
    out += render_dict("DH_PRIMES", "sha256(big-endian p): name -- cryptodatahub DHParamWellKnown", primes, None)
    return "\n".join(out)


def write_or_check(out: Path, text: str, script: str, argv: list[str] | None = None) -> int:
    """The generators' command line: write `text` to `out`, or with --check exit 1 when it differs."""
    parser = argparse.ArgumentParser(description=f"generate {out.name}")
    parser.add_argument("--check", action="store_true", help="exit 1 if the table on disk is stale")
    args = parser.parse_args(argv)
    if args.check:
        current = out.read_text() if out.exists() else ""
        if current == text:
            return 0
        diff = difflib.unified_diff(current.splitlines(), text.splitlines(), "on disk", "generated", lineterm="", n=0)
        sys.stderr.write(f"{out} is stale; run python {script}\n")
        sys.stderr.write("\n".join(list(diff)[:40]) + "\n")
        return 1
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"wrote {out}")
    return 0


CODES_OUT = OUT.with_name("codes.py")
CODE_TABLES = (("HANDSHAKE_TYPES", "HS_", "handshake types"), ("CONTENT_TYPES", "CT_", "record content types"),
               ("EXTENSIONS", "EXT_", "extension types"))


def constant(name: str) -> str:
    """"TLSv1.2" -> "TLS12", "DTLSv1.0-OpenSSL-pre" -> "DTLS10_OPENSSL_PRE", "key_share" -> "KEY_SHARE"."""
    return re.sub(r"[^A-Z0-9]+", "_", name.upper().replace("V1.", "1").replace("SSLV", "SSL")).strip("_")


def generate_codes(maps: dict[str, dict[int, str]]) -> str:
    """Named constants for the code points code tests for (`body.ext(EXT_KEY_SHARE)`), from the
    same data as the names. A name two code points share: the older one gets _OLD."""
    out = ["# generated by tools/gen_registry.py; do not edit",
           '"""IANA code points as named constants, generated from the data of tables.py: code that tests',
           'for one says which (`msg.type == HS_FINISHED`, `hello.ext(EXT_SUPPORTED_VERSIONS)`)."""', "",
           "from typing import Final", ""]
    for table, prefix, what in CODE_TABLES:
        out.append(f"# {what}")
        rows = maps[table]
        seen = collections.Counter(rows.values())
        for code in sorted(rows):
            name = constant(rows[code])
            if seen[rows[code]] > 1 and code != max(c for c, n in rows.items() if n == rows[code]):
                name += "_OLD"
            out.append(f"{prefix}{name}: Final = 0x{code:04X}")
        out.append("")
    out.append("# protocol versions (TLS 1.3 drafts and experiments: registry.version_name)")
    for code, name in sorted(maps["VERSIONS"].items()):
        if "draft" not in name and "experiment" not in name:
            out.append(f"{constant(name)}: Final = 0x{code:04X}")
    return "\n".join(out) + "\n"


def main() -> int:
    tables = write_or_check(OUT, generate(), "tools/gen_registry.py")
    return tables or write_or_check(CODES_OUT, generate_codes(simple_maps()), "tools/gen_registry.py")


if __name__ == "__main__":
    sys.exit(main())
