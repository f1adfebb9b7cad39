"""Bounded per-service log memory.

PID 1 must survive a service that prints without end, so everything here is capped: a line is cut at
`max_line` characters, the ring keeps the newest `max_lines` lines (older ones fall out), and a partial
line that never sees its newline is flushed once it reaches the cap.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_LINE = 1024
MAX_LINES = 2000


@dataclass(frozen=True)
class LogLine:
    at: float  # wall clock, seconds since the epoch
    text: str


Listener = Callable[[LogLine], None]


@dataclass
class LogRing:
    """The newest lines of one service, plus listeners that see each line as it arrives."""

    max_lines: int = MAX_LINES
    max_line: int = MAX_LINE
    lines: deque[LogLine] = field(init=False)
    dropped: int = 0  # lines that fell out of the ring
    listeners: set[Listener] = field(default_factory=set)
    _partial: bytearray = field(default_factory=bytearray)

    def __post_init__(self) -> None:
        self.lines = deque(maxlen=self.max_lines)

    def append(self, text: str) -> LogLine:
        if len(text) > self.max_line:
            text = text[: self.max_line - 1] + "…"
        if len(self.lines) == self.max_lines:
            self.dropped += 1
        line = LogLine(time.time(), text)
        self.lines.append(line)
        for listener in list(self.listeners):
            listener(line)
        return line

    def feed(self, data: bytes) -> list[LogLine]:
        """Add raw output; returns the complete lines it produced (for console echo)."""
        self._partial += data
        out: list[LogLine] = []
        while True:
            end = self._partial.find(b"\n")
            if end < 0:
                if len(self._partial) >= self.max_line * 4:  # a "line" that never ends
                    end = len(self._partial)
                else:
                    break
            raw = bytes(self._partial[:end])
            del self._partial[: end + 1]
            out.append(self.append(raw.decode("utf-8", "replace").rstrip("\r")))
        return out

    def flush(self) -> list[LogLine]:
        """Emit a trailing partial line (when the writer closed its end)."""
        if not self._partial:
            return []
        return self.feed(b"\n")

    def tail(self, count: int) -> list[LogLine]:
        if count <= 0:
            return []
        count = min(count, len(self.lines))
        return list(self.lines)[-count:]
