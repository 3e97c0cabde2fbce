"""The decryption primitives (analyzer.tls.decrypt) on published vectors.

RFC 8448's TLS 1.3 traces (section 3, "Simple 1-RTT Handshake", and section 4, "Resumed 0-RTT
Handshake") give traffic secrets and the exact protected records; the TLS 1.2 PRF vectors
circulated on the IETF TLS list give P_SHA256 and P_SHA384; OpenSSL's KDF and tlslite-ng check the
PRF and SSLv3 constructions further. Damaged records give DecryptError, never a plaintext. The
same primitives on real captures: test_decrypt_captures.py.
"""

from __future__ import annotations

import shutil
import struct
import subprocess

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from analyzer.tls import decrypt
from analyzer.tls.decrypt import DecryptError, RecordCipher

from conftest import assert_no_secret, handshake_messages

CLOSE_NOTIFY = (21, b"\x01\x00")
EE, FIN = 8, 20  # handshake types

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
    assert [t for t, _ in handshake_messages(plain)] == [EE, 11, 15, FIN]  # EE, Certificate, CertificateVerify, Finished


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
    assert_no_secret(str(err.value) + err.value.reason + repr(err.value), bytes(secret))


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
    assert_no_secret(text, RFC8448_S_HS)
    master = bytes(range(48))
    c, s = decrypt.tls12_ciphers(0x0303, 0xC013, master, bytes(32), bytes(32))
    assert_no_secret(repr(c) + repr(s), master)
    assert "mac_key" not in repr(c) and "iv=" not in repr(c)


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
