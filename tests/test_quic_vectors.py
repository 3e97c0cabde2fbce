"""The QUIC core against the worked examples of RFC 9001 Appendix A (v1) and RFC 9369 Appendix A (v2)."""

from __future__ import annotations

import pytest

from analyzer.quic import versions as V
from analyzer.quic.connection import QuicConnection
from analyzer.quic.events import Packet, QuicStart, Retry
from analyzer.quic.keys import PacketKeys, hkdf_expand_label, hkdf_extract, initial_keys
from analyzer.quic.packet import decode_packet_number, looks_like_quic, open_packet, unmask
from analyzer.tls.events import Message

import quic_vectors as Q

VERSIONS = {"v1": (V.V1, Q.V1_CLIENT_INITIAL, Q.V1_SERVER_INITIAL, Q.V1_RETRY, Q.V1_CHACHA_PACKET),
            "v2": (V.V2, Q.V2_CLIENT_INITIAL, Q.V2_SERVER_INITIAL, Q.V2_RETRY, Q.V2_CHACHA_PACKET)}
# (client initial secret, key, iv, hp), (server ...): RFC 9001 A.1 and RFC 9369 A.1
INITIAL_SECRETS = {
    "v1": (("c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea", "1f369613dd76d5467730efcbe3b1a22d",
            "fa044b2f42a3fd3b46fb255c", "9f50449e04a0e810283a1e9933adedd2"),
           ("3c199828fd139efd216c155ad844cc81fb82fa8d7446fa7d78be803acdda951b", "cf3a5331653c364c88f0f379b6067e37",
            "0ac1493ca1905853b0bba03e", "c206b8d9b9f0f37644430b490eeaa314")),
    "v2": (("14ec9d6eb9fd7af83bf5a668bc17a7e283766aade7ecd0891f70f9ff7f4bf47b", "8b1a0bc121284290a29e0971b5cd045d",
            "91f73e2351d8fa91660e909f", "45b95e15235d6f45a6b19cbcb0294ba9"),
           ("0263db1782731bf4588e7e4d93b7463907cb8cd8200b5da55a8bd488eafc37c1", "82db637861d55e1d011f19ea71d5d2a7",
            "dd13c276499c0249d3310652", "edf6d05c83121201b436e16877593c3a")),
}


@pytest.mark.parametrize("name", ["v1", "v2"])
def test_initial_secrets_keys_ivs_and_header_keys(name: str) -> None:
    version = V.VERSIONS[VERSIONS[name][0]]
    initial = hkdf_extract(version.salt, Q.DCID)
    for label, (secret, key, iv, hp) in zip(("client in", "server in"), INITIAL_SECRETS[name]):
        derived = hkdf_expand_label(initial, label, b"", 32)
        assert derived.hex() == secret
        assert hkdf_expand_label(derived, version.labels + "key", b"", 16).hex() == key
        assert hkdf_expand_label(derived, version.labels + "iv", b"", 12).hex() == iv
        assert hkdf_expand_label(derived, version.labels + "hp", b"", 16).hex() == hp
    client, server = initial_keys(version, Q.DCID)
    assert (client.iv.hex(), server.iv.hex()) == (INITIAL_SECRETS[name][0][2], INITIAL_SECRETS[name][1][2])


@pytest.mark.parametrize("name", ["v1", "v2"])
def test_client_and_server_initial_decode_into_hellos(name: str) -> None:
    code, client_initial, server_initial, _, _ = VERSIONS[name]
    assert looks_like_quic(client_initial) and looks_like_quic(server_initial)
    conn = QuicConnection()
    first = conn.datagram(0, client_initial, 1, 0.5)
    assert isinstance(first[0], QuicStart) and first[0].version == code and first[0].original_dcid == Q.DCID
    packet = next(e for e in first if isinstance(e, Packet))
    assert (packet.packet_type, packet.packet_number, packet.length) == ("Initial", 2, 1200)
    assert packet.frames == ["crypto", "padding"]
    (ch,) = [e for e in first if isinstance(e, Message)]
    assert (ch.name, ch.frame, ch.content_type, ch.record_version, ch.decrypted) == ("ClientHello", 1, 22, 0, False)
    assert ch.body.random == Q.CLIENT_RANDOM
    assert ch.body.ext(0).fields["host_name"] == "example.com"
    assert ch.body.ext(16).fields["protocols"] == ["alpn"]
    params = {p["name"]: p for p in ch.body.ext(0x39).fields["parameters"]}
    assert params["initial_max_data"]["value"] == (1 << 62) - 1  # the largest varint
    assert params["initial_max_stream_data_bidi_local"]["value"] == 0xFFFF
    assert params["initial_source_connection_id"]["hex"] == Q.DCID.hex()
    assert params["max_idle_timeout"]["value"] == 30000
    second = conn.datagram(1, server_initial, 2, 0.6)
    packet = next(e for e in second if isinstance(e, Packet))
    assert (packet.side, packet.packet_number, packet.frames) == (1, 1, ["ack", "crypto"])
    (sh,) = [e for e in second if isinstance(e, Message)]
    assert (sh.name, sh.frame, sh.body.cipher_suite) == ("ServerHello", 2, 0x1301)
    assert conn.client_side == 0 and conn.confirmed and conn.suite == 0x1301
    assert conn.end() == []  # nothing missing, nothing half-read


@pytest.mark.parametrize("name", ["v1", "v2"])
def test_retry_integrity_tag(name: str) -> None:
    _, client_initial, _, retry, _ = VERSIONS[name]
    conn = QuicConnection()
    conn.datagram(0, client_initial, 1, 0.0)
    (event,) = [e for e in conn.datagram(1, retry, 2, 0.1) if isinstance(e, Retry)]
    assert (event.integrity, event.accepted, event.token_length, event.scid) == \
        ("ok", True, len(b"token"), bytes.fromhex("f067a5502a4262b5"))
    assert conn.initial_dcid == event.scid  # the next Initials' keys derive from it
    damaged = retry[:-1] + bytes((retry[-1] ^ 1,))
    other = QuicConnection()
    other.datagram(0, client_initial, 1, 0.0)
    (event,) = [e for e in other.datagram(1, damaged, 2, 0.1) if isinstance(e, Retry)]
    assert (event.integrity, event.accepted) == ("failed", False)
    assert other.initial_dcid == Q.DCID


@pytest.mark.parametrize("name", ["v1", "v2"])
def test_chacha20_short_header_packet(name: str) -> None:
    """RFC 9001 A.5 / RFC 9369 A.5: header protection by ChaCha20, AEAD ChaCha20-Poly1305; a PING."""
    packet = VERSIONS[name][4]
    keys = PacketKeys(0x1303, Q.V1_CHACHA_SECRET, V.VERSIONS[VERSIONS[name][0]].labels)
    u = unmask(packet, 0, 1, len(packet), keys)
    assert (u.first, u.pn_length, u.truncated_pn) == (0x42, 3, 0x00BFF4)
    pn = decode_packet_number(Q.CHACHA_PACKET_NUMBER - 1, u.truncated_pn, 24)
    assert pn == Q.CHACHA_PACKET_NUMBER
    assert open_packet(packet, u, pn, 1, len(packet), keys) == b"\x01"


def test_key_update_secret() -> None:
    """RFC 9001 A.5: the next secret after a key update ("quic ku")."""
    keys = PacketKeys(0x1303, Q.V1_CHACHA_SECRET, "quic ")
    assert keys.next_phase().secret.hex() == "1223504755036d556342ee9361d253421a826c9ecdf3c7148684b36b714881f9"


def test_packet_number_recovery_example() -> None:
    """RFC 9000 A.3: largest 0xa82f30ea, truncated 0x9b32 (16 bits) is 0xa82f9b32."""
    assert decode_packet_number(0xA82F30EA, 0x9B32, 16) == 0xA82F9B32
    assert decode_packet_number(-1, 0, 8) == 0
    assert decode_packet_number(0xFE, 0x01, 8) == 0x101  # wraps forward


def test_version_names() -> None:
    assert [V.version_name(c) for c in (1, V.V2, 0xFF00001D, 0, 0x1A2A3A4A, 0xFF000016, 0x51303530)] == \
        ["QUICv1", "QUICv2", "draft-29", "negotiation", "GREASE(0x1a2a3a4a)", "draft-22", "unknown(0x51303530)"]
    assert V.VERSIONS[0xFF00001D].transport_parameters == 0xFFA5 and V.VERSIONS[V.V1].transport_parameters == 0x39
    assert V.VERSIONS[V.V2].packet_type(0xD0) == V.INITIAL and V.VERSIONS[V.V1].packet_type(0xD0) == V.ZERO_RTT
