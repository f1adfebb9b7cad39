"""The per-app CPU budget, measured by the app host on its own process CPU clock.

Why the process clock and not the guest's deadlines: deadlines bound one callback, but an app can
stay busy with many short ones (a 0 ms interval, a promise job per tick, a re-render it forces) and
with work no deadline sees (Cairo painting what it rendered). The process clock counts all of it,
plus the time the host waits on the kernel for the app's calls, which is CPU the kernel spends for
it. The figure is "CPU used in the last `window_s` seconds", from samples interpolated at the
window's start.

"Used" includes the time the host's thread stood runnable, waiting for a CPU (/proc schedstat), up
to `WAIT_PER_CPU` times the CPU it used in the same span: on a machine busy with other work a hot
app gets only part of a core, and would otherwise never reach its budget. The cap keeps an app that
does little from being charged the machine's queue: at a load of 12 on 2 cores a Pomodoro that used
20 ms of CPU in a second waited 800 ms for it, and was stopped before the cap. A busy loop is still
caught as soon as it gets an eighth of a core (1 + WAIT_PER_CPU times that reaches a 500 ms limit).

The start allowance is an amount of CPU, not a time: the first `allowance_ms` an app uses after it is
ready (fonts, the first buffers, a full-screen first paint: 0.8-1 s under QEMU's TCG) never put it over
budget. An app that keeps burning spends it in that many ms and is then held to the per-second limit,
so it is stopped about allowance + 0.5 s after it starts, on any machine whose speed factor scaled
both (speed.py).
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

WAIT_PER_CPU = 2.0  # run-queue waiting counted per second of CPU used in the same span, at most


class DemandClock:
    """Seconds of CPU this process used (all threads) plus the seconds the thread that made this
    clock waited on a run queue, the waiting capped per span between readings (module docstring);
    just the CPU where the kernel keeps no schedstat."""

    def __init__(self) -> None:
        self._cpu = time.process_time()
        self._demand = self._cpu
        try:
            self._fd: int | None = os.open(f"/proc/self/task/{threading.get_native_id()}/schedstat",
                                           os.O_RDONLY | os.O_CLOEXEC)
            self._wait = self._waited()
        except (OSError, ValueError, IndexError):
            self._fd = None
            self._wait = 0.0

    def _waited(self) -> float:
        assert self._fd is not None
        return int(os.pread(self._fd, 128, 0).split()[1]) / 1e9  # run time, run-queue wait, slices

    def __call__(self) -> float:
        cpu = time.process_time()
        wait = self._waited() if self._fd is not None else self._wait
        used, waited = max(0.0, cpu - self._cpu), max(0.0, wait - self._wait)
        self._cpu, self._wait = cpu, wait
        self._demand += used + min(waited, WAIT_PER_CPU * used)
        return self._demand


@dataclass
class CpuBudget:
    limit_ms: float
    window_s: float = 1.0
    clock: Callable[[], float] = field(default_factory=DemandClock)
    resolution_s: float = 0.02                       # samples closer together than this are merged
    charged: float = 0.0                             # seconds spent waiting on the kernel for the app
    allowance_ms: float = 0.0                        # CPU after reset() that is never over budget
    _samples: deque[tuple[float, float]] = field(default_factory=deque)
    _start: float = 0.0                              # the clock (plus charges) at reset()

    def charge(self, seconds: float) -> None:
        self.charged += max(0.0, seconds)

    def reset(self, now: float) -> None:
        """Start counting afresh (after the load, which has its own deadline)."""
        self._samples.clear()
        self._start = self.clock() + self.charged
        self._samples.append((now, self._start))

    def total_ms(self) -> float:
        """CPU used since reset()."""
        return max(0.0, (self.clock() + self.charged - self._start) * 1000.0)

    def used_ms(self, now: float) -> float:
        """CPU used in the window ending `now` (monotonic seconds)."""
        value = self.clock() + self.charged
        samples = self._samples
        if not samples or now - samples[-1][0] >= self.resolution_s:
            samples.append((now, value))
        start = now - self.window_s
        while len(samples) > 1 and samples[1][0] <= start:
            samples.popleft()
        first_time, first_value = samples[0]
        if first_time < start and len(samples) > 1:  # interpolate the value at the window's start
            next_time, next_value = samples[1]
            first_value += (next_value - first_value) * (start - first_time) / (next_time - first_time)
        return max(0.0, (value - first_value) * 1000.0)

    def over(self, now: float) -> str | None:
        """The fault message when the app is over budget, else None."""
        used = self.used_ms(now)
        if used <= self.limit_ms or self.total_ms() <= self.allowance_ms:
            return None
        window = "second" if self.window_s == 1.0 else f"{self.window_s:g} s"
        return f"used {math.ceil(used)} ms of CPU in the last {window}, limit {self.limit_ms:.0f}"
