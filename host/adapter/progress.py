"""Training progress on the console: step, loss, elapsed and ETA.

llmos.progress.ConsoleProgress speaks bytes and MB/s, which a training step is not; this follows
its manners: on a terminal one line rewritten in place (at most five times a second), on a pipe or
log a line every 5 % of the steps, so logs stay short.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from llmos.host.adapter.train import StepReport


def clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class StepProgress:
    """Callable as progress(report); shows a running mean of the last 20 losses beside the step's."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.shown = -1.0
        self.recent: list[float] = []

    def __call__(self, report: StepReport) -> None:
        self.recent = [*self.recent[-19:], report.loss]
        finished = report.step >= report.total
        now = time.monotonic()
        every = max(1, report.total // 20)
        if not finished and report.step > 1:
            if self.tty and now - self.shown < 0.2:
                return
            if not self.tty and report.step % every:
                return
        self.shown = now
        mean = sum(self.recent) / len(self.recent)
        line = (f"step {report.step}/{report.total}  loss {report.loss:.3f} (last {len(self.recent)}: "
                f"{mean:.3f})  {report.elapsed / report.step:.1f} s/step  elapsed {clock(report.elapsed)}  "
                f"eta {clock(report.eta)}")
        if self.tty:
            self.stream.write(f"\r\x1b[K{line}" + ("\n" if finished else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
