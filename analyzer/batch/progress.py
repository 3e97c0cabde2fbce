"""How far a batch is, on stderr: a bar redrawn in place on a terminal, one summary line otherwise."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

REDRAW_EVERY = 0.2  # seconds


def duration(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m"


@dataclass(slots=True)
class Tally:
    total: int  # captures in this run, including those already done
    done: int = 0  # analysed now
    skipped: int = 0  # already done before (same path, size and time, or same content)
    errors: int = 0
    connections: int = 0
    frames: int = 0

    @property
    def finished(self) -> int:
        return self.done + self.skipped + self.errors


def bar(t: Tally, elapsed: float, width: int = 24) -> str:
    """`[#####-----] 120/1000 captures, 35,210 connections, 4.2 captures/s, ETA 3m30s`"""
    filled = width * t.finished // t.total if t.total else width
    rate = t.done / elapsed if elapsed > 0 else 0.0
    remaining = t.total - t.finished
    eta = duration(remaining / rate) if rate > 0 else "?"
    return (f"[{'#' * filled}{'-' * (width - filled)}] {t.finished}/{t.total} captures, "
            f"{t.connections:,} connections, {rate:.1f} captures/s, ETA {eta}")


def summary(t: Tally, elapsed: float, out: str) -> str:
    per = max(elapsed, 1e-9)
    return (f"{t.total} captures ({t.done} analysed, {t.skipped} already done, {t.errors} errors), "
            f"{t.connections:,} connections, {t.frames:,} packets in {elapsed:.1f}s "
            f"({t.done / per:.1f} captures/s, {t.frames / per:,.0f} packets/s) -> {out}")


@dataclass(slots=True)
class Progress:
    tally: Tally
    stream: TextIO
    tty: bool
    clock: Callable[[], float] = time.monotonic
    started: float = field(default=0.0)
    drawn: float = field(default=-1e9)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def elapsed(self) -> float:
        return self.clock() - self.started

    def draw(self, force: bool = False) -> None:
        now = self.clock()
        if self.tty and (force or now - self.drawn >= REDRAW_EVERY):
            self.drawn = now
            self.stream.write("\r\x1b[2K" + bar(self.tally, now - self.started))
            self.stream.flush()

    def say(self, line: str) -> None:
        """A line of its own (an error), above the bar."""
        self.stream.write(("\r\x1b[2K" if self.tty else "") + line + "\n")
        self.draw(force=True)

    def finish(self, out: str) -> None:
        self.stream.write(("\r\x1b[2K" if self.tty else "") + summary(self.tally, self.elapsed(), out) + "\n")
        self.stream.flush()
