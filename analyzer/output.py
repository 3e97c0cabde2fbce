"""Where output goes: stdout, or a file replaced only when the run finishes.

A file named with --output (or a golden that `check --update` rewrites) is written to a
temporary file beside it and renamed over it at the end, so a run that fails or is killed
half-way leaves the previous file as it was, never a torn one. Targets that are not regular
files (/dev/null, /dev/stdout, a FIFO) are written directly: they cannot be renamed over.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import BinaryIO

from analyzer.errors import AnalyzerError


def _cannot(path: Path | str, exc: OSError) -> AnalyzerError:
    return AnalyzerError(f"cannot write {path}: {exc.strerror or exc}", "check the path and its directory")


def _regular_or_new(path: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        return True
    except OSError:
        return False


def open_new_file(path: Path | str) -> BinaryIO:
    """A file opened for writing from scratch (live --write), or a one-line error."""
    try:
        return open(path, "wb")  # noqa: SIM115 - the caller closes it
    except OSError as exc:
        raise _cannot(path, exc) from None


class Output:
    """stdout (path None), or `path` written atomically; nothing is created until the first byte.
    Use as a context manager: the file is put in place when the block ends normally, and the
    temporary file removed when it raises."""

    def __init__(self, path: Path | str | None) -> None:
        self.path = None if path is None else str(path)
        self.fh: BinaryIO | None = None
        self.tmp: str | None = None

    @property
    def started(self) -> bool:
        """Has anything been written yet?"""
        return self.fh is not None

    def write(self, data: bytes) -> None:
        if not data:
            return
        fh = self.fh if self.fh is not None else self._open()
        try:
            fh.write(data)
            if self.path is None:
                fh.flush()  # stdout: whoever reads the pipe sees each piece
        except OSError as exc:
            if self.path is None:
                raise
            raise _cannot(self.path, exc) from None

    def _open(self) -> BinaryIO:
        if self.path is None:
            self.fh = sys.stdout.buffer
            return self.fh
        target = os.path.realpath(self.path)  # through a symlink: replace what it points at
        if not _regular_or_new(target):
            self.fh = open_new_file(target)
            return self.fh
        folder, name = os.path.split(target)
        tmp = os.path.join(folder, f".{name}.{os.getpid()}.tmp")
        try:  # mode 0666 less the umask, as a plain open() would create it
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        except OSError as exc:
            raise _cannot(self.path, exc) from None
        self.tmp, self.fh = tmp, os.fdopen(fd, "wb")
        try:
            os.chmod(tmp, stat.S_IMODE(os.stat(target).st_mode))  # an existing file keeps its mode
        except OSError:
            pass
        return self.fh

    def commit(self) -> None:
        """The output is complete: put the file in place."""
        fh, self.fh = self.fh, None
        if fh is None or self.path is None:
            return
        try:
            fh.close()
            if self.tmp is not None:
                os.replace(self.tmp, os.path.realpath(self.path))
                self.tmp = None
        except OSError as exc:
            self.discard()
            raise _cannot(self.path, exc) from None
        except BaseException:  # interrupted at the last moment: the old file stays, the temporary goes
            self.discard()
            raise

    def discard(self) -> None:
        """The run failed: drop what was written, leave any existing file untouched."""
        fh, self.fh = self.fh, None
        if fh is not None and self.path is not None:
            fh.close()
        if self.tmp is not None:
            try:
                os.unlink(self.tmp)
            except OSError:
                pass
            self.tmp = None

    def __enter__(self) -> Output:
        return self

    def __exit__(self, kind: object, value: object, tb: object) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()


def write_atomically(path: Path | str, data: bytes) -> None:
    """Replace `path` with `data` whole, or leave it as it was."""
    with Output(path) as out:
        out.write(data)
