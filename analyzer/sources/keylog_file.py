"""Key log files from disk: the I/O half of analyzer/tls/keylog.py (which parses, sans-IO)."""

from __future__ import annotations

from analyzer.errors import InputError
from analyzer.tls.keylog import KeyLog


def read_keylog(path: str) -> KeyLog:
    """An NSS key log file (SSLKEYLOGFILE format); a missing or unreadable file is a one-line InputError."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise InputError(f"key log {path}: no such file", "give the file SSLKEYLOGFILE wrote") from None
    except OSError as exc:
        raise InputError(f"key log {path}: {exc.strerror}", "check the path and permissions") from None
    keylog = KeyLog()
    keylog.add_text(text, path)
    return keylog
