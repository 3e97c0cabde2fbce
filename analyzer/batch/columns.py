"""The batch tables' columns: name, Arrow type and meaning, in one place.

This is a public contract like the JSON schema: names and types only ever get added to (a test
guards them, and the README's tables are generated from here: `python3 -m analyzer.batch.columns`).
Rows join on (`capture_sha256`, `connection_id`). pyarrow is imported only by `arrow_schema`.
"""

from __future__ import annotations

from typing import Any, Final

VERSION: Final = "tls-analyzer-batch/1"

CAPTURE_KEY: Final = (
    ("capture", "string", "capture file name (`capture.file` of the JSON)"),
    ("capture_sha256", "string", "SHA-256 of the capture file's bytes (as stored, gzip included): the capture's identity"),
)

COUNTS: Final = tuple((f"findings_{s}", "int32", f"findings of severity {s}")
                      for s in ("info", "low", "medium", "high", "critical"))

TABLES: Final[dict[str, tuple[tuple[str, str, str], ...]]] = {
    "connections": (
        *CAPTURE_KEY,
        ("capture_path", "string", "absolute path the batch read the capture from"),
        ("connection_id", "int64", "`id`: order of first appearance among the capture's TCP connections"),
        ("transport", "string", "`transport` (tcp)"),
        ("client_ip", "string", "client address"),
        ("client_port", "int32", "client port"),
        ("server_ip", "string", "server address"),
        ("server_port", "int32", "server port"),
        ("roles_from", "string", "how client and server were told apart: syn, syn-ack, tls or port"),
        ("first_frame", "int64", "first frame of the connection (numbered as Wireshark does)"),
        ("last_frame", "int64", "last frame of the connection"),
        ("first_time", "timestamp[us, tz=UTC]", "capture time of its first TLS message (null without TLS)"),
        ("last_time", "timestamp[us, tz=UTC]", "capture time of its last TLS message (null without TLS)"),
        ("packets", "int64", "packets of the connection"),
        ("bytes_client", "int64", "TCP payload bytes from the client"),
        ("bytes_server", "int64", "TCP payload bytes from the server"),
        ("end", "string", "how it ended (fin, rst, ...; null: still open at the end of the capture)"),
        ("gaps", "int32", "TCP gaps (bytes never captured)"),
        ("tls", "bool", "whether TLS was found on it"),
        ("version_code", "int32", "negotiated version code point (`version`)"),
        ("version_name", "string", "negotiated version, e.g. TLSv1.3"),
        ("cipher_suite_code", "int32", "negotiated cipher suite code point"),
        ("cipher_suite_name", "string", "negotiated cipher suite, IANA name"),
        ("group_code", "int32", "negotiated key exchange group code point"),
        ("group_name", "string", "negotiated group, e.g. x25519"),
        ("group_pq", "bool", "the negotiated group is post-quantum or a PQ hybrid (the registry says)"),
        ("sni", "string", "server name the client asked for, exactly as sent"),
        ("alpn", "string", "protocol the server selected, exactly as sent"),
        ("alpn_offered", "list<string>", "protocols the client offered"),
        ("versions_offered_names", "list<string>", "versions the client offered"),
        ("groups_offered_names", "list<string>", "groups the client offered"),
        ("pq_offered", "bool", "the client offered a post-quantum or PQ hybrid group (null without TLS)"),
        ("ja3", "string", "JA3 of the first ClientHello (MD5)"),
        ("ja4", "string", "JA4 of the first ClientHello"),
        ("ja4_r", "string", "JA4_r (raw, sorted) of the first ClientHello"),
        ("ja3s", "string", "JA3S of the ServerHello (MD5)"),
        ("complete", "bool", "the handshake completed"),
        ("resumed", "string", "session_id, ticket or psk when resumed, else null"),
        ("resumption_offered", "list<string>", "resumption the client offered"),
        ("hello_retry_request", "bool", "a HelloRetryRequest was sent"),
        ("early_data_offered", "bool", "0-RTT data offered"),
        ("early_data_accepted", "bool", "0-RTT data accepted (null: unknown)"),
        ("downgrade_sentinel", "string", "downgrade sentinel in the ServerHello random, if any"),
        ("fallback_scsv", "bool", "TLS_FALLBACK_SCSV offered"),
        ("renegotiation", "bool", "renegotiation seen"),
        ("history", "string", "Zeek-style ssl_history"),
        ("alerts", "int32", "alerts seen"),
        ("fatal_alert", "string", "description of the first fatal alert that could be read"),
        ("server_certificates", "int32", "certificates in the server's chain"),
        ("leaf_sha256", "string", "SHA-256 of the server's leaf certificate (joins certificates.sha256)"),
        ("client_certificates", "int32", "certificates in the client's chain"),
        ("warnings", "list<string>", "the connection's warnings"),
        *COUNTS,
        ("worst_severity", "string", "severity of its worst finding (null: none)"),
    ),
    "findings": (
        *CAPTURE_KEY,
        ("connection_id", "int64", "connection the finding is about"),
        ("rule_id", "string", "rule id, e.g. SUITE-CBC"),
        ("severity", "string", "info, low, medium, high or critical (under the batch's policy)"),
        ("title", "string", "what was found"),
        ("scope", "string", "offered, negotiated or behaviour"),
        ("source", "string", "the RFC or guideline"),
        ("frame", "int64", "frame it was seen in"),
        ("evidence", "string", "the values, as JSON text (keys sorted)"),
    ),
    "certificates": (
        *CAPTURE_KEY,
        ("connection_id", "int64", "connection that carried it"),
        ("side", "string", "server or client (whose chain)"),
        ("position", "int32", "place in the chain as sent, 0 = leaf"),
        ("server_ip", "string", "server address of the connection"),
        ("server_port", "int32", "server port of the connection"),
        ("sni", "string", "server name the client asked for"),
        ("sha256", "string", "fingerprint: SHA-256 of the DER"),
        ("length", "int32", "DER length"),
        ("subject", "string", "subject DN"),
        ("subject_cn", "string", "subject common name"),
        ("issuer", "string", "issuer DN"),
        ("issuer_cn", "string", "issuer common name"),
        ("serial", "string", "serial number (hex)"),
        ("san_dns", "list<string>", "DNS subjectAltNames (the first 20, each cut at 255 characters)"),
        ("san_ip", "list<string>", "IP subjectAltNames (the first 20)"),
        ("san_count", "int32", "subjectAltNames in all"),
        ("not_before", "timestamp[us, tz=UTC]", "start of validity"),
        ("not_after", "timestamp[us, tz=UTC]", "end of validity"),
        ("key_type", "string", "RSA, EC, Ed25519, DSA, ..."),
        ("key_bits", "int32", "key size"),
        ("curve", "string", "EC curve"),
        ("signature_algorithm", "string", "signature algorithm"),
        ("signature_hash", "string", "its hash"),
        ("ca", "bool", "basicConstraints CA"),
        ("self_signed", "bool", "issuer equals subject and the signature verifies with its own key"),
        ("problems", "list<string>", "what X.509 parsing found wrong"),
        ("error", "string", "why it did not parse (the other fields are null then)"),
    ),
    "captures": (
        *CAPTURE_KEY,
        ("capture_path", "string", "absolute path the batch read it from"),
        ("file_size", "int64", "bytes"),
        ("file_mtime", "timestamp[ns, tz=UTC]", "modification time of the file when read"),
        ("format", "string", "pcap or pcapng"),
        ("compressed", "bool", "gzip"),
        ("truncated", "bool", "cut off mid-packet (what came before was analysed)"),
        ("frames", "int64", "frames read"),
        ("connections", "int64", "rows in connections/"),
        ("warnings", "list<string>", "the capture's warnings"),
        ("analyzer_version", "string", "tls-analyzer version that made the rows"),
    ),
    "errors": (
        ("capture", "string", "capture file name"),
        ("capture_sha256", "string", "SHA-256 of its bytes (null when it could not be read)"),
        ("capture_path", "string", "absolute path"),
        ("kind", "string", "input: not a readable capture; crash: the analysis failed on every try"),
        ("error", "string", "the one-line error"),
    ),
}


def arrow_type(spec: str) -> Any:
    import pyarrow as pa

    if spec.startswith("list<"):
        return pa.list_(arrow_type(spec[5:-1]))
    if spec.startswith("timestamp["):
        unit, _, tz = spec[10:-1].partition(", tz=")
        return pa.timestamp(unit, tz=tz or None)
    return {"string": pa.string(), "int32": pa.int32(), "int64": pa.int64(), "bool": pa.bool_()}[spec]


_SCHEMAS: dict[str, Any] = {}


def arrow_schema(table: str) -> Any:
    """The pyarrow schema of a table (made once per process)."""
    schema = _SCHEMAS.get(table)
    if schema is None:
        import pyarrow as pa

        schema = _SCHEMAS[table] = pa.schema([pa.field(name, arrow_type(spec)) for name, spec, _ in TABLES[table]],
                                             metadata={"tls-analyzer": VERSION})
    return schema


def markdown() -> str:
    """The README's column tables."""
    out = []
    for table, cols in TABLES.items():
        out.append(f"`{table}/`\n\n| column | Arrow type | meaning |\n|---|---|---|")
        out += [f"| `{name}` | `{spec}` | {meaning} |" for name, spec, meaning in cols]
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(markdown(), end="")
