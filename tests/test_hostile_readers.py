"""Captures cut short or corrupt anywhere, plain or gzip (issue 23 items 1, 2, 5, 10; issue 16 item 5):
a warning names the frame and the byte where reading stopped, everything before it is kept,
and no header makes us allocate what it claims."""

from __future__ import annotations

import struct
import subprocess
import sys
import tracemalloc
import zlib
from pathlib import Path

import pytest

from analyzer.errors import InputError
from analyzer.api import analyze
from analyzer.sources.pcap import CaptureInfo, read_frames

from conftest import CAPTURES, ROOT
from hostile_inputs import (Flow, fixture_streams, gzip_bytes, pcap, pcap_header, pcap_record, pcapng, pcapng_block,
                            replay, timed)

FRAMES = timed(replay(fixture_streams("tls13.pcap")[0]))  # one real TLS 1.3 connection, 12 frames


def _read(path: Path) -> tuple[list[bytes], CaptureInfo]:
    info = CaptureInfo(str(path))
    return [f.data for f in read_frames(str(path), info)], info


def _read_peak(path: Path) -> tuple[list[bytes], CaptureInfo, int]:
    """As _read, with the peak of Python memory meanwhile."""
    tracemalloc.start()
    try:
        frames, info = _read(path)
        return frames, info, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# -- pcapng blocks too short for their own fields (item 1) ----------------------------------------

@pytest.mark.parametrize("btype, name", [(1, "interface description"), (2, "packet"), (6, "enhanced packet"),
                                         (3, "simple packet"), (10, "decryption secrets")])
@pytest.mark.parametrize("where", ["end", "middle"])
def test_a_pcapng_block_too_short_for_its_fields_is_skipped_with_a_warning(tmp_path: Path, btype: int, name: str,
                                                                           where: str) -> None:
    short = struct.pack("<III", btype, 12, 12)  # a whole block, 12 bytes long: no room for any field
    good = pcapng(FRAMES)
    head, tail = pcapng(FRAMES[:5]), pcapng(FRAMES[5:])[len(pcapng([])):]  # one section, its blocks split
    data = good + short if where == "end" else head + short + tail
    path = tmp_path / "short.pcapng"
    path.write_bytes(data)
    frames, info = _read(path)
    packet = btype in (2, 3, 6)
    assert frames == [d for _, d in FRAMES]  # nothing lost around it
    at = len(good) if where == "end" else len(head)
    frame = (len(FRAMES) if where == "end" else 5) + packet
    shortest = {1: 20, 10: 20, 3: 16}.get(btype, 32)
    assert info.warnings == [f"{'frame' if packet else 'after frame'} {frame} at byte {at}: "
                             f"{name} block of 12 bytes is too short (at least {shortest}); skipped"]
    assert info.frames == len(FRAMES) + packet  # a packet block keeps its frame number, as in Wireshark


def test_a_section_header_too_short_ends_the_read_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "shb.pcapng"
    path.write_bytes(pcapng(FRAMES) + struct.pack("<II", 0x0A0D0D0A, 16) + b"\x4d\x3c\x2b\x1a" + struct.pack("<I", 16))
    frames, info = _read(path)
    assert len(frames) == len(FRAMES) and info.truncated
    assert info.warnings == [f"capture truncated after frame {len(FRAMES)} at byte {len(pcapng(FRAMES))}: "
                             "a section header block of 16 bytes, too short; everything before it was analysed"]


# -- record headers that claim more than a frame can be (items 5 and 10) -----------------------------

@pytest.mark.parametrize("claim", [0x80000000, 0xF0000000, 0xFFFFFFFF])
def test_a_record_claiming_gigabytes_warns_and_allocates_nothing_of_it(tmp_path: Path, claim: int) -> None:
    path = tmp_path / "huge.pcap"
    path.write_bytes(pcap_header(snaplen=0xFFFFFFFF) + b"".join(pcap_record(d, ts) for ts, d in FRAMES)
                     + struct.pack("<IIII", 0, 0, claim, claim) + b"\0" * 100)
    frames, info, peak = _read_peak(path)
    assert len(frames) == len(FRAMES) and info.truncated
    assert info.warnings == [f"capture truncated after frame {len(FRAMES)} at byte {path.stat().st_size - 116}: "
                             f"a record header claims {claim} bytes, over the 262144-byte cap (max_frame_bytes): "
                             "corrupt, or a frame too large to read; everything before it was analysed"]
    assert peak < 8 << 20


def test_a_real_oversized_record_inside_gzip_costs_no_more_than_the_cap(tmp_path: Path) -> None:
    """Item 10: a small gzip holding one real record far over the cap (64 MiB of zeros here; 2 GiB
    in the issue): snaplen 0xffffffff no longer lifts the cap, and nothing near it is inflated."""
    body = pcap_header(snaplen=0xFFFFFFFF) + pcap_record(FRAMES[0][1])
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    blob = comp.compress(body + struct.pack("<IIII", 1, 0, 64 << 20, 64 << 20))
    zeros = bytes(1 << 20)
    blob += b"".join(comp.compress(zeros) for _ in range(64)) + comp.flush()
    path = tmp_path / "bomb.pcap.gz"
    path.write_bytes(blob)
    assert path.stat().st_size < 200_000
    frames, info, peak = _read_peak(path)
    assert len(frames) == 1 and info.truncated and "67108864 bytes, over the 262144-byte cap" in info.warnings[0]
    assert peak < 8 << 20


def test_an_oversized_pcapng_packet_is_skipped_and_reading_goes_on(tmp_path: Path) -> None:
    big = b"\0" * ((256 << 10) + 4)
    blocks = pcapng(FRAMES[:2]) + pcapng_block(6, struct.pack("<IIIII", 0, 0, 0, len(big), len(big)) + big)
    path = tmp_path / "big.pcapng"
    path.write_bytes(blocks + pcapng(FRAMES[2:])[len(pcapng([])):])
    frames, info = _read(path)
    assert frames == [d for _, d in FRAMES] and info.frames == len(FRAMES) + 1 and not info.truncated
    assert info.warnings == [f"frame 3 at byte {len(pcapng(FRAMES[:2]))}: a packet of 262148 bytes, over the "
                             "262144-byte cap (max_frame_bytes); skipped"]


def test_warnings_about_skipped_blocks_stop_at_the_cap_and_the_rest_are_counted(tmp_path: Path) -> None:
    bad = pcapng_block(6, struct.pack("<IIIII", 7, 0, 0, 4, 4) + b"abcd")  # interface 7 was never described
    path = tmp_path / "many.pcapng"
    path.write_bytes(pcapng(FRAMES[:1]) + bad * 500)
    frames, info = _read(path)
    assert len(frames) == 1 and info.skipped_blocks == 500 and len(info.warnings) == 101
    assert info.warnings[-1].startswith("more blocks skipped from frame 102 at byte")


# -- gzip: cut short, corrupt, at the first read or mid-stream (item 2, issue 16 item 5) -------------

def _flushed_gzip(frames: list[tuple[float, bytes]]) -> tuple[bytes, list[int]]:
    """A gzip member whose deflate stream is flushed to a byte boundary after the pcap header and after
    each record, and the compressed offset where each record's data starts."""
    comp = zlib.compressobj(6, zlib.DEFLATED, 31)
    out = comp.compress(pcap_header()) + comp.flush(zlib.Z_FULL_FLUSH)
    starts = []
    for ts, data in frames:
        starts.append(len(out))
        out += comp.compress(pcap_record(data, ts)) + comp.flush(zlib.Z_FULL_FLUSH)
    return out + comp.flush(), starts


@pytest.mark.parametrize("record", [0, 3, 9, 11])
def test_corrupt_deflate_data_keeps_every_frame_before_it(tmp_path: Path, record: int) -> None:
    blob, starts = _flushed_gzip(FRAMES)
    damaged = bytearray(blob)
    damaged[starts[record]] = 0xFF  # an invalid deflate block type right where this record begins
    path = tmp_path / "bad.pcap.gz"
    path.write_bytes(bytes(damaged))
    frames, info = _read(path)
    assert frames == [d for _, d in FRAMES[:record]]
    plain = len(pcap(FRAMES[:record]))
    assert info.truncated and info.warnings == [
        f"capture truncated after frame {record} at byte {plain}: the gzip data is corrupt at about byte "
        f"{starts[record]} (Error -3 while decompressing data: invalid block type); everything before it was analysed"]


def test_corrupt_gzip_before_any_capture_byte_is_a_one_line_error(tmp_path: Path) -> None:
    blob = bytearray(gzip_bytes(pcap(FRAMES)))
    blob[10] ^= 0xFF  # the first deflate block header
    path = tmp_path / "bad.pcap.gz"
    path.write_bytes(bytes(blob))
    with pytest.raises(InputError, match=r"the gzip data is corrupt at about byte \d+ \(Error -3"):
        _read(path)
    run = subprocess.run([sys.executable, str(ROOT / "cli.py"), "analyze", str(path)], capture_output=True, text=True)
    assert run.returncode == 2 and run.stderr.startswith("error: ") and len(run.stderr.splitlines()) == 1


def test_a_damaged_gzip_checksum_is_a_warning_after_everything_was_read(tmp_path: Path) -> None:
    blob = bytearray(gzip_bytes(pcap(FRAMES)))
    blob[-6] ^= 0xFF  # the CRC-32 in the trailer
    path = tmp_path / "crc.pcap.gz"
    path.write_bytes(bytes(blob))
    frames, info = _read(path)
    assert len(frames) == len(FRAMES) and not info.truncated
    assert info.warnings == [f"after frame {len(FRAMES)}: the gzip checksum does not match: some data read is damaged"]


def test_a_truncated_gzip_capture_is_analysed_up_to_the_cut_like_a_plain_one(tmp_path: Path) -> None:
    """Issue 16 item 5: was `error: ... pcap header is cut short` (gzip.GzipFile raised on the cut and
    lost what its last read had inflated). Every cut point of the compressed file now reads the same
    frames as the plain capture cut where the inflated data stops."""
    plain = pcap(FRAMES)
    blob, starts = _flushed_gzip(FRAMES)
    seen = set()
    for cut in range(starts[0], len(blob), 7):
        path = tmp_path / "cut.pcap.gz"
        path.write_bytes(blob[:cut])
        frames, info = _read(path)
        inflated = zlib.decompressobj(31).decompress(blob[:cut])
        assert plain.startswith(inflated)
        cut_plain = tmp_path / "cut.pcap"
        cut_plain.write_bytes(inflated)
        frames_plain, info_plain = _read(cut_plain)
        assert frames == frames_plain and info.truncated and len(info.warnings) == 1
        where = f"capture truncated after frame {len(frames)} at byte "
        if info_plain.warnings:  # cut inside a record: the same words, and why the gzip data ended
            assert info.warnings[0].startswith(info_plain.warnings[0].split("; everything")[0] + " (the gzip data")
        else:  # cut between two records
            assert info.warnings[0].startswith(where + f"{len(inflated)}: the gzip data")
        assert info.warnings[0].startswith(where)
        assert f"the gzip data ends early, after {cut} compressed bytes" in info.warnings[0]
        seen.add(len(frames))
    assert seen == set(range(len(FRAMES) + 1))  # cuts fell inside every record


def test_truncated_gzip_through_the_cli_exits_zero_with_the_frames_before_the_cut(tmp_path: Path) -> None:
    blob = (CAPTURES / "tls13.pcap.gz").read_bytes()
    path = tmp_path / "tls13-cut.pcap.gz"
    path.write_bytes(blob[:len(blob) * 2 // 3])
    run = subprocess.run([sys.executable, str(ROOT / "cli.py"), "analyze", str(path)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "capture truncated after frame" in run.stderr and "the gzip data ends early" in run.stderr
    assert "127.0.0.1" in run.stdout  # the connection, up to the cut


def test_multi_member_gzip_reads_as_one_capture(tmp_path: Path) -> None:
    plain = pcap(FRAMES)
    path = tmp_path / "members.pcap.gz"
    path.write_bytes(gzip_bytes(plain[:1000]) + gzip_bytes(plain[1000:]) + b"\0" * 8)  # zero padding is allowed
    frames, info = _read(path)
    assert frames == [d for _, d in FRAMES] and info.warnings == []


def test_a_syn_only_capture_reads_with_no_warning(tmp_path: Path) -> None:
    path = tmp_path / "syn.pcap"
    path.write_bytes(pcap([(0.0, Flow().syn())]))
    assert analyze(str(path)).warnings == []


def test_a_read_error_mid_capture_is_a_warning_too(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """A device or pipe that fails (EIO) after some bytes: what came before is kept, and a warning says so."""
    import errno
    import io

    data = pcap(FRAMES)

    class Failing(io.RawIOBase):
        def __init__(self) -> None:
            self.pos = 0

        def readable(self) -> bool:
            return True

        def readinto(self, b) -> int:  # noqa: ANN001
            if self.pos >= 3000:
                raise OSError(errno.EIO, "Input/output error")
            n = min(len(b), 3000 - self.pos, 700)
            b[:n] = data[self.pos:self.pos + n]
            self.pos += n
            return n

    class Stdin:  # (through stdin: compiled code does not look a patched function up)
        buffer = io.BufferedReader(Failing(), 1024)

    monkeypatch.setattr(sys, "stdin", Stdin())
    info = CaptureInfo("-")
    frames = list(read_frames("-", info))
    assert frames and all(f.data == d for f, (_, d) in zip(frames, FRAMES)) and info.truncated
    assert info.warnings[0].startswith(f"capture truncated after frame {len(frames)} at byte ")
    assert "(reading failed: [Errno 5] Input/output error)" in info.warnings[0]
