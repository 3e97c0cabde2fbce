"""NSS key log files (SSLKEYLOGFILE format) and pcapng-embedded secrets: client random -> secrets.

Secrets never appear in a repr, a message or an exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from analyzer.errors import InputError

LABELS = frozenset({"CLIENT_RANDOM", "CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET",
                    "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0", "CLIENT_EARLY_TRAFFIC_SECRET",
                    "EXPORTER_SECRET", "EARLY_EXPORTER_SECRET"})


@dataclass
class KeyLog:
    secrets: dict[bytes, dict[str, bytes]] = field(default_factory=dict, repr=False)
    rsa: dict[bytes, bytes] = field(default_factory=dict, repr=False)  # first 8 encrypted bytes -> premaster
    skipped: int = 0
    sources: list[str] = field(default_factory=list)

    def add_text(self, text: str, source: str = "") -> None:
        """Add every line in NSS key log format; lines we cannot read are counted, never fatal."""
        if source:
            self.sources.append(source)
        for line in text.splitlines():
            parts = line.split()
            if not parts or parts[0].startswith("#"):
                continue
            try:
                if parts[0] == "RSA" and len(parts) == 3:
                    self.rsa[bytes.fromhex(parts[1])[:8]] = bytes.fromhex(parts[2])
                elif parts[0] in LABELS and len(parts) == 3 and len(parts[1]) == 64:
                    self.secrets.setdefault(bytes.fromhex(parts[1]), {})[parts[0]] = bytes.fromhex(parts[2])
                else:
                    self.skipped += 1
            except ValueError:
                self.skipped += 1

    def secrets_for(self, client_random: bytes) -> dict[str, bytes]:
        return self.secrets.get(client_random, {})

    def rsa_premaster(self, encrypted_premaster: bytes) -> bytes | None:
        return self.rsa.get(encrypted_premaster[:8])

    def __len__(self) -> int:
        return len(self.secrets) + len(self.rsa)

    @classmethod
    def from_file(cls, path: str) -> KeyLog:
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                text = fh.read()
        except FileNotFoundError:
            raise InputError(f"key log {path}: no such file", "give the file SSLKEYLOGFILE wrote") from None
        except OSError as exc:
            raise InputError(f"key log {path}: {exc.strerror}", "check the path and permissions") from None
        keylog = cls()
        keylog.add_text(text, path)
        return keylog
