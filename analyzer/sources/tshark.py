"""Wireshark's own decode of a capture, through pyshark (tshark's JSON output), as oracle messages.

Only the fields `crosscheck` compares are extracted: per handshake message its frame, type,
cipher suites, extension types (wire order), SNI, ALPN, supported_versions and key_share groups.
TLS over TCP and inside QUIC's CRYPTO frames uses the `tls.` fields; DTLS the same under `dtls.`.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from analyzer.errors import BackendUnavailable, InputError

TLS_FIELD = "tls.handshake.type"
LAYERS = {"tls": "tls", "quic": "tls", "dtls": "dtls"}  # pyshark layer -> the prefix of its handshake fields


@dataclass(slots=True)
class OracleMessage:
    frame: int
    type: int
    cipher_suites: list[int] = field(default_factory=list)
    extension_types: list[int] = field(default_factory=list)
    sni: str | None = None
    alpn: list[str] = field(default_factory=list)
    versions: list[int] = field(default_factory=list)
    key_share_groups: list[int] = field(default_factory=list)


def tshark_path() -> str:
    path = shutil.which("tshark")
    if path is None:
        raise BackendUnavailable("tshark is not installed", "apt-get install tshark (Wireshark's command line)")
    return path


def _as_list(v: Any) -> list:
    return v if isinstance(v, list) else [v]


def _int(s: str) -> int:
    return int(s, 16) if s.startswith("0x") else int(s)


def _find(node: Any, key: str) -> Iterator[Any]:
    """Every value stored under `key` anywhere below `node`, in document order."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                yield from _as_list(v)
            else:
                yield from _find(v, key)
    elif isinstance(node, list):
        for item in node:
            yield from _find(item, key)


def _handshakes(node: Any, field: str = TLS_FIELD) -> Iterator[dict]:
    """Handshake message objects (dicts holding a visible tls.handshake.type, or `field`)."""
    if isinstance(node, dict):
        if field in node:
            yield node
            return
        for v in node.values():
            yield from _handshakes(v, field)
    elif isinstance(node, list):
        for item in node:
            yield from _handshakes(item, field)


def _message(frame: int, h: dict, p: str = "tls") -> OracleMessage:
    m = OracleMessage(frame, _int(_as_list(h[f"{p}.handshake.type"])[0]))
    if m.type == 1:
        m.cipher_suites = [_int(x) for x in _find(h, f"{p}.handshake.ciphersuite")]
    elif m.type == 2:
        m.cipher_suites = [_int(x) for x in _find(h, f"{p}.handshake.ciphersuite")][:1]
    m.extension_types = [_int(x) for x in _find(h, f"{p}.handshake.extension.type")]
    m.sni = next(_find(h, f"{p}.handshake.extensions_server_name"), None)
    m.alpn = list(_find(h, f"{p}.handshake.extensions_alpn_str"))
    m.versions = [_int(x) for x in _find(h, f"{p}.handshake.extensions.supported_version")]
    m.key_share_groups = [_int(x) for x in _find(h, f"{p}.handshake.extensions_key_share_group")] + \
        [_int(x) for x in _find(h, f"{p}.handshake.extensions_key_share_selected_group")]  # HelloRetryRequest
    return m


def wireshark_messages(path: str, decode_as: dict[int, str]) -> list[OracleMessage]:
    """Handshake messages as tshark decodes them; `decode_as` maps TCP ports to dissectors (UDP
    ports for "dtls").
    A failure is tried once more before it is reported: on a loaded machine pyshark sometimes
    reports a crash of a tshark it stopped itself (pyshark issues #395, #437), where a file
    tshark cannot read fails the same way twice."""
    tshark_path()
    try:
        return _wireshark_messages(path, decode_as)
    except InputError:
        return _wireshark_messages(path, decode_as)


def _wireshark_messages(path: str, decode_as: dict[int, str]) -> list[OracleMessage]:
    import pyshark  # imported here: it is slow to import and only this command needs it

    cap = pyshark.FileCapture(path, use_json=True, display_filter=f"{TLS_FIELD} or dtls.handshake.type",
                              keep_packets=False,
                              decode_as={f"{'udp' if proto == 'dtls' else 'tcp'}.port=={p}": proto
                                         for p, proto in sorted(decode_as.items())})
    out: list[OracleMessage] = []
    try:
        for pkt in _packets(cap, path):
            if "tcp" not in pkt and "udp" not in pkt:
                continue
            frame = int(pkt.number)
            for name, prefix in LAYERS.items():
                for layer in pkt.get_multiple_layers(name):
                    # several layers of one kind in one frame come as one JsonLayer plus its duplicate_layers
                    for part in [layer, *layer.duplicate_layers]:
                        out.extend(_message(frame, h, prefix)
                                   for h in _handshakes(part._all_fields, f"{prefix}.handshake.type"))
    finally:
        _close(cap, path)
    return out


def _close(cap: Any, path: str) -> None:
    """Close the capture; a tshark that died on the file is reported once, in one line."""
    try:
        cap.close()
    except Exception as exc:  # noqa: BLE001
        _raise_one_line(exc, path)
    finally:
        cap.close = lambda: None  # pyshark's __del__ would close (and raise) again


def _packets(cap: Any, path: str) -> Iterator[Any]:
    """pyshark's packets; tshark failing on the file becomes one line, not pyshark's traceback."""
    try:
        yield from cap
    except Exception as exc:  # noqa: BLE001 - pyshark raises several unrelated types here
        _raise_one_line(exc, path)


def _raise_one_line(exc: Exception, path: str) -> None:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    why = next((line for line in lines if line.startswith("Last error line")), lines[0] if lines else "")
    raise InputError(f"tshark could not read {path}: {why or type(exc).__name__}",
                     "the capture may be corrupt; our own analysis does not need tshark") from None
