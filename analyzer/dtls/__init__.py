"""DTLS 1.0/1.2 (RFC 6347) and 1.3 (RFC 9147) as a sans-IO core: UDP payloads in, events out.

Modules, one job each: `detect` (is a UDP payload DTLS), `records` (datagram -> records: the
13-byte header, RFC 9146 tls12_cid, the DTLS 1.3 unified header), `handshake` (fragments ->
messages, retransmissions), `messages` (HelloVerifyRequest, ACK, opaque-record bodies), `keys`
(which key-log key opens which record), `versions`, `events`, and `connection` which wires them.
Message bodies are decoded by the TLS decoders (analyzer.tls.messages, with `Context(dtls=True)`).

The contract (the pipeline's side)
----------------------------------
- Find a flow: `looks_like_dtls(payload)` on a datagram of a UDP flow not yet known, any port.
  Make one `DtlsConnection(keylog)` per 5-tuple; the side that sent the first DTLS datagram is
  usually the client, but `connection.client_side` (from the ClientHello) is what to trust.
- Feed it: `connection.datagram(side, payload, frame, ts) -> list[Event]` for every later datagram
  of the 5-tuple in capture order, `side` 0/1 by direction (as the TCP layer numbers them).
  Datagrams that are not DTLS by their first byte (STUN, RTP, ZRTP, TURN on a WebRTC 5-tuple,
  RFC 7983) are counted in `other_datagrams` and produce nothing; a CAPWAP DTLS header (RFC 5415)
  is taken off first. DTLS 1.3 unified headers are read only after a DTLS ClientHello on the
  5-tuple and unless DTLS 1.0/1.2 was negotiated. At the end: `connection.end()`.
- Events, in wire order within a datagram:
  * `analyzer.tls.events.TlsStart(side, frame, 0)`: the first DTLS datagram of that side.
  * `analyzer.tls.events.Message`, as over TCP: `content_type`, `record_version` (the DTLS record
    version, 0xfefc for a DTLS 1.3 unified header), `type`/`name` (handshake messages, including
    `HelloVerifyRequest` (3) whose body is `dtls.messages.HelloVerifyRequest`), `frame` (the frame
    whose datagram completed the message, as tshark reports it), `length` (of the handshake message
    body, else of the record), `body` (decoded; a DTLS ClientHello has `cookie`), `decrypted`
    (opened with the key log), `malformed`. Alerts (`body` Alert), ChangeCipherSpec, Heartbeat and
    ApplicationData as over TCP; a DTLS 1.3 ACK is `content_type` 26, name `Ack`, body
    `dtls.messages.Ack`. A record that stays encrypted is `encrypted=True` with body
    `dtls.messages.OpaqueRecord(epoch, sequence_number, cid, unified)`, named as tshark names it
    (`EncryptedHandshakeMessage`, `EncryptedAlert`, `ApplicationData`) or `EncryptedRecord` (a DTLS
    1.3 unified header, `content_type` 23; an RFC 9146 tls12_cid record, `content_type` 25): that is
    the "encrypted flight". Each handshake message is emitted once.
  * `dtls.events.Fragment`: a handshake fragment that is not the whole message (Wireshark lists
    each as a row); the `Message` follows in the frame that completes it.
  * `dtls.events.Retransmission`: each later copy of (a fragment of) a message already emitted,
    with `first_frame`, the frame of that Message: a flight shown once, each copy counted (and
    `connection.retransmissions` counts them all).
  * `analyzer.tls.events.Malformed(side, frame, offset, reason)`: offset within the datagram (0
    when the fault is inside a record); a bad header, a fragment that overruns or contradicts an
    earlier one, an undecodable message, a record that does not decrypt, a message still missing
    fragments at `end()`. Never an exception; the rest of the datagram's records are still read.
- State the pipeline may read: `client_side`, `version` (negotiated DTLS version), `kx`,
  `datagrams`, `other_datagrams`, `retransmissions`.

Decryption (with a key log, analyzer.tls.keylog.KeyLog): DTLS 1.0/1.2 CLIENT_RANDOM (and RSA
premaster lines) for AES-GCM/CCM, ChaCha20-Poly1305 and CBC suites with MAC-then-encrypt or
encrypt-then-MAC; DTLS 1.3 handshake, application and KeyUpdate epochs from the TLS 1.3 secrets,
with record number encryption. Without keys, records of epoch >= 1 (1.0/1.2, i.e. after
ChangeCipherSpec) and unified-header records (1.3) are opaque. Not decrypted: RFC 9146 tls12_cid
records (no peer here produces them to test against), RC4 (forbidden in DTLS).

Bounds per connection (each reached bound is a Malformed that names it):
- a record: 2^14 + 2048 bytes (RFC 6347), checked before anything is copied;
- per direction: a handshake message 256 KiB (`handshake.MAX_MESSAGE`); messages awaiting
  fragments 32 and 256 KiB of claimed length between them (`MAX_PENDING`, `MAX_PENDING_BYTES`);
  completed messages remembered to recognise retransmissions: bodies up to 256 KiB
  (`MAX_DONE_BYTES`), type/length/digest of the last 256 (`MAX_DONE`);
- keys: DTLS 1.3 epochs up to 35 (32 KeyUpdates); after 8 records in a row fail to decrypt on a
  side its records stay opaque (`connection.MAX_DECRYPT_FAILURES`).
Time is linear in the bytes fed (each fragment is compared once against the bytes it overlaps).
"""

from __future__ import annotations

from analyzer.dtls.connection import DtlsConnection
from analyzer.dtls.detect import looks_like_dtls

__all__ = ["DtlsConnection", "looks_like_dtls"]
