"""JA3 / JA3S and JA4 fingerprints, tested against the specifications' own examples.

Expected values come from the specifications, never from our own output:
- JA3 / JA3S: the salesforce/ja3 README (its two worked strings and hashes), and for the corners
  the README leaves open, what tshark 4.0.17 (`tls.handshake.ja3_full` / `ja3s_full`) computes.
- JA4: FoxIO's technical_details/JA4.md (BSD-3-Clause): its worked Chrome example in all four
  renderings, its ALPN rules and examples, its empty-list rules.  Where FoxIO's own reference code
  disagrees with that text (one-character ALPN, GREASE in signature_algorithms, SNI/ALPN in `_o`),
  the text wins.
Hellos are real wire bytes decoded by the analyzer's own decoder, built by tests/hello_builders.py.
"""
from __future__ import annotations

import hashlib
import json
import re
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from analyzer.analysis.fingerprints import (
    Ja3Parts,
    alpn_raw,
    client_fingerprints,
    ja3,
    ja3_parts,
    ja3_string,
    ja3s,
    ja4,
    server_fingerprints,
)
from analyzer.tls.decoders import decode_message
from analyzer.tls.messages import ClientHello, Context
from analyzer.tls.reader import text
from hello_builders import (
    alpn,
    client_hello,
    ext,
    groups,
    key_share,
    point_formats,
    server_hello,
    sig_algs,
    sni,
    sslv2_hello,
    u16s,
    vec,
    versions,
)

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"
GREASE = [0x0A0A, 0x1A1A, 0x2A2A, 0x3A3A, 0x4A4A, 0x5A5A, 0x6A6A, 0x7A7A,
          0x8A8A, 0x9A9A, 0xAAAA, 0xBABA, 0xCACA, 0xDADA, 0xEAEA, 0xFAFA]


def md5(s: str) -> str:
    return hashlib.md5(s.encode()).hexdigest()


def sha12(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()[:12]


# --- JA3 (salesforce/ja3 README) ------------------------------------------------------------------

README_CIPHERS = [47, 53, 5, 10, 49161, 49162, 49171, 49172, 50, 56, 19, 4]


def test_ja3_readme_example():
    ch = client_hello(README_CIPHERS, [sni(), groups(23, 24, 25), point_formats(0)], version=0x0301)
    assert ja3(ch) == ("769,47-53-5-10-49161-49162-49171-49172-50-56-19-4,0-10-11,23-24-25,0",
                       "ada70206e40642a3e4461f35503241d5")


def test_ja3_readme_example_without_extensions():
    ch = client_hello([4, 5, 10, 9, 100, 98, 3, 6, 19, 18, 99], None, version=0x0301)
    assert ch.extensions is None
    assert ja3(ch) == ("769,4-5-10-9-100-98-3-6-19-18-99,,,", "de350869b8c85de67a350c8d186f11e6")


def test_ja3_empty_extensions_block_reads_like_none():
    # tshark 4.0.17: an extensions block of length 0 gives "771,4865,,,", as no block at all does
    assert ja3_string(ja3_parts(client_hello([0x1301], []))) == "771,4865,,,"


def test_ja3_parts_are_the_wire_lists_without_grease():
    ch = client_hello([0x0A0A, 0x1301, 0x00FF, 0x5600],
                      [ext(0x1A1A), sni(), groups(0x2A2A, 29, 23), point_formats(0, 1),
                       versions(0x3A3A, 0x0304), ext(0xFAFA, b"\x00")])
    assert ja3_parts(ch) == Ja3Parts(version=0x0303, ciphers=(0x1301, 0x00FF, 0x5600),
                                     extensions=(0, 10, 11, 43), groups=(29, 23), formats=(0, 1))


def test_ja3_ignores_grease_everywhere():
    plain = client_hello(README_CIPHERS, [sni(), groups(23, 24, 25), point_formats(0)], version=0x0301)
    greased = client_hello([0xDADA, *README_CIPHERS, 0x7A7A],
                           [ext(0x0A0A), sni(), groups(0x1A1A, 23, 24, 25), point_formats(0), ext(0xEAEA, b"\x00")],
                           version=0x0301)
    assert ja3(greased) == ja3(plain)


def test_ja3_version_is_the_legacy_field_not_supported_versions():
    ch = client_hello([0x1301], [versions(0x0304, 0x0303), groups(29)])
    assert ja3_string(ja3_parts(ch)) == "771,4865,43-10,29,"


def test_ja3_empty_lists_leave_empty_fields():
    # tshark 4.0.17: "771,4865,10-11,,"
    assert ja3_string(ja3_parts(client_hello([0x1301], [groups(), point_formats()]))) == "771,4865,10-11,,"


def test_ja3_empty_cipher_list():
    # tshark 4.0.17 flags the vector as too short but still computes "771,,10,29,"
    assert ja3_string(ja3_parts(client_hello([], [groups(29)]))) == "771,,10,29,"


def test_ja3_repeated_supported_groups_last_one_wins():
    # the salesforce reference keeps the last; tshark 4.0.17 prints a broken 6-field string
    # ("771,4865,10-10,29-23,24,"), which is not a JA3 string at all
    assert ja3_string(ja3_parts(client_hello([0x1301], [groups(29, 23), groups(24)]))) == "771,4865,10-10,24,"


def test_ja3_is_undefined_for_sslv2_hellos():
    ch = sslv2_hello([0x010080, 0x000004, 0x0000FF], version=0x0301)
    assert ja3_parts(ch) is None and ja3(ch) is None
    assert not {"ja3", "ja3_string"} & set(client_fingerprints(ch))


def test_no_fingerprint_for_a_hello_that_did_not_decode():
    body = (0x0303).to_bytes(2, "big") + bytes(32) + b"\x00" + vec(u16s([0x1301]), 2) + b"\x01\x00" \
        + u16s([8, 10, 20]) + b"\x00\x02\x00\x1d"  # the extension claims 20 bytes, 4 are there
    ch = decode_message(1, body, Context())
    assert ch.malformed
    assert ja3(ch) is None and ja4(ch) == {} and client_fingerprints(ch) == {}


# --- JA3S -----------------------------------------------------------------------------------------

def test_ja3s_without_extensions():
    # tshark 4.0.17 on an SSLv3-era ServerHello: "769,4,"
    assert ja3s(server_hello(4, None, version=0x0301)) == ("769,4,", md5("769,4,"))


def test_ja3s_lists_extensions_in_wire_order_without_grease():
    sh = server_hello(0xC02F, [ext(0xFF01, b"\x00"), ext(0x0A0A), ext(11, b"\x01\x00"), ext(35)])
    assert ja3s(sh) == ("771,49199,65281-11-35", md5("771,49199,65281-11-35"))


def test_ja3s_version_is_the_legacy_field():
    sh = server_hello(0x1301, [ext(43, u16s([0x0304])), ext(51, u16s([29]) + vec(bytes(32), 2))])
    assert ja3s(sh)[0] == "771,4865,43-51"
    assert server_fingerprints(sh) == {"ja3s": md5("771,4865,43-51"), "ja3s_string": "771,4865,43-51"}


# --- JA4: the specification's worked example --------------------------------------------------------

SPEC_CIPHERS = [0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0xC013, 0xC014,
                0x009C, 0x009D, 0x002F, 0x0035]
SPEC_SIGALGS = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601]
SPEC = {
    "ja4": "t13d1516h2_8daaf6152771_e5627efa2ab1",
    "ja4_r": "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_"
             "0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_"
             "0403,0804,0401,0503,0805,0501,0806,0601",
    "ja4_o": "t13d1516h2_acb858a92679_18f69afefd3d",
    "ja4_ro": "t13d1516h2_1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,0035_"
              "001b,0000,0033,0010,4469,0017,002d,000d,0005,0023,0012,002b,ff01,000b,000a,0015_"
              "0403,0804,0401,0503,0805,0501,0806,0601",
}


def spec_hello(grease: bool = False, sigalgs: list[int] = SPEC_SIGALGS) -> ClientHello:
    """The spec's Chrome ClientHello: its ciphers, extensions (in its order) and signature algorithms."""
    g = (lambda v: [v]) if grease else (lambda v: [])
    exts = [
        *([ext(0x0A0A)] if grease else []),
        ext(0x001B, vec(u16s([2]), 1)),  # compress_certificate: brotli
        sni(b"example.com"),
        key_share(*g(0x1A1A), 29),
        alpn(b"h2", b"http/1.1"),
        alpn(b"h2", etype=0x4469),  # application_settings (ALPS): not the ALPN
        ext(0x0017),
        ext(0x002D, vec(b"\x01", 1)),
        sig_algs(*g(0x2A2A), *sigalgs),
        ext(0x0005, b"\x01\x00\x00\x00\x00"),
        ext(0x0023),
        ext(0x0012),
        versions(*g(0x3A3A), 0x0304, 0x0303),
        ext(0xFF01, b"\x00"),
        point_formats(0),
        groups(*g(0x4A4A), 29, 23, 24),
        *([ext(0xFAFA, b"\x00")] if grease else []),
        ext(0x0015, bytes(20)),  # padding
    ]
    return client_hello([*g(0x5A5A), *SPEC_CIPHERS], exts)


def test_ja4_spec_example_all_four_renderings():
    assert ja4(spec_hello()) == SPEC


def test_ja4_spec_example_with_grease_everywhere():
    # GREASE in ciphers, extensions, key_share, supported_groups, supported_versions and
    # signature_algorithms: the spec says to ignore it anywhere, so nothing changes
    assert ja4(spec_hello(grease=True)) == SPEC


def test_ja4_spec_hash_examples():
    # the spec's intermediate values, checked against the rendering that feeds them
    fp = ja4(spec_hello())
    assert fp["ja4_r"].split("_")[1] == \
        "002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9"
    assert sha12(fp["ja4_r"].split("_", 2)[2]) == "e5627efa2ab1"


def test_ja4_without_signature_algorithms_has_no_trailing_underscore():
    # spec: "If there are no signature algorithms in the hello packet, then the string ends without
    # an underscore": 0005,...,ff01 = 6d807ffa2a79
    fp = ja4(spec_hello(sigalgs=[]))
    assert fp["ja4"] == "t13d1516h2_8daaf6152771_6d807ffa2a79"
    assert fp["ja4_r"].endswith("_0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01")


# --- JA4 section a: version, SNI, counts, ALPN -------------------------------------------------------

def a(ch: ClientHello, transport: str = "t") -> str:
    return ja4(ch, transport)["ja4"].split("_")[0]


@pytest.mark.parametrize("legacy, offered, expected", [
    (0x0303, [0x0304, 0x0303], "13"),
    (0x0303, [0x0303, 0x0304], "13"),  # the highest, not the first
    (0x0303, [0x0A0A, 0x0304], "13"),  # GREASE ignored
    (0x0303, [0x0A0A], "12"),  # nothing but GREASE: the legacy version
    (0x0303, None, "12"),
    (0x0302, None, "11"),
    (0x0301, None, "10"),
    (0x0300, None, "s3"),
    (0x0304, None, "13"),
    (0x0303, [0x7F1C, 0x0303], "00"),  # a TLS 1.3 draft is not in the spec's table: unknown
    (0x0305, None, "00"),
])
def test_ja4_version(legacy, offered, expected):
    exts = [] if offered is None else [versions(*offered)]
    assert a(client_hello([0x1301], exts, version=legacy))[1:3] == expected


@pytest.mark.parametrize("legacy, offered, expected", [
    (0xFEFF, None, "d1"),
    (0xFEFD, None, "d2"),
    (0xFEFD, [0xFEFC, 0xFEFD], "d3"),  # DTLS numbers count down: DTLS 1.3 is the newest offered
])
def test_ja4_dtls_version(legacy, offered, expected):
    exts = [] if offered is None else [versions(*offered)]
    assert a(client_hello([0x1301], exts, version=legacy), "d")[:3] == "d" + expected


def test_ja4_transport():
    ch = spec_hello()
    assert a(ch, "q").startswith("q13d")
    with pytest.raises(ValueError):
        ja4(ch, "x")


def test_ja4_sni_flag():
    assert a(client_hello([0x1301], [sni()]))[3] == "d"
    assert a(client_hello([0x1301], [groups(29)]))[3] == "i"


def test_ja4_counts_cap_at_99_but_hash_everything():
    ciphers = list(range(0x0100, 0x0100 + 120))
    exts = [ext(0x7000 + i) for i in range(101)]
    fp = ja4(client_hello(ciphers, exts))
    assert fp["ja4"].split("_")[0] == "t12i999900"
    assert fp["ja4_r"].split("_")[1] == ",".join(f"{c:04x}" for c in ciphers)
    assert len(fp["ja4_r"].split("_")[2].split(",")) == 101


def test_ja4_counts_keep_scsv_and_sni_alpn():
    ch = client_hello([0x0A0A, 0x1301, 0x00FF, 0x5600], [ext(0x1A1A), sni(), alpn(b"h2"), groups(29)])
    assert a(ch) == "t12d0303h2"


@pytest.mark.parametrize("first, expected", [
    (b"h2", "h2"),
    (b"http/1.1", "h1"),
    (b"x", "xx"),  # one character: both first and last
    (b"\xab", "ab"),  # the spec's examples of non-alphanumeric bytes
    (b"\xab\xcd", "ad"),
    (b"\x30\xab", "3b"),
    (b"\x30\x31\xab\xcd", "3d"),
    (b"\x30\xab\xcd\x31", "01"),  # first and last are alphanumeric: characters, not hex
    (b"/", "2f"),
    (b"\xc3\xa9x", "c8"),  # non-ASCII (valid UTF-8 "ex"): hex c3a978
    (b"x\xc3\xa9", "79"),
    (b"\xffh2", "f2"),  # invalid UTF-8: hex ff6832
    (b"", "00"),  # the first value is empty
])
def test_ja4_alpn_first_and_last(first, expected):
    assert a(client_hello([0x1301], [alpn(first, b"h3")]))[-2:] == expected


def test_ja4_alpn_absent_or_empty():
    assert a(client_hello([0x1301], [groups(29)]))[-2:] == "00"
    assert a(client_hello([0x1301], [ext(16)]))[-2:] == "00"  # extension with no data
    assert a(client_hello([0x1301], [alpn()]))[-2:] == "00"  # empty protocol list
    assert a(client_hello([0x1301], [alpn(b"h2", etype=17613)]))[-2:] == "00"  # ALPS is not ALPN


def test_ja4_alpn_whose_text_looks_like_an_escape():
    # text() renders the invalid byte 0xab and the four characters "\xab" alike; the extension's
    # length tells them apart
    assert a(client_hello([0x1301], [alpn(b"\xab")]))[-2:] == "ab"
    assert a(client_hello([0x1301], [alpn(b"\\xab")]))[-2:] == "52"  # hex 5c786162


# --- alpn_raw: the exact inverse of reader.text() ------------------------------------------------------

@pytest.mark.parametrize("raw", [b"h2", b"http/1.1", b"\xc3\xa9", b"\xab", b"a\xffb", b"\xff\xfe", b"\\x41",
                                 b"\\", b"\\x", b"\\xg1", b"\xe2\x82", b""])
def test_alpn_raw_inverts_text(raw):
    assert alpn_raw(text(raw)) == raw


@settings(max_examples=300)
@given(st.binary(max_size=24))
def test_alpn_raw_inverts_text_property(raw):
    # text() is not injective only where the bytes literally contain a backslash escape
    assume(not re.search(rb"\\x[0-9a-f]{2}", raw))
    assert alpn_raw(text(raw)) == raw


# --- JA4 sections b and c: hashes, lists, empty cases ---------------------------------------------------

def test_ja4_empty_cipher_list():
    fp = ja4(client_hello([], [sni(), groups(29)]))
    assert fp["ja4"] == f"t12d000200_000000000000_{sha12('000a')}"
    assert fp["ja4_r"] == "t12d000200__000a"
    assert fp["ja4_o"] == f"t12d000200_000000000000_{sha12('0000,000a')}"
    assert fp["ja4_ro"] == "t12d000200__0000,000a"


def test_ja4_no_extensions():
    fp = ja4(client_hello([0x0035, 0x002F], None))
    assert fp == {"ja4": f"t12i020000_{sha12('002f,0035')}_000000000000",
                  "ja4_r": "t12i020000_002f,0035_",
                  "ja4_o": f"t12i020000_{sha12('0035,002f')}_000000000000",
                  "ja4_ro": "t12i020000_0035,002f_"}


def test_ja4_only_sni_and_alpn():
    # the sorted list (SNI and ALPN removed) is empty, so c is zeros; the original list is not
    fp = ja4(client_hello([0x1301], [sni(), alpn(b"h2")]))
    assert fp["ja4"].endswith("_000000000000")
    assert fp["ja4_r"].endswith("_1301_")
    assert fp["ja4_o"].endswith("_" + sha12("0000,0010"))
    assert fp["ja4_ro"].endswith("_1301_0000,0010")


def test_ja4_signature_algorithms_come_from_extension_13_only():
    ch = client_hello([0x1301], [sig_algs(0x0403, 0x0804), sig_algs(0x0401, etype=50)])
    assert ja4(ch)["ja4_r"].endswith("_000d,0032_0403,0804")


def test_ja4_extension_list_sorted_numerically_with_duplicates():
    ch = client_hello([0x1301], [ext(0xFF01, b"\x00"), ext(0x0015), ext(0x0015), ext(0x000A, vec(u16s([29]), 2))])
    assert ja4(ch)["ja4_r"].endswith("_000a,0015,0015,ff01")


ciphers_st = st.lists(st.one_of(st.integers(0, 0xFFFF), st.sampled_from(GREASE)), max_size=30)
ext_types_st = st.lists(st.one_of(st.sampled_from([0, 16, 0x0017, 0x0023, 0xFF01 - 1, 0x3374]),
                                  st.integers(0x5000, 0x5FFF), st.sampled_from(GREASE)), max_size=20)


@settings(max_examples=150)
@given(ciphers_st, ext_types_st)
def test_ja4_hashes_are_rendered_from_the_raw_parts(ciphers, ext_types):
    fp = ja4(client_hello(ciphers, [ext(t) for t in ext_types]))
    a_, b, c = fp["ja4"].split("_")
    ra, rb, rc = fp["ja4_r"].split("_", 2)
    oa, ob, oc = fp["ja4_o"].split("_")
    roa, rob, roc = fp["ja4_ro"].split("_", 2)
    assert a_ == ra == oa == roa
    assert b == (sha12(rb) if rb else "000000000000") and ob == (sha12(rob) if rob else "000000000000")
    assert c == (sha12(rc) if rc else "000000000000") and oc == (sha12(roc) if roc else "000000000000")
    kept = [x for x in ciphers if x not in GREASE]
    assert rob == ",".join(f"{x:04x}" for x in kept) and rb == ",".join(sorted(rob.split(","))) * bool(kept)
    assert int(a_[4:6]) == min(len(kept), 99)
    assert int(a_[6:8]) == min(len([t for t in ext_types if t not in GREASE]), 99)


# --- SSLv2 ClientHello ------------------------------------------------------------------------------

def test_ja4_sslv2_hello():
    # the spec's table maps 0x0002 to "s2"; SSLv2-only cipher kinds are 24-bit and keep six hex digits
    ch = sslv2_hello([0x010080, 0x000004, 0x0000FF], version=0x0002)
    fp = client_fingerprints(ch)
    assert fp == {"ja4": f"ts2i030000_{sha12('0004,00ff,010080')}_000000000000",
                  "ja4_r": "ts2i030000_0004,00ff,010080_",
                  "ja4_o": f"ts2i030000_{sha12('010080,0004,00ff')}_000000000000",
                  "ja4_ro": "ts2i030000_010080,0004,00ff_"}


def test_ja4_sslv2_compatible_hello_offering_tls():
    assert a(sslv2_hello([0x000039, 0x0000FF], version=0x0301)) == "t10i020000"


# --- the combined API -------------------------------------------------------------------------------

def test_client_fingerprints_keys():
    fp = client_fingerprints(spec_hello())
    assert set(fp) == {"ja3", "ja3_string", "ja4", "ja4_r", "ja4_o", "ja4_ro"}
    assert fp["ja3"] == md5(fp["ja3_string"])
    assert {k: fp[k] for k in SPEC} == SPEC


def test_fixture_capture_hello():
    # captures/README.md: tls13.pcap is s_client -tls1_3 -servername example.test -alpn h2,http/1.1
    from conftest import reports
    conn = reports(str(ROOT / "captures" / "tls13.pcap"))[0].connection
    fp = client_fingerprints(conn.client_hellos[0].body)
    assert fp["ja4"].startswith("t13d") and fp["ja4"][8:10] == "h2"
    assert fp["ja3_string"].startswith("771,")
    assert set(server_fingerprints(conn.server_hellos[0].body)) == {"ja3s", "ja3s_string"}


# --- the third-party corpus against tshark 4.0.17 -------------------------------------------------------

# (capture path under the corpus, frame) -> why our value differs from tshark's, or why tshark's row
# has no counterpart here.  Every entry must still happen, so the list cannot go stale.
CORPUS_EXCEPTIONS: dict[tuple[str, int], str] = {
    ("ntop_nDPI/openvpn_nohmac_tcp.pcapng", 67):
        "TLS inside OpenVPN's TCP control channel: same JA3S, but tshark hands TLS the whole server flight "
        "at its last frame (67) while we report the ServerHello at the frame carrying its last byte (16)",
    ("ntop_nDPI/tls_cipher_lens.pcap", 5):
        "ClientHello that does not decode (empty cipher_suites and compression_methods, extensions length "
        "65472 with 130 bytes left): no JA3 here; tshark 4.0.17 hashes the truncated string '769,,'",
    ("ntop_nDPI/tls_invalid_reads.pcap", 4):
        "ClientHello that ends inside its compression_methods: no JA3 here; tshark 4.0.17 hashes the "
        "truncated string '769,4-5-10-9-100-98-3-6-19-18-37,'",
}


def _our_hashes(capture: Path) -> dict[tuple[int, int], list[str | None]]:
    """(frame, handshake type) -> the JA3 / JA3S the report gives each hello there (as JSON shows them)."""
    from conftest import reports
    ours: dict[tuple[int, int], list[str | None]] = defaultdict(list)
    for report in reports(str(capture)):
        for msg in report.to_json()["messages"]:
            if msg["type"] in (1, 2):
                fp = msg.get("fingerprints") or {}
                ours[(msg["frame"], msg["type"])].append(fp.get("ja3") or fp.get("ja3s"))
    return ours


def test_a_hello_retry_request_has_the_ja3s_tshark_gives_it(tshark: str) -> None:
    """An HRR is a ServerHello on the wire: tshark computes its JA3S, and so do we."""
    capture = ROOT / "captures" / "tls13-hrr.pcap"
    out = subprocess.run([tshark, "-n", "-r", str(capture), "-d", "tcp.port==4434,tls", "-Y", "tls.handshake.type==2",
                          "-T", "fields", "-e", "frame.number", "-e", "tls.handshake.ja3s"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    theirs = {(int(frame), 2): [ja3s] for frame, ja3s in (line.split("\t") for line in out.splitlines())}
    ours = _our_hashes(capture)
    assert len(theirs) == 2 and {k: ours[k] for k in theirs} == theirs  # the HRR (frame 6) and the ServerHello


def test_ja3_and_ja3s_match_tshark_on_the_corpus():
    if not CORPUS.is_dir():
        pytest.skip(f"no corpus at {CORPUS}")
    compared = agreed = 0
    mismatches, seen_exceptions = [], set()
    for expect in sorted(CORPUS.rglob("*.tshark.json")):
        rows = [h for h in json.loads(expect.read_text())["handshakes"]
                if h["transport"] == "tcp" and h["handshake_type"] in (1, 2) and (h.get("ja3") or h.get("ja3s"))]
        if not rows:
            continue
        capture = expect.with_name(expect.name.removesuffix(".tshark.json"))
        name = capture.relative_to(CORPUS).as_posix()
        ours = _our_hashes(capture)
        for row in rows:
            compared += 1
            theirs = row.get("ja3") or row.get("ja3s")
            got = ours.get((row["frame"], row["handshake_type"]), [])
            key = (name, row["frame"])
            if theirs in got:
                agreed += 1
            elif key in CORPUS_EXCEPTIONS:
                seen_exceptions.add(key)
            else:
                mismatches.append(f"{name} frame {row['frame']} type {row['handshake_type']}: "
                                  f"tshark {theirs}, ours {got}")
    print(f"JA3/JA3S agreement with tshark: {agreed} of {compared}")
    assert not mismatches, "\n".join(mismatches)
    assert seen_exceptions == set(CORPUS_EXCEPTIONS), set(CORPUS_EXCEPTIONS) - seen_exceptions
