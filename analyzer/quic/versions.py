"""QUIC versions: what differs between them (initial salt, key labels, Retry integrity key and
nonce, long-header type bits, the transport-parameters extension code point), looked up by the
32-bit version field.

Covered: v1 (RFC 9000/9001), v2 (RFC 9369), the IETF drafts 23 to 34 (0xff000017..0xff000022;
their salts and Retry keys from drafts 23, 25, 29 and 33 of draft-ietf-quic-tls). Not covered:
drafts before 23 (other header layouts; no capture we know has them) and Google's gQUIC
(Q043..Q050, T050/T051: a different handshake, absent from the corpus).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# packet types, version independent (what the header means, not its bits)
INITIAL: Final = 0
ZERO_RTT: Final = 1
HANDSHAKE: Final = 2
RETRY: Final = 3
VERSION_NEGOTIATION: Final = 4
ONE_RTT: Final = 5
PACKET_TYPE_NAMES: Final = ("Initial", "0-RTT", "Handshake", "Retry", "VersionNegotiation", "1-RTT")

V1: Final = 0x00000001
V2: Final = 0x6B3343CF
TP_RFC: Final = 0x39  # quic_transport_parameters (RFC 9001)
TP_DRAFT: Final = 0xFFA5  # the drafts' code point for the same extension

SALT_V1: Final = bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a")
SALT_V2: Final = bytes.fromhex("0dede3def700a6db819381be6e269dcbf9bd2ed9")
SALT_D29: Final = bytes.fromhex("afbfec289993d24c9e9786f19c6111e04390a899")
SALT_D23: Final = bytes.fromhex("c3eef712c72ebb5a11a7d2432bb46365bef9f502")
RETRY_V1: Final = (bytes.fromhex("be0c690b9f66575a1d766b54e368c84e"), bytes.fromhex("461599d35d632bf2239825bb"))
RETRY_V2: Final = (bytes.fromhex("8fb4b01b56ac48e260fbcbcead7ccc92"), bytes.fromhex("d86969bc2d7c6d9990efb04a"))
RETRY_D29: Final = (bytes.fromhex("ccce187ed09a09d05728155a6cb96be1"), bytes.fromhex("e54930f97f2136f0530a8c1c"))
RETRY_D25: Final = (bytes.fromhex("4d32ecdb2a2133c841e4043df27d4430"), bytes.fromhex("4d1611d05513a552c587d575"))
TYPES_V1: Final = (INITIAL, ZERO_RTT, HANDSHAKE, RETRY)  # wire bits 0..3 -> packet type
TYPES_V2: Final = (RETRY, INITIAL, ZERO_RTT, HANDSHAKE)  # RFC 9369 3.2


@dataclass(frozen=True, slots=True)
class Version:
    code: int
    name: str
    salt: bytes
    labels: str  # prefix of the HKDF labels: "quic " (v1 and drafts) or "quicv2 "
    retry: tuple[bytes, bytes] | None  # Retry integrity AES-128-GCM key and nonce; None: no tag (drafts < 25)
    types: tuple[int, int, int, int]  # long-header type bits -> packet type
    transport_parameters: int  # extension code point carrying the transport parameters
    legacy_parameters: bool = False  # drafts < 27: 16-bit ids and lengths, not varints

    def packet_type(self, first_byte: int) -> int:
        return self.types[(first_byte >> 4) & 3]

    def type_bits(self, ptype: int) -> int:
        return self.types.index(ptype)


def _draft(n: int) -> Version:
    salt = SALT_D23 if n <= 28 else SALT_D29 if n <= 32 else SALT_V1
    retry = None if n < 25 else RETRY_D25 if n <= 28 else RETRY_D29 if n <= 32 else RETRY_V1
    return Version(0xFF000000 | n, f"draft-{n}", salt, "quic ", retry, TYPES_V1,
                   TP_DRAFT if n <= 32 else TP_RFC, n < 27)


VERSIONS: Final[dict[int, Version]] = {
    V1: Version(V1, "QUICv1", SALT_V1, "quic ", RETRY_V1, TYPES_V1, TP_RFC),
    V2: Version(V2, "QUICv2", SALT_V2, "quicv2 ", RETRY_V2, TYPES_V2, TP_RFC),
    **{0xFF000000 | n: _draft(n) for n in range(23, 35)},
}


def lookup(code: int) -> Version | None:
    return VERSIONS.get(code)


def is_grease(code: int) -> bool:
    """RFC 9000 15: versions 0x?a?a?a?a are reserved to exercise version negotiation."""
    return code & 0x0F0F0F0F == 0x0A0A0A0A


def version_name(code: int) -> str:
    """QUICv1, QUICv2, draft-29, negotiation (0), GREASE(0x1a2a3a4a), else unknown(0x........)."""
    v = VERSIONS.get(code)
    if v is not None:
        return v.name
    if code == 0:
        return "negotiation"
    if is_grease(code):
        return f"GREASE(0x{code:08x})"
    if code >> 8 == 0xFF0000:
        return f"draft-{code & 0xFF}"
    return f"unknown(0x{code:08x})"
