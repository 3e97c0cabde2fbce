"""QUIC (RFC 9000/9001 v1, RFC 9369 v2, drafts 23-34): the TLS handshake carried in QUIC, sans-IO.

Datagrams in, typed events out; no I/O, no clocks, no globals. Modules, one job each:
`versions` (per-version constants), `wire` (varints), `keys` (HKDF-Expand-Label, Initial keys,
header protection, AEAD open, key update, Retry tag), `packet` (headers, `looks_like_quic`,
header protection removal, packet numbers), `frames` (RFC 9000 19), `crypto_stream` (CRYPTO
reassembly by offset), `handshake` (TLS messages out of a CRYPTO stream), `events`, `connection`.

The integrator's contract
-------------------------
Finding QUIC. `packet.looks_like_quic(payload)` is the cheap prefilter (a long header with the
fixed bit and a known version, or a Version Negotiation). A flow that passes it gets a
`QuicConnection(keylog)`; feed it every datagram of the flow from then on:
`conn.datagram(side, payload, frame, ts) -> list[event]` (side 0/1: wire direction as the caller
numbers it), and `conn.end() -> list[event]` once no more will come. The connection is confirmed
only when a client Initial decrypts with the keys its own Destination Connection ID gives
(`conn.confirmed`); until then `datagram` returns nothing, holds up to MAX_HELD datagrams to read
again once confirmed (a server Initial seen before the client's, a Version Negotiation), and after
MAX_UNCONFIRMED datagrams sets `conn.gave_up`: the flow is not QUIC (random bytes that look like
a long header never become a connection). After confirmation, `conn.client_side` says which side
is the client, `conn.version` the version, `conn.connection_ids` the ids seen (key the flow by its
5-tuple and these), `conn.closed` whether a CONNECTION_CLOSE was seen (with idle time, the end).

Events, in wire order (all carry `side` and `frame`; most `ts`):
- `QuicStart` first, once: client side, version, the client's original DCID. Events of datagrams
  held before confirmation follow it, with their own (earlier) frame numbers.
- `analyzer.tls.events.Message`: one TLS handshake message, decoded by analyzer.tls.messages.
  `content_type` 22; `record_version` 0 (QUIC has no TLS record layer: render it as "-", never
  as a TLS version); `frame` is the frame of the datagram whose CRYPTO data completed the message
  (what tshark reports); `decrypted` True for Handshake and 1-RTT level messages (read with
  key-log keys), False for Initial-level ones (the Initial keys are public). The ClientHello's
  quic_transport_parameters extension (0x39, or 0xffa5 in drafts) is decoded by
  analyzer.tls.extensions with parameter names.
- `Packet`: every Initial packet, and every Handshake packet opened with a key log: type, version,
  ids, packet number, length, frame type names, token length.
- `EncryptedRun`: consecutive Handshake, 0-RTT or 1-RTT packets from one side (the ladder's
  encrypted flight): frame range, packets, bytes, how many were decrypted. Emitted when the run
  ends (a packet of another type or from the other side, a Version Negotiation, a Retry, or
  `end()`), so it follows the Messages read from its packets.
- `VersionNegotiation` (offered versions), `Retry` (token length, integrity "ok"/"failed"/
  "unchecked (...)", whether it was acted on), `ConnectionClose` (transport or application code,
  its name, the triggering frame type, reason phrase, and the TLS alert of a 0x0100+alert crypto
  error), `HandshakeDone`, `NewToken` (length), `ConnectionId` (first sight of an id, and the side
  packets carrying it are addressed to).
- `CryptoGap` (at `end()`): CRYPTO bytes of a level that never arrived, like TCP's Gap: nothing
  after the hole was decoded and nothing was invented.
- `Malformed(side, frame, offset, reason)`: a long header that does not fit (lying Length, cut
  packet), an Initial whose tag fails after confirmation, a frame that cannot be parsed (frames
  before it are kept), a CRYPTO conflict (first copy kept) or limit, key-log keys that do not open
  a packet type (reported once). Never an exception; the rest goes on.

Key logs: `analyzer.tls.keylog.KeyLog` (the TLS 1.3 secrets, by client random). Handshake keys
from *_HANDSHAKE_TRAFFIC_SECRET, 1-RTT from *_TRAFFIC_SECRET_0 (then key updates by the key phase
bit), 0-RTT from CLIENT_EARLY_TRAFFIC_SECRET (the suite found by the tag). Only CRYPTO,
CONNECTION_CLOSE, NEW_TOKEN, NEW_CONNECTION_ID, HANDSHAKE_DONE are read from decrypted packets:
STREAM and DATAGRAM payloads (HTTP/3, DNS over QUIC, ...) are skipped, never kept or exposed.

Bounds per connection: CRYPTO data beyond 1 MiB of a level is dropped (crypto_stream.MAX_OFFSET),
at most 256 KiB / 512 pieces held out of order and 16 KiB of history per level and side, one
partial handshake message per level and side (below 1 MiB), MAX_HELD datagrams before
confirmation (UDP payloads, under 64 KiB each), MAX_CIDS connection ids, MAX_INITIAL_KEYS key
sets; three levels and two sides: under 9 MiB in the worst case, a few KiB for a normal handshake.
Reaching a limit is a Malformed event naming it. Time is linear in the bytes fed: every packet is
opened at most once per candidate key (two or three at most).
"""
