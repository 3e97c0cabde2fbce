"""RFC 6125 host-name matching: does a certificate's name identify the host a client asked for?"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Final

_ASCII_LOWER: Final = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def reference_host(host: str) -> str | None:
    """The reference identifier as lower-case ASCII, or None when it is not an ASCII DNS name."""
    if host.endswith("."):
        host = host[:-1]
    if not host.isascii():
        return None  # an SNI carries A-labels (RFC 6066 3); raw UTF-8 names nothing a certificate may
    host = host.translate(_ASCII_LOWER)  # ASCII only: no Unicode case folding (KELVIN SIGN is not 'k')
    if not host or len(host) > 253 or any(not label for label in host.split(".")):
        return None
    return host


def ip_address_of(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    value = value.strip("[]")
    if ":" not in value and not value.replace(".", "").isdigit():
        return None  # a host name, the usual case: no exception to raise and catch
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def dns_name_matches(reference: str, presented: str) -> bool:
    """RFC 6125 6.4: does one presented DNS identifier (a SAN dNSName, or a CN) match the host?

    Case-insensitive over ASCII; A-labels compared as ASCII (a U-label in a certificate never
    matches); a wildcard only as the complete left-most label of a name with at least three
    labels, matching exactly one non-empty label (6.4.3; `*.com`, `f*.example.com`,
    `*.*.example.com` and `www.*.example.com` match nothing)."""
    ref = reference_host(reference)
    if ref is None or ip_address_of(ref) is not None or not presented or not presented.isascii():
        return False
    pat = presented[:-1] if presented.endswith(".") else presented
    pat = pat.translate(_ASCII_LOWER)
    labels = pat.split(".")
    if any(not label for label in labels):
        return False
    if "*" not in pat:
        return pat == ref
    if labels[0] != "*" or any("*" in label for label in labels[1:]) or len(labels) < 3:
        return False
    ref_labels = ref.split(".")
    return len(ref_labels) == len(labels) and ref_labels[1:] == labels[1:]


def name_matches(reference: str, san_dns: Sequence[str] | None, san_ip: Sequence[str] = (),
                 cn: str | None = None) -> bool:
    """Does the certificate identify `reference` (an SNI)? `san_dns` None: the certificate has no
    subjectAltName extension, and only then is the CN a DNS identifier (RFC 6125 6.4.4). An IP
    address reference (not a valid SNI, RFC 6066 3) is compared with iPAddress SANs only."""
    ip = ip_address_of(reference)
    if ip is not None:
        return any(ip_address_of(p) == ip for p in san_ip)
    if san_dns is None:
        return cn is not None and dns_name_matches(reference, cn)
    return any(dns_name_matches(reference, p) for p in san_dns)
