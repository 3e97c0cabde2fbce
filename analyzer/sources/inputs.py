"""Command-line inputs -> capture paths: files, folders (searched recursively) and globs.

A folder of captures is what rotated files (`tcpdump -G/-C`, dumpcap ring buffers) and fixture
sets look like, and it holds other things too (key logs, goldens, notes). Inside a folder a file
is a capture when its first bytes say so (pcap, pcapng, or gzip holding either), whatever its
name; anything else is skipped and counted, never an error. A path named explicitly is always
passed on, so that a wrong file given by hand still gets its one-line error from the reader.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from typing import Final

from analyzer.errors import InputError
from analyzer.sources.pcap import GzipStream

PCAP_MAGICS: Final = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
PCAPNG_MAGIC: Final = b"\x0a\x0d\x0d\x0a"
GZIP_MAGIC: Final = b"\x1f\x8b"
GLOB_CHARS: Final = frozenset("*?[")


@dataclass(slots=True)
class Inputs:
    """The captures to read, in order, and what was passed over while looking for them."""

    captures: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # files in folders that are not captures
    folders: int = 0  # folders searched


def looks_like_capture(path: str) -> bool:
    """Whether the file starts like a pcap or pcapng capture (also inside gzip)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
            if head[:2] == GZIP_MAGIC:
                fh.seek(0)
                head = GzipStream(fh).read(4)  # (a gzip file cut short is still a capture)
    except OSError:
        return False
    return head in PCAP_MAGICS or head == PCAPNG_MAGIC


def expand(paths: list[str]) -> Inputs:
    """Files as given, folders walked (sorted, recursively, hidden entries skipped), globs matched.

    A glob that matches nothing, or a path that does not exist, is an `InputError` (a CI job
    pointed at the wrong place must not go green on zero captures)."""
    out = Inputs()
    for path in paths:
        if path == "-" or os.path.isfile(path):
            out.captures.append(path)
        elif os.path.isdir(path):
            out.folders += 1
            _walk(path, out)
        elif GLOB_CHARS & set(path):
            matches = sorted(glob.glob(path, recursive=True))
            if not matches:
                raise InputError(f"{path}: no file matches", "check the pattern (quote it to let us expand it)")
            for match in matches:
                if os.path.isdir(match):
                    out.folders += 1
                    _walk(match, out)
                else:
                    out.captures.append(match)
        else:
            out.captures.append(path)  # the reader says what is wrong with it, in one line
    return out


def _walk(folder: str, out: Inputs) -> None:
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = os.path.join(root, name)
            (out.captures if looks_like_capture(path) else out.skipped).append(path)
