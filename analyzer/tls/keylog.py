"""NSS key logs (SSLKEYLOGFILE format) and pcapng-embedded secrets: client random -> secrets.

Sans-IO: text and bytes in (analyzer.api.load_keylog reads the files).

Secrets never appear in a repr, a message or an exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TLS_KEY_LOG_BLOCK = 0x544C534B  # pcapng Decryption Secrets Block type "TLSK": an NSS key log

LABELS = frozenset({"CLIENT_RANDOM", "CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET",
                    "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0", "CLIENT_EARLY_TRAFFIC_SECRET",
                    "EXPORTER_SECRET", "EARLY_EXPORTER_SECRET",
                    # OpenSSL 3 logs a side's latest secret after a KeyUpdate under these names
                    "CLIENT_TRAFFIC_SECRET_N", "SERVER_TRAFFIC_SECRET_N"})
# hex lengths of a well-formed secret: TLS 1.3 secrets are one hash long (SHA-256 or SHA-384);
# CLIENT_RANDOM's master secret is always 48 bytes
SECRET_HEX_LENGTHS = {False: (64, 96), True: (96,)}


@dataclass(frozen=True)
class KeyLogUsage:
    """The key log after a run: lines read, sessions (client randoms and RSA lines) a connection
    matched, lines no connection used, and the client randoms of those (public values: each is
    in a ClientHello; the secrets never leave the KeyLog)."""

    lines: int
    matched: int  # sessions (client randoms) a connection found keys for, by any line
    unused_lines: int
    unused_randoms: list[str]


@dataclass
class KeyLog:
    secrets: dict[bytes, dict[str, bytes]] = field(default_factory=dict, repr=False)
    rsa: dict[bytes, bytes] = field(default_factory=dict, repr=False)  # first 8 encrypted bytes -> premaster
    skipped: int = 0
    sources: list[str] = field(default_factory=list)
    lines: int = 0  # lines read and kept (a repeated line counts again)
    used: set[bytes] = field(default_factory=set, repr=False)  # client randoms a connection matched
    rsa_used: set[bytes] = field(default_factory=set, repr=False)  # RSA lines a connection matched

    def add_text(self, text: str, source: str = "") -> None:
        """Add every line in NSS key log format; lines we cannot read are counted, never fatal."""
        if source:
            self.sources.append(source)
        for line in text.splitlines():
            parts = line.split()
            if not parts or parts[0].startswith("#"):
                continue
            try:
                if parts[0] == "RSA" and len(parts) == 3 and len(parts[1]) >= 16:
                    self.rsa[bytes.fromhex(parts[1])[:8]] = bytes.fromhex(parts[2])
                    self.lines += 1
                elif parts[0] in LABELS and len(parts) == 3 and len(parts[1]) == 64 \
                        and len(parts[2]) in SECRET_HEX_LENGTHS[parts[0] == "CLIENT_RANDOM"]:
                    self.secrets.setdefault(bytes.fromhex(parts[1]), {})[parts[0]] = bytes.fromhex(parts[2])
                    self.lines += 1
                else:
                    self.skipped += 1
            except ValueError:  # not hex; the message would quote the line, so it is dropped
                self.skipped += 1

    def secrets_for(self, client_random: bytes) -> dict[str, bytes]:
        """Label -> secret for one connection ("CLIENT_RANDOM" holds the 48-byte master secret).
        A random found is remembered as used (see `usage`)."""
        found = self.secrets.get(bytes(client_random))
        if found is None:
            return {}
        self.used.add(bytes(client_random))
        return dict(found)

    def rsa_premaster(self, encrypted_premaster: bytes, client_random: bytes | None = None) -> bytes | None:
        """The premaster named by the first 8 bytes of the RSA-encrypted premaster (the whole may be given).
        A line found is remembered as used, and the session (`client_random`) as matched."""
        key = bytes(encrypted_premaster[:8])
        found = self.rsa.get(key) if len(encrypted_premaster) >= 8 else None
        if found is not None:
            self.rsa_used.add(key)
            if client_random is not None:
                self.used.add(bytes(client_random))
        return found

    def usage(self) -> KeyLogUsage:
        """How much of the key log the connections read so far used (never a secret)."""
        unused = sorted(r for r in self.secrets if r not in self.used)
        return KeyLogUsage(self.lines, len(self.used),
                           sum(len(self.secrets[r]) for r in unused) + len(self.rsa) - len(self.rsa_used),
                           [r.hex() for r in unused])

    def merge_usage(self, used: set[bytes], rsa_used: set[bytes]) -> None:
        """What another process's copy of this key log used (analyzer/parallel.py)."""
        self.used |= used
        self.rsa_used |= rsa_used & self.rsa.keys()

    def __len__(self) -> int:
        return len(self.secrets) + len(self.rsa)

    def add_secrets_block(self, secrets_type: int, data: bytes) -> bool:
        """A pcapng Decryption Secrets Block's type and data: True when it held a TLS key log (other
        types are ignored)."""
        if secrets_type != TLS_KEY_LOG_BLOCK:
            return False
        self.add_text(bytes(data).decode("utf-8", "replace"), "pcapng secrets block")
        return True
