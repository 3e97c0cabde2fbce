"""The decryption primitives (analyzer.tls.decrypt) on published vectors and on real records.

Published vectors first: RFC 8448's TLS 1.3 traces (section 3, "Simple 1-RTT Handshake", and
section 4, "Resumed 0-RTT Handshake") give traffic secrets and the exact protected records; the TLS
1.2 PRF vectors circulated on the IETF TLS list give P_SHA256 and P_SHA384. Then real captures:
each record of each keyed fixture capture, cut out of the reassembled TCP streams here (not by the
record layer under test), must decrypt with the secrets its own peers logged, to the Finished
messages and to the bytes captures/make_captures.py and make_keyed_captures.py had the peers send.
Wrong keys and damaged records give DecryptError, never a plaintext.
"""

from __future__ import annotations

import hashlib
import shutil
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from analyzer.net.decode import PacketDecoder, Segment
from analyzer.net.flows import FlowTable
from analyzer.net.tcp import Gap, StreamData
from analyzer.sources.pcap import read_frames
from analyzer.tls import decrypt
from analyzer.tls.decrypt import DecryptError, RecordCipher
from analyzer.tls.keylog import KeyLog

from conftest import CAPTURES

KEYS = CAPTURES / "keys"
HTTP_GET = b"GET / HTTP/1.0\r\n\r\n"  # what every s_client/gnutls-cli of a -www/--http fixture sends
CLOSE_NOTIFY = (21, b"\x01\x00")
CH, SH, NST, EOED, EE, FIN, KEY_UPDATE = 1, 2, 4, 5, 8, 20, 24

# --------------------------------------------------------------------------------------------
# RFC 8448 section 3: Simple 1-RTT Handshake (TLS_AES_128_GCM_SHA256)
# --------------------------------------------------------------------------------------------
RFC8448_S_HS = bytes.fromhex("b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38")
RFC8448_C_HS = bytes.fromhex("b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21")
RFC8448_C_AP = bytes.fromhex("9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5")
RFC8448_S_AP = bytes.fromhex("a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643")
# {server} send handshake record: EncryptedExtensions..Finished under the server handshake key
RFC8448_SERVER_FLIGHT_RECORD = bytes.fromhex(
    "17030302a2d1ff334a56f5bff6594a07cc87b580233f500f45e489e7f33af35edf7869fcf40aa40aa2b8ea73f848a7ca"
    "07612ef9f945cb960b4068905123ea78b111b429ba9191cd05d2a389280f526134aadc7fc78c4b729df828b5ecf7b13b"
    "d9aefb0e57f271585b8ea9bb355c7c79020716cfb9b1183ef3ab20e37d57a6b9d7477609aee6e122a4cf51427325250c"
    "7d0e509289444c9b3a648f1d71035d2ed65b0e3cdd0cbae8bf2d0b227812cbb360987255cc744110c453baa4fcd61092"
    "8d809810e4b7ed1a8fd991f06aa6248204797e36a6a73b70a2559c09ead686945ba246ab66e5edd8044b4c6de3fcf2a8"
    "9441ac66272fd8fb330ef8190579b3684596c960bd596eea520a56a8d650f563aad27409960dca63d3e688611ea5e22f"
    "4415cf9538d51a200c27034272968a264ed6540c84838d89f72c24461aad6d26f59ecaba9acbbb317b66d902f4f292a3"
    "6ac1b639c637ce343117b659622245317b49eeda0c6258f100d7d961ffb138647e92ea330faeea6dfa31c7a84dc3bd7e"
    "1b7a6c7178af36879018e3f252107f243d243dc7339d5684c8b0378bf30244da8c87c843f5e56eb4c5e8280a2b48052c"
    "f93b16499a66db7cca71e4599426f7d461e66f99882bd89fc50800becca62d6c74116dbd2972fda1fa80f85df881edbe"
    "5a37668936b335583b599186dc5c6918a396fa48a181d6b6fa4f9d62d513afbb992f2b992f67f8afe67f76913fa388cb"
    "5630c8ca01e0c65d11c66a1e2ac4c85977b7c7a6999bbf10dc35ae69f5515614636c0b9b68c19ed2e31c0b3b66763038"
    "ebba42f3b38edc0399f3a9f23faa63978c317fc9fa66a73f60f0504de93b5b845e275592c12335ee340bbc4fddd50278"
    "4016e4b3be7ef04dda49f4b440a30cb5d2af939828fd4ae3794e44f94df5a631ede42c1719bfdabf0253fe5175be898e"
    "750edc53370d2b")
# {server} send handshake record: the payload starts with this EncryptedExtensions (40 bytes)
RFC8448_EE = bytes.fromhex("080000240022000a00140012001d00170018001901000101010201030104001c0002400100000000")
RFC8448_SERVER_FINISHED = bytes.fromhex(
    "140000209b9b141d906337fbd2cbdce71df4deda4ab42c309572cb7fffee5454b78f0718")
RFC8448_CLIENT_FINISHED_RECORD = bytes.fromhex(
    "170303003575ec4dc238cce60b298044a71e219c56cc77b0517fe9b93c7a4bfc44d87f38f80338ac98fc46deb384bd1c"
    "aeacab6867d726c40546")
RFC8448_CLIENT_FINISHED = bytes.fromhex(
    "14000020a8ec436d677634ae525ac1fcebe11a039ec17694fac6e98527b642f2edd5ce61")
RFC8448_NST_RECORD = bytes.fromhex(
    "17030300de3a6b8f90414a97d6959c3487680de5134a2b240e6cffac116e95d41d6af8f6b580dcf3d11d63c758db289a"
    "015940252f55713e061dc13e078891a38efbcf5753ad8ef170ad3c7353d16d9da773b9ca7f2b9fa1b6c0d4a3d03f75e0"
    "9c30ba1e62972ac46f75f7b981be63439b2999ce13064615139891d5e4c5b406f16e3fc181a77ca475840025db2f0a77"
    "f81b5ab05b94c01346755f69232c86519d86cbeeac87aac347d143f9605d64f650db4d023e70e952ca49fe5137121c74"
    "bc2697687e248746d6df353005f3bce18696129c8153556b3b6c6779b37bf15985684f")
RFC8448_CLIENT_DATA_RECORD = bytes.fromhex(
    "1703030043a23f7054b62c94d0affafe8228ba55cbefacea42f914aa66bcab3f2b9819a8a5b46b395bd54a9a20441e2b"
    "62974e1f5a6292a2977014bd1e3deae63aeebb21694915e4")
RFC8448_SERVER_DATA_RECORD = bytes.fromhex(
    "17030300432e937e11ef4ac740e538ad36005fc4a46932fc3225d05f82aa1b36e30efaf97d90e6dffc602dcb501a59a8"
    "fcc49c4bf2e5f0a21c0047c2abf332540dd032e167c2955d")
RFC8448_CLIENT_ALERT_RECORD = bytes.fromhex("1703030013c9872760655666b74d7ff1153efd6db6d0b0e3")
RFC8448_SERVER_ALERT_RECORD = bytes.fromhex("1703030013b58fd67166ebf599d24720cfbe7efa7a8864a9")
RFC8448_APP_DATA = bytes(range(50))  # "send application_data": 00 01 .. 31, both ways
# RFC 8448 section 4: Resumed 0-RTT Handshake; {client} send application_data record "ABCDEF"
RFC8448_C_EARLY = bytes.fromhex("3fbbe6a60deb66c30a32795aba0eff7eaa10105586e7be5c09678d63b6caab62")
RFC8448_EARLY_RECORD = bytes.fromhex("1703030017ab1df420e75c457a7cc5d2844f76d5aee4b4edbf049be0")


def _open(cipher: RecordCipher, record: bytes) -> tuple[int, bytes]:
    ct, version, length = struct.unpack_from("!BHH", record)
    assert length == len(record) - 5
    return cipher.decrypt(ct, version, record[5:])


def test_rfc8448_traffic_keys() -> None:
    """The key and IV HKDF-Expand-Label derives, as the RFC prints them."""
    expand = decrypt.hkdf_expand_label
    assert expand(RFC8448_S_HS, "key", b"", 16, "SHA256").hex() == "3fce516009c21727d0f2e4e86ee403bc"
    assert expand(RFC8448_S_HS, "iv", b"", 12, "SHA256").hex() == "5d313eb2671276ee13000b30"
    assert expand(RFC8448_C_HS, "key", b"", 16, "SHA256").hex() == "dbfaa693d1762c5b666af5d950258d01"
    assert expand(RFC8448_C_HS, "iv", b"", 12, "SHA256").hex() == "5bd3c71b836e0b76bb73265f"
    assert expand(RFC8448_S_AP, "key", b"", 16, "SHA256").hex() == "9f02283b6c9c07efc26bb9f2ac92e356"
    assert expand(RFC8448_C_AP, "iv", b"", 12, "SHA256").hex() == "5b78923dee08579033e523d9"
    assert expand(RFC8448_C_EARLY, "key", b"", 16, "SHA256").hex() == "920205a5b7bf2115e6fc5c2942834f54"


def test_rfc8448_server_handshake_flight() -> None:
    ct, plain = _open(decrypt.tls13_cipher(0x1301, RFC8448_S_HS), RFC8448_SERVER_FLIGHT_RECORD)
    assert ct == 22  # the inner content type: handshake, under an outer application_data header
    assert plain.startswith(RFC8448_EE)
    assert plain.endswith(RFC8448_SERVER_FINISHED)
    assert len(plain) == 657
    assert [t for t, _ in _messages(plain)] == [EE, 11, 15, FIN]  # EE, Certificate, CertificateVerify, Finished


def test_rfc8448_client_finished_and_application_data_with_sequence_numbers() -> None:
    client_hs = decrypt.tls13_cipher(0x1301, RFC8448_C_HS)
    assert _open(client_hs, RFC8448_CLIENT_FINISHED_RECORD) == (22, RFC8448_CLIENT_FINISHED)
    server_ap = decrypt.tls13_cipher(0x1301, RFC8448_S_AP)
    ct, ticket = _open(server_ap, RFC8448_NST_RECORD)  # sequence 0
    assert ct == 22 and ticket[:4] == bytes.fromhex("040000c9") and len(ticket) == 205
    client_ap = decrypt.tls13_cipher(0x1301, RFC8448_C_AP)
    assert _open(client_ap, RFC8448_CLIENT_DATA_RECORD) == (23, RFC8448_APP_DATA)  # sequence 0
    assert _open(server_ap, RFC8448_SERVER_DATA_RECORD) == (23, RFC8448_APP_DATA)  # sequence 1
    assert _open(client_ap, RFC8448_CLIENT_ALERT_RECORD) == CLOSE_NOTIFY  # sequence 1
    assert _open(server_ap, RFC8448_SERVER_ALERT_RECORD) == CLOSE_NOTIFY  # sequence 2


def test_rfc8448_early_data() -> None:
    assert _open(decrypt.tls13_cipher(0x1301, RFC8448_C_EARLY), RFC8448_EARLY_RECORD) == (23, b"ABCDEF")


def test_rfc8448_records_fed_out_of_order_fail_and_do_not_advance_the_sequence() -> None:
    server_ap = decrypt.tls13_cipher(0x1301, RFC8448_S_AP)
    with pytest.raises(DecryptError):
        _open(server_ap, RFC8448_SERVER_DATA_RECORD)  # sequence 1's record at sequence 0
    assert server_ap.seq == 0
    assert _open(server_ap, RFC8448_NST_RECORD)[0] == 22
    assert _open(server_ap, RFC8448_SERVER_DATA_RECORD) == (23, RFC8448_APP_DATA)


@pytest.mark.parametrize("damage", ["tag", "ciphertext", "header", "key"])
def test_damage_gives_decrypt_error_never_plaintext(damage: str) -> None:
    record, secret = bytearray(RFC8448_CLIENT_FINISHED_RECORD), bytearray(RFC8448_C_HS)
    if damage == "tag":
        record[-1] ^= 0x01
    elif damage == "ciphertext":
        record[7] ^= 0x80
    elif damage == "header":
        record[2] = 0x01  # the header is the AEAD's additional data: 0x0301 instead of 0x0303
    else:
        secret[0] ^= 0x01
    cipher = decrypt.tls13_cipher(0x1301, bytes(secret))
    with pytest.raises(DecryptError) as err:
        _open(cipher, bytes(record))
    assert cipher.seq == 0
    _assert_no_secret(str(err.value) + err.value.reason + repr(err.value), bytes(secret))


def test_tls13_inner_plaintext_padding_and_content_type() -> None:
    """RFC 8446 5.4: zeros after the content type are padding; all zeros is no record at all.
    Records sealed here with cryptography's AESGCM itself, at the key and IV RFC 8448 gives."""
    key, iv = bytes.fromhex("9f02283b6c9c07efc26bb9f2ac92e356"), bytes.fromhex("cf782b88dd83549aadf1e984")

    def seal(inner: bytes, seq: int) -> tuple[int, int, bytes]:
        nonce = bytes(a ^ b for a, b in zip(iv, seq.to_bytes(12, "big")))
        return 23, 0x0303, AESGCM(key).encrypt(nonce, inner, struct.pack("!BHH", 23, 0x0303, len(inner) + 16))

    cipher = decrypt.tls13_cipher(0x1301, RFC8448_S_AP)
    assert cipher.decrypt(*seal(b"hello\x17" + bytes(100), 0)) == (23, b"hello")
    assert cipher.decrypt(*seal(b"\x00\x00\x15" + bytes(3), 1)) == (21, b"\x00\x00")  # zeros inside stay
    assert cipher.decrypt(*seal(b"\x16", 2)) == (22, b"")
    with pytest.raises(DecryptError):
        cipher.decrypt(*seal(bytes(20), 3))
    assert cipher.seq == 3


def test_key_material_stays_out_of_reprs() -> None:
    cipher = decrypt.tls13_cipher(0x1301, RFC8448_S_HS)
    text = repr(cipher) + str(cipher)
    for value in ("3fce516009c21727d0f2e4e86ee403bc", "5d313eb2671276ee13000b30"):
        assert value not in text and bytes.fromhex(value).hex() not in text
    _assert_no_secret(text, RFC8448_S_HS)
    master = bytes(range(48))
    c, s = decrypt.tls12_ciphers(0x0303, 0xC013, master, bytes(32), bytes(32))
    _assert_no_secret(repr(c) + repr(s), master)
    assert "mac_key" not in repr(c) and "iv=" not in repr(c)


def _assert_no_secret(text: str, secret: bytes) -> None:
    assert secret.hex() not in text.lower() and repr(secret) not in text


def test_unsupported_suites_are_decrypt_errors() -> None:
    with pytest.raises(DecryptError, match="not supported"):
        decrypt.tls13_cipher(0xC02F, bytes(32))
    with pytest.raises(DecryptError, match="not supported"):
        decrypt.tls13_next_secret(0x00FF, bytes(32))
    with pytest.raises(DecryptError, match="not supported"):
        decrypt.tls12_ciphers(0x0303, 0x1301, bytes(48), bytes(32), bytes(32))
    with pytest.raises(DecryptError, match="not supported"):
        decrypt.tls12_ciphers(0x0303, 0x0000, bytes(48), bytes(32), bytes(32))  # TLS_NULL_WITH_NULL_NULL


@pytest.mark.parametrize("suite, version, expected", [
    (0x1301, 0x0304, True), (0x1302, 0x0304, True), (0x1303, 0x0304, True), (0x1304, 0x0304, True),
    (0x1305, 0x0304, True), (0x1301, 0x7F1C, True), (0x1301, 0x0303, False), (0xC02F, 0x0304, False),
    (0xC02F, 0x0303, True), (0xC030, 0x0303, True), (0xCCA8, 0x0303, True), (0xC09C, 0x0303, True),
    (0xC0A0, 0x0303, True), (0xC013, 0x0301, True), (0x000A, 0x0302, True), (0xC012, 0x0303, True),
    (0xC027, 0x0303, True), (0xC028, 0x0303, True), (0x0035, 0x0300, True), (0xC010, 0x0303, True),
    (0x003B, 0x0303, True), (0x0000, 0x0303, False), (0x00FF, 0x0303, False), (0x5600, 0x0303, False),
    (0xC02F, 0x0200, False), (0xC02F, None, False), (0xFFFF, 0x0303, False),
    (0x0003, 0x0301, True),  # RC4-40 export
    (0x0006, 0x0301, False),  # RC2-40 export: cryptography has no RC2 effective key bits
])
def test_supported(suite: int, version: int | None, expected: bool) -> None:
    assert decrypt.supported(suite, version) is expected


# --------------------------------------------------------------------------------------------
# TLS 1.0-1.2 PRF and master secret
# --------------------------------------------------------------------------------------------
def test_tls12_prf_sha256_published_vector() -> None:
    """The P_SHA256 test vector posted to the IETF TLS list (widely reused)."""
    out = decrypt.prf(0x0303, 0xC02F, bytes.fromhex("9bbe436ba940f017b17652849a71db35"), b"test label",
                      bytes.fromhex("a0ba9f936cda311827a6f796ffd5198c"), 100)
    assert out.hex() == (
        "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a6b301791e90d35c9c9a46b4e14baf9af"
        "0fa022f7077def17abfd3797c0564bab4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff701"
        "87347b66")


def test_tls12_prf_sha384_published_vector() -> None:
    """The P_SHA384 vector from the same post; SHA-384 suites (here 0xC030) use it."""
    out = decrypt.prf(0x0303, 0xC030, bytes.fromhex("b80b733d6ceefcdc71566ea48e5567df"), b"test label",
                      bytes.fromhex("cd665cf6a8447dd6ff8b27555edb7465"), 48)
    assert out.hex() == ("7b0c18e9ced410ed1804f2cfa34a336a1c14dffb4900bb5fd7942107e81c83cd"
                         "e9ca0faa60be9fe34f82b1233c9146a0")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
@pytest.mark.parametrize("digest, version, suite, secret", [
    ("MD5-SHA1", 0x0301, 0xC013, "9bbe436ba940f017b17652849a71db35"),
    ("MD5-SHA1", 0x0302, 0x002F, bytes(range(1, 33)).hex() + bytes(range(0xA1, 0xB1)).hex()),  # 48 bytes
    ("MD5-SHA1", 0x0301, 0x0035, "ff"),  # an odd-length secret: the halves share a byte
    ("SHA256", 0x0303, 0xC027, "00"), ("SHA384", 0x0303, 0xC028, "9bbe436ba940f017b17652849a71db35"),
])
def test_prf_agrees_with_openssl_kdf(digest: str, version: int, suite: int, secret: str) -> None:
    """OpenSSL's TLS1-PRF as an independent implementation, for TLS 1.0/1.1's MD5+SHA-1 PRF too."""
    seed = bytes.fromhex("a0ba9f936cda311827a6f796ffd5198c") * 3
    try:
        proc = subprocess.run(["openssl", "kdf", "-keylen", "104", "-kdfopt", f"digest:{digest}",
                               "-kdfopt", f"hexsecret:{secret}",
                               "-kdfopt", f"hexseed:{(b'key expansion' + seed).hex()}", "TLS1-PRF"],
                              capture_output=True, text=True, timeout=30)
    except OSError:
        pytest.skip("openssl cannot be run")
    if proc.returncode != 0:
        pytest.skip("this openssl has no kdf command")
    expected = bytes.fromhex(proc.stdout.strip().replace(":", ""))
    assert decrypt.prf(version, suite, bytes.fromhex(secret), b"key expansion", seed, 104) == expected


@pytest.mark.filterwarnings("ignore:calcMasterSecret is a deprecated method:DeprecationWarning")
def test_sslv3_master_secret_and_key_block_agree_with_tlslite() -> None:
    """SSLv3's MD5/SHA-1 construction (RFC 6101 6.1, 6.2.2), against tlslite-ng's implementation."""
    mathtls = pytest.importorskip("tlslite.mathtls")
    premaster = bytes([3, 0]) + bytes(range(46))
    cr, sr = bytes(range(100, 132)), bytes(range(200, 232))
    master = decrypt.tls12_master_secret(0x0300, 0x0035, premaster, cr, sr)
    assert master == bytes(mathtls.calcMasterSecret((3, 0), 0x0035, bytearray(premaster), bytearray(cr),
                                                    bytearray(sr)))
    assert decrypt.ssl3_key_block(master, sr + cr, 104) == bytes(mathtls.PRF_SSL(bytearray(master),
                                                                                 bytearray(sr + cr), 104))
    # TLS 1.0 and 1.2 master secrets, same inputs
    for version, tup in ((0x0301, (3, 1)), (0x0303, (3, 3))):
        assert decrypt.tls12_master_secret(version, 0xC02F, premaster, cr, sr) == bytes(
            mathtls.calcMasterSecret(tup, 0xC02F, bytearray(premaster), bytearray(cr), bytearray(sr)))


# --------------------------------------------------------------------------------------------
# Real captures: TCP streams reassembled here, records cut with a 5-byte header loop
# --------------------------------------------------------------------------------------------
Record = tuple[int, int, bytes]  # content type, record version, body


def tcp_streams(path: Path) -> list[tuple[bytes, bytes]]:
    """(client bytes, server bytes) of every TCP connection, in order of first packet."""
    decoder, table = PacketDecoder(), FlowTable()
    data: dict[int, tuple[bytearray, bytearray]] = {}

    def take(conn_id: int, events: list) -> None:
        for ev in events:
            assert not isinstance(ev, Gap), f"{path.name}: bytes missing from the capture"
            if isinstance(ev, StreamData):
                buf = data.setdefault(conn_id, (bytearray(), bytearray()))[ev.direction]
                assert ev.offset == len(buf)
                buf += ev.data

    for frame in read_frames(str(path)):
        seg = decoder.decode(frame.linktype, frame.data)
        if not isinstance(seg, Segment):
            continue
        hit = table.lookup(seg, frame.number, frame.ts)
        if hit is None:
            continue
        conn, direction = hit
        events: list = []
        conn.segment(direction, seg, frame.number, frame.ts, events)
        take(conn.id, events)
    for conn in table.drain():
        events = []
        conn.finish("capture end", events)
        take(conn.id, events)
    return [(bytes(c), bytes(s)) for _, (c, s) in sorted(data.items())]


def split_records(stream: bytes) -> list[Record]:
    out, pos = [], 0
    while pos + 5 <= len(stream):
        ct, version, length = struct.unpack_from("!BHH", stream, pos)
        assert ct in (20, 21, 22, 23) and version >> 8 == 3, f"not a TLS record at offset {pos}"
        out.append((ct, version, stream[pos + 5:pos + 5 + length]))
        pos += 5 + length
    assert pos == len(stream), "the stream does not end on a record boundary"
    return out


def _messages(buf: bytes) -> list[tuple[int, bytes]]:
    """Whole handshake messages (type, header + body) in buf; the caller keeps any tail."""
    out, pos = [], 0
    while pos + 4 <= len(buf):
        length = int.from_bytes(buf[pos + 1:pos + 4], "big")
        if pos + 4 + length > len(buf):
            break
        out.append((buf[pos], bytes(buf[pos:pos + 4 + length])))
        pos += 4 + length
    return out


@dataclass
class Hello:
    version: int
    random: bytes
    suite: int | None
    extensions: dict[int, bytes] = field(default_factory=dict)

    @classmethod
    def parse(cls, msg: bytes) -> Hello:
        body = msg[4:]
        version, random, pos = int.from_bytes(body[:2], "big"), body[2:34], 35 + body[34]
        if msg[0] == SH:
            suite, pos = int.from_bytes(body[pos:pos + 2], "big"), pos + 3
        else:
            suite = None
            pos += 2 + int.from_bytes(body[pos:pos + 2], "big")
            pos += 1 + body[pos]
        exts, pos = {}, pos + 2
        while pos + 4 <= len(body):
            etype, elen = struct.unpack_from("!HH", body, pos)
            exts[etype] = body[pos + 4:pos + 4 + elen]
            pos += 4 + elen
        if msg[0] == SH and 43 in exts:
            version = int.from_bytes(exts[43], "big")  # supported_versions: TLS 1.3
        return cls(version, random, suite, exts)

    @property
    def hello_retry_request(self) -> bool:
        return self.random == hashlib.sha256(b"HelloRetryRequest").digest()


@dataclass
class Session:
    """What one connection's records decrypted to, per direction (0 client, 1 server)."""

    plaintexts: tuple[list[tuple[int, bytes]], list[tuple[int, bytes]]] = field(default_factory=lambda: ([], []))
    handshakes: tuple[list[bytes], list[bytes]] = field(default_factory=lambda: ([], []))  # messages, in order
    protected: tuple[list[bytes], list[bytes]] = field(default_factory=lambda: ([], []))  # those decrypted
    first_encrypted: list[tuple[int, bytes] | None] = field(default_factory=lambda: [None, None])
    client_hello: Hello | None = None
    server_hello: Hello | None = None

    def app_data(self, side: int) -> bytes:
        return b"".join(p for ct, p in self.plaintexts[side] if ct == 23)

    def alerts(self, side: int) -> list[bytes]:
        return [p for ct, p in self.plaintexts[side] if ct == 21]


class _Direction:
    def __init__(self, session: Session, side: int, records: list[Record]) -> None:
        self.session, self.side, self.records, self.pos = session, side, records, 0
        self.cipher: RecordCipher | None = None
        self.buf = bytearray()

    def take(self, ct: int, plain: bytes, encrypted: bool) -> list[tuple[int, bytes]]:
        self.session.plaintexts[self.side].append((ct, plain))
        if encrypted and self.session.first_encrypted[self.side] is None:
            self.session.first_encrypted[self.side] = (ct, plain)
        if ct != 22:
            return []
        self.buf += plain
        msgs = _messages(bytes(self.buf))
        del self.buf[:sum(len(m) for _, m in msgs)]
        for mtype, msg in msgs:
            self.session.handshakes[self.side].append(msg)
            if encrypted:
                self.session.protected[self.side].append(msg)
            if mtype == CH and self.session.client_hello is None:
                self.session.client_hello = Hello.parse(msg)  # after an HRR the random stays the same
            elif mtype == SH:
                hello = Hello.parse(msg)
                if not hello.hello_retry_request:
                    self.session.server_hello = hello
        return msgs


def tls12_session(records: tuple[list[Record], list[Record]], keylog: KeyLog) -> Session:
    """Both directions epoch by epoch: each ChangeCipherSpec switches its side to the keys of the
    latest hellos (read in the clear or, for a renegotiation, decrypted under the previous keys)."""
    session = Session()
    sides = [_Direction(session, side, records[side]) for side in (0, 1)]
    while True:
        switched = [False, False]
        for d in sides:
            while d.pos < len(d.records):
                ct, version, body = d.records[d.pos]
                d.pos += 1
                if ct == 20:
                    if d.cipher is not None:  # a renegotiation's ChangeCipherSpec, under the old keys
                        assert d.cipher.decrypt(ct, version, body) == (20, b"\x01")
                    switched[d.side] = True
                    break
                if d.cipher is None:
                    d.take(ct, body, encrypted=False)
                else:
                    d.take(*d.cipher.decrypt(ct, version, body), encrypted=True)
        if not any(switched):
            return session
        ch = sh = None
        for d in sides:  # the latest hellos: a renegotiation's replace the first ones
            for msg in d.session.handshakes[d.side][::-1]:
                if msg[0] == (CH if d.side == 0 else SH):
                    hello = Hello.parse(msg)
                    ch, sh = (hello, sh) if d.side == 0 else (ch, hello)
                    break
        assert ch is not None and sh is not None and sh.suite is not None
        master = keylog.secrets_for(ch.random)["CLIENT_RANDOM"]
        pair = decrypt.tls12_ciphers(sh.version, sh.suite, master, ch.random, sh.random,
                                     encrypt_then_mac=22 in sh.extensions)
        for d in sides:
            if switched[d.side]:
                d.cipher = pair[d.side]


def tls13_session(records: tuple[list[Record], list[Record]], keylog: KeyLog) -> Session:
    """The server's records first (its ServerHello names the suite), then the client's; each side
    moves from handshake to application secret after its Finished and to the next on KeyUpdate;
    0-RTT data uses the early secret until EndOfEarlyData."""
    session = Session()
    server, client = _Direction(session, 1, records[1]), _Direction(session, 0, records[0])
    client_hello = next(m for ct, _, body in records[0] if ct == 22 for t, m in _messages(body) if t == CH)
    session.client_hello = Hello.parse(client_hello)
    secrets = keylog.secrets_for(session.client_hello.random)
    for d, handshake_label, traffic_label in ((server, "SERVER_HANDSHAKE_TRAFFIC_SECRET", "SERVER_TRAFFIC_SECRET_0"),
                                              (client, "CLIENT_HANDSHAKE_TRAFFIC_SECRET", "CLIENT_TRAFFIC_SECRET_0")):
        secret = None
        if d is client and 42 in session.client_hello.extensions and "CLIENT_EARLY_TRAFFIC_SECRET" in secrets:
            secret = secrets["CLIENT_EARLY_TRAFFIC_SECRET"]
        for ct, version, body in d.records:
            if ct == 20:
                continue  # the middlebox-compatibility ChangeCipherSpec
            if ct == 22 or ct == 21 and d.cipher is None:
                d.take(ct, body, encrypted=False)
                continue
            if d.cipher is None:
                suite = session.server_hello.suite  # type: ignore[union-attr]
                secret = secret or secrets[handshake_label]
                d.cipher = decrypt.tls13_cipher(suite, secret)
            for mtype, _ in d.take(*d.cipher.decrypt(ct, version, body), encrypted=True):
                if mtype == EOED:
                    secret = secrets[handshake_label]
                elif mtype == FIN:
                    secret = secrets[traffic_label]
                elif mtype == KEY_UPDATE:
                    secret = decrypt.tls13_next_secret(suite, secret)
                else:
                    continue
                d.cipher = decrypt.tls13_cipher(suite, secret)
    return session


def sessions(name: str) -> list[Session]:
    keylog = KeyLog.from_file(str(KEYS / f"{name}.keys"))
    out = []
    for client, server in tcp_streams(CAPTURES / f"{name}.pcap"):
        records = (split_records(client), split_records(server))
        first_sh = next(Hello.parse(m) for ct, _, body in records[1] if ct == 22
                        for t, m in _messages(body) if t == SH)
        tls13 = first_sh.version == 0x0304
        out.append((tls13_session if tls13 else tls12_session)(records, keylog))
    return out


def _finished(plain: tuple[int, bytes] | None, length: int) -> bool:
    return plain is not None and plain[0] == 22 and plain[1][:4] == bytes([FIN, 0, 0, length]) \
        and len(plain[1]) == 4 + length


WWW = (HTTP_GET, b"HTTP/1.0 200 ")  # s_client -> s_server -www, gnutls-cli -> gnutls-serv --http

# capture -> (suite, TLS version, encrypt-then-MAC, what the client sent, how the server's answer starts)
TLS12 = {
    "tls12-ecdhe": (0xC02F, 0x0303, False, *WWW),  # AES-128-GCM
    "tls12-dhe": (0x009F, 0x0303, False, *WWW),  # AES-256-GCM, SHA-384 PRF
    "tls12-rsa": (0x009C, 0x0303, False, *WWW),
    "tls12-mtls": (0xC030, 0x0303, False, *WWW),
    "keyed-tls12-chacha20": (0xCCA8, 0x0303, False, *WWW),
    "keyed-tls12-aes128-ccm": (0xC09C, 0x0303, False, *WWW),
    "keyed-tls12-aes128-ccm8": (0xC0A0, 0x0303, False, *WWW),
    "keyed-tls12-cbc-etm": (0xC027, 0x0303, True, *WWW),  # AES-128-CBC, HMAC-SHA256
    "keyed-tls12-cbc-mte": (0xC027, 0x0303, False, *WWW),
    "keyed-tls12-cbc-sha1-etm": (0x0035, 0x0303, True, *WWW),  # AES-256-CBC, HMAC-SHA1
    "keyed-tls12-cbc-sha1-mte": (0x0035, 0x0303, False, *WWW),
    "keyed-tls12-cbc-sha384": (0xC028, 0x0303, False, *WWW),  # HMAC-SHA384, SHA-384 PRF
    "keyed-tls12-camellia": (0xC076, 0x0303, True, *WWW),
    "keyed-tls12-3des-etm": (0xC012, 0x0303, True, *WWW),
    "keyed-tls12-3des-mte": (0xC012, 0x0303, False, *WWW),
    "keyed-tls12-null": (0xC010, 0x0303, True, *WWW),
    "keyed-tls11-cbc-mte": (0xC014, 0x0302, False, *WWW),  # explicit IVs
    "keyed-tls10-cbc": (0xC013, 0x0301, True, *WWW),  # implicit IVs chained record to record
    "keyed-tls10-cbc-mte": (0xC013, 0x0301, False, *WWW),
}


@pytest.mark.parametrize("name", sorted(TLS12))
def test_tls12_capture_decrypts(name: str) -> None:
    suite, version, etm, client_sent, server_answer = TLS12[name]
    [s] = sessions(name)
    assert (s.server_hello.suite, s.server_hello.version) == (suite, version)
    assert (22 in s.server_hello.extensions) is etm
    # each side's first protected record is its Finished: verify_data is 12 bytes in TLS 1.0-1.2
    assert _finished(s.first_encrypted[0], 12) and _finished(s.first_encrypted[1], 12)
    assert s.app_data(0) == client_sent
    assert s.app_data(1).startswith(server_answer)
    assert b"\x01\x00" in s.alerts(0) + s.alerts(1)  # close_notify, protected (gnutls-cli never sends one)


@pytest.mark.parametrize("name", ["tls12-session-resumption", "tls12-ticket-resumption"])
def test_tls12_resumed_sessions_decrypt(name: str) -> None:
    """The second connection is abbreviated: the server's Finished comes first."""
    for s in sessions(name):
        assert _finished(s.first_encrypted[0], 12) and _finished(s.first_encrypted[1], 12)
        assert s.app_data(0) == HTTP_GET and s.app_data(1).startswith(b"HTTP/1.0 200 ")


def test_tls12_renegotiation_decrypts_under_both_key_sets() -> None:
    """The second handshake travels under the first keys; each side switches at its second CCS."""
    [s] = sessions("keyed-tls12-renegotiation")
    client_hellos = [m for m in s.handshakes[0] if m[0] == CH]
    assert len(client_hellos) == 2  # the second one was decrypted
    assert [m[0] for m in s.handshakes[0] if m[0] == FIN] == [FIN, FIN]
    assert [m[0] for m in s.handshakes[1] if m[0] == FIN] == [FIN, FIN]
    assert s.app_data(0) == b"before renegotiation\nafter renegotiation\n"


# capture -> (suite, what the client sent, how the server's application data starts)
TLS13 = {
    "tls13": (0x1302, *WWW),  # AES-256-GCM, SHA-384
    "tls13-hrr": (0x1302, *WWW),
    "tls13-mtls": (0x1302, *WWW),
    "tls13-ipv6": (0x1302, *WWW),
    "tls13-gnutls": (0x1302, *WWW),
    "keyed-tls13-chacha20": (0x1303, *WWW),
    "keyed-tls13-aes128-ccm": (0x1304, *WWW),
    "keyed-tls13-aes128-ccm8": (0x1305, *WWW),
}


@pytest.mark.parametrize("name", sorted(TLS13))
def test_tls13_capture_decrypts(name: str) -> None:
    suite, client_sent, server_answer = TLS13[name]
    [s] = sessions(name)
    assert s.server_hello.suite == suite
    hash_len = 48 if suite == 0x1302 else 32
    assert s.first_encrypted[1][0] == 22 and s.first_encrypted[1][1][0] == EE
    client_flight = [m[0] for m in s.protected[0]]
    assert client_flight == ([11, 15, FIN] if name == "tls13-mtls" else [FIN])  # (Certificate, CertificateVerify)
    assert [len(m) for m in s.protected[0] if m[0] == FIN] == [4 + hash_len]
    assert [len(m) for m in s.protected[1] if m[0] == FIN] == [4 + hash_len]
    assert s.app_data(0) == client_sent
    assert s.app_data(1).startswith(server_answer)


def test_tls13_psk_resumption_decrypts() -> None:
    both = sessions("tls13-psk-resumption")
    assert [41 in s.server_hello.extensions for s in both] == [False, True]  # the second resumes with a PSK
    for s in both:
        assert s.app_data(0) == HTTP_GET and s.app_data(1).startswith(b"HTTP/1.0 200 ")
        assert NST in [m[0] for m in s.handshakes[1]]


def test_tls13_early_data_decrypts_with_the_early_secret() -> None:
    first, second = sessions("tls13-0rtt")
    assert first.app_data(0) == b"hello after handshake\n"
    assert second.first_encrypted[0] == (23, b"GET /early HTTP/1.0\r\n\r\n")  # 0-RTT, before the ServerHello
    assert [m[0] for m in second.protected[0]] == [EOED, FIN]
    assert second.app_data(0) == b"GET /early HTTP/1.0\r\n\r\nhello after handshake\n"


def test_tls13_key_update_moves_to_the_next_secret() -> None:
    [s] = sessions("keyed-tls13-keyupdate")
    key_update = [m for m in s.protected[0] if m[0] == KEY_UPDATE]
    assert key_update == [bytes([KEY_UPDATE, 0, 0, 1, 1])]  # update_requested
    # the line after the KeyUpdate decrypted only with tls13_next_secret's key
    assert s.app_data(0) == b"before the key update\nafter the key update\n"
    assert s.alerts(0) == [b"\x01\x00"]
    # and OpenSSL logged the client's new secret itself after the update
    secrets = KeyLog.from_file(str(KEYS / "keyed-tls13-keyupdate.keys")).secrets_for(s.client_hello.random)
    assert decrypt.tls13_next_secret(0x1301, secrets["CLIENT_TRAFFIC_SECRET_0"]) == secrets["CLIENT_TRAFFIC_SECRET_N"]


def test_rsa_key_log_line_gives_the_logged_master_secret() -> None:
    """RSA <encrypted premaster prefix> <premaster> lines: the master secret derived with the
    extended master secret (RFC 7627; OpenSSL negotiates it) equals the one OpenSSL logged."""
    checked = 0
    for name in ("tls12-rsa", "keyed-tls12-aes128-ccm", "keyed-tls12-aes128-ccm8", "keyed-tls12-cbc-sha1-etm",
                 "keyed-tls12-cbc-sha1-mte"):
        keylog = KeyLog.from_file(str(KEYS / f"{name}.keys"))
        [s] = sessions(name)
        cke = next(m for m in s.handshakes[0] if m[0] == 16)
        premaster = keylog.rsa_premaster(cke[6:])  # after the header and the 2-byte length
        assert premaster is not None and len(premaster) == 48 and premaster[:2] == b"\x03\x03"
        assert 23 in s.server_hello.extensions
        # session hash: ClientHello, the server's flight to ServerHelloDone, then the client's to ClientKeyExchange
        server_flight = s.handshakes[1][:[m[0] for m in s.handshakes[1]].index(14) + 1]
        client_flight = s.handshakes[0][:[m[0] for m in s.handshakes[0]].index(16) + 1]
        transcript = client_flight[0] + b"".join(server_flight) + b"".join(client_flight[1:])
        ems_hash = hashlib.sha256(transcript).digest()
        master = decrypt.tls12_master_secret(0x0303, s.server_hello.suite, premaster, s.client_hello.random,
                                             s.server_hello.random, ems_hash)
        assert master == keylog.secrets_for(s.client_hello.random)["CLIENT_RANDOM"]
        checked += 1
    assert checked == 5


# --------------------------------------------------------------------------------------------
# Wrong keys and damaged records on real captures
# --------------------------------------------------------------------------------------------
def _first_protected(name: str, side: int) -> tuple[list[Record], int, Session]:
    """A capture's records of one side and the index of its first protected record."""
    client, server = tcp_streams(CAPTURES / f"{name}.pcap")[0]
    records = split_records(server if side else client)
    ccs = next(i for i, (ct, _, _) in enumerate(records) if ct == 20)
    return records, ccs + 1, sessions(name)[0]


@pytest.mark.parametrize("name", ["tls12-ecdhe", "keyed-tls12-chacha20", "keyed-tls12-aes128-ccm8",
                                  "keyed-tls12-cbc-etm", "keyed-tls12-cbc-mte", "keyed-tls10-cbc-mte",
                                  "keyed-tls12-3des-mte", "keyed-tls12-null"])
@pytest.mark.parametrize("damage", ["wrong master secret", "flipped last byte", "flipped first byte"])
def test_tls12_wrong_key_or_damaged_record_is_an_error(name: str, damage: str) -> None:
    records, first, s = _first_protected(name, 0)
    master = bytearray(KeyLog.from_file(str(KEYS / f"{name}.keys")).secrets_for(s.client_hello.random)["CLIENT_RANDOM"])
    if damage == "wrong master secret":
        master[-1] ^= 0x01
    client, _ = decrypt.tls12_ciphers(s.server_hello.version, s.server_hello.suite, bytes(master),
                                      s.client_hello.random, s.server_hello.random, 22 in s.server_hello.extensions)
    ct, version, body = records[first]
    damaged = bytearray(body)
    if damage == "flipped last byte":
        damaged[-1] ^= 0x01
    elif damage == "flipped first byte":
        damaged[0] ^= 0x01
    with pytest.raises(DecryptError) as err:
        client.decrypt(ct, version, bytes(damaged))
    _assert_no_secret(str(err.value), bytes(master))
    assert client.seq == 0
    if damage != "wrong master secret":  # the sequence number (and TLS 1.0's IV chain) did not move
        assert _finished(client.decrypt(ct, version, body), 12)
        sent = b""
        for record in records[first + 1:]:  # (TLS 1.0 CBC: OpenSSL sends an empty record first, against BEAST)
            sent += client.decrypt(*record)[1]
            if sent:
                break
        assert sent == HTTP_GET


@pytest.mark.parametrize("name", ["tls13", "keyed-tls13-chacha20", "keyed-tls13-aes128-ccm",
                                  "keyed-tls13-aes128-ccm8"])
def test_tls13_wrong_secret_or_damaged_record_is_an_error(name: str) -> None:
    client, server = tcp_streams(CAPTURES / f"{name}.pcap")[0]
    keylog = KeyLog.from_file(str(KEYS / f"{name}.keys"))
    s = sessions(name)[0]
    secret = keylog.secrets_for(s.client_hello.random)["SERVER_HANDSHAKE_TRAFFIC_SECRET"]
    ct, version, body = next(r for r in split_records(server) if r[0] == 23)
    for wrong in (secret[:-1] + bytes([secret[-1] ^ 1]),
                  keylog.secrets_for(s.client_hello.random)["CLIENT_HANDSHAKE_TRAFFIC_SECRET"]):
        with pytest.raises(DecryptError):
            decrypt.tls13_cipher(s.server_hello.suite, wrong).decrypt(ct, version, body)
    cipher = decrypt.tls13_cipher(s.server_hello.suite, secret)
    for damaged in (body[:-1] + bytes([body[-1] ^ 1]), bytes([body[0] ^ 1]) + body[1:], body[:-1]):
        with pytest.raises(DecryptError):
            cipher.decrypt(ct, version, damaged)
    assert cipher.decrypt(ct, version, body)[1][0] == EE


def test_every_captured_key_log_line_parses() -> None:
    for path in sorted(KEYS.glob("*.keys")):
        keylog = KeyLog.from_file(str(path))
        assert keylog.skipped == 0 and len(keylog) >= 1, path.name
