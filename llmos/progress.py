"""Progress on long byte work (flashing, writing an update slot, hashing a bundle): one rewritten line
on a terminal; on a pipe or log, a line every 10 % so logs stay short."""

from __future__ import annotations

import sys
import time
from typing import TextIO

MIN_RATE_S = 0.1  # a rate over less time says nothing (an 11 MiB file hashed at "11602673 MB/s")


def mib(n: float) -> str:
    return f"{n / (1 << 20):,.1f} MiB"


class ConsoleProgress:
    """Callable as progress(stage, done_bytes, total_bytes)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.stage = ""
        self.started = 0.0
        self.shown = -100.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if stage != self.stage:
            self.stage, self.started, self.shown = stage, now, -100.0
        percent = 100.0 * done / total if total else 100.0
        finished = done >= total
        if self.tty and not finished and now - self.shown < 0.2:
            return
        if not self.tty and not finished and percent < self.shown + 10:
            return
        self.shown = now if self.tty else percent
        elapsed = now - self.started
        rate = f"  {done / elapsed / 1e6:6.1f} MB/s" if elapsed >= MIN_RATE_S else ""  # else noise
        line = f"{stage}: {mib(done)} / {mib(total)}  {percent:5.1f}%{rate}"
        if self.tty:
            self.stream.write(f"\r\x1b[K{line}" + ("\n" if finished else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


__all__ = ["ConsoleProgress", "mib"]
