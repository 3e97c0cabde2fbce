"""Decryption explained: each connection's `decryption` status and reason, and the key-log
summary, on real captures with the key logs their own peers wrote (and key logs cut from them)."""

from __future__ import annotations

import pytest

from analyzer.api import load_keylog

from conftest import CAPTURES, facts

KEYS = CAPTURES / "keys"


@pytest.mark.parametrize("name, alpn", [("tls13.pcap", "http/1.1"), ("tls13-python-ssl.pcap", "http/1.1"),
                                        ("tls13-gnutls.pcap", "http/1.1")])
def test_tls13_alpn_chosen_in_encrypted_extensions_reaches_the_connection(name: str, alpn: str) -> None:
    # TLS 1.3 servers select ALPN in EncryptedExtensions: invisible without keys, known with them
    assert [c.alpn for c in facts(CAPTURES / name)] == [None]
    keyed = facts(CAPTURES / name, keylog=load_keylog(KEYS / name.replace(".pcap", ".keys")))
    assert [c.alpn for c in keyed] == [alpn]
