"""The decryption primitives (analyzer.tls.decrypt) on real records.

Each record of each keyed fixture capture, cut out of the reassembled TCP streams here (not by the
record layer under test), must decrypt with the secrets its own peers logged, to the Finished
messages and to the bytes captures/scripts/make_captures.py and make_keyed_captures.py had the peers send.
Wrong keys and damaged records give DecryptError, never a plaintext. The primitives on published
vectors: test_decrypt_vectors.py.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field

import pytest

from analyzer.api import load_keylog
from analyzer.tls import decrypt
from analyzer.tls.decrypt import DecryptError, RecordCipher
from analyzer.tls.keylog import KeyLog

from conftest import CAPTURES, assert_no_secret, handshake_messages
from hostile_inputs import tcp_streams

KEYS = CAPTURES / "keys"
HTTP_GET = b"GET / HTTP/1.0\r\n\r\n"  # what every s_client/gnutls-cli of a -www/--http fixture sends
CH, SH, NST, EOED, EE, FIN, KEY_UPDATE = 1, 2, 4, 5, 8, 20, 24

# --------------------------------------------------------------------------------------------
# Real captures: TCP streams reassembled here, records cut with a 5-byte header loop
# --------------------------------------------------------------------------------------------
Record = tuple[int, int, bytes]  # content type, record version, body


def split_records(stream: bytes) -> list[Record]:
    out, pos = [], 0
    while pos + 5 <= len(stream):
        ct, version, length = struct.unpack_from("!BHH", stream, pos)
        assert ct in (20, 21, 22, 23) and version >> 8 == 3, f"not a TLS record at offset {pos}"
        out.append((ct, version, stream[pos + 5:pos + 5 + length]))
        pos += 5 + length
    assert pos == len(stream), "the stream does not end on a record boundary"
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
        msgs = handshake_messages(bytes(self.buf))
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
    client_hello = next(m for ct, _, body in records[0] if ct == 22 for t, m in handshake_messages(body) if t == CH)
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
    keylog = load_keylog(str(KEYS / f"{name}.keys"))
    out = []
    for client, server in tcp_streams(CAPTURES / f"{name}.pcap"):
        records = (split_records(client), split_records(server))
        first_sh = next(Hello.parse(m) for ct, _, body in records[1] if ct == 22
                        for t, m in handshake_messages(body) if t == SH)
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
    secrets = load_keylog(str(KEYS / "keyed-tls13-keyupdate.keys")).secrets_for(s.client_hello.random)
    assert decrypt.tls13_next_secret(0x1301, secrets["CLIENT_TRAFFIC_SECRET_0"]) == secrets["CLIENT_TRAFFIC_SECRET_N"]


def test_rsa_key_log_line_gives_the_logged_master_secret() -> None:
    """RSA <encrypted premaster prefix> <premaster> lines: the master secret derived with the
    extended master secret (RFC 7627; OpenSSL negotiates it) equals the one OpenSSL logged."""
    checked = 0
    for name in ("tls12-rsa", "keyed-tls12-aes128-ccm", "keyed-tls12-aes128-ccm8", "keyed-tls12-cbc-sha1-etm",
                 "keyed-tls12-cbc-sha1-mte"):
        keylog = load_keylog(str(KEYS / f"{name}.keys"))
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
    master = bytearray(load_keylog(str(KEYS / f"{name}.keys")).secrets_for(s.client_hello.random)["CLIENT_RANDOM"])
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
    assert_no_secret(str(err.value), bytes(master))
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
    keylog = load_keylog(str(KEYS / f"{name}.keys"))
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
        keylog = load_keylog(str(path))
        assert keylog.skipped == 0 and len(keylog) >= 1, path.name
