"""The kernel's event loop polls for a moment before it sleeps, while its events come close together.

An app's host function blocks for the kernel's answer (kernel/sandbox/syncrpc.py), and apps call the
kernel in runs: a loop over storage.get, a page of reads. Between two calls of a run the kernel's
loop is idle for about a tenth of a millisecond. Sleeping in epoll_wait for that long means the next
call has to wake the kernel's process, in a VM with an interrupt to the other vCPU, and that cost
about as much as all the rest of a call (docs/PERFORMANCE.md). So the selector polls for up to
`window` before it blocks, but only while the last idle gap was no longer than that: an idle kernel,
or one whose events come further apart, sleeps at once as before. A poll that finds nothing turns the
polling off, so events that keep coming just too late for it cost one `window` each, not every gap.
"""

from __future__ import annotations

import asyncio
import selectors
import time
from collections.abc import Callable

WINDOW_S = 0.0002  # how long to poll before sleeping; an idle gap at most this long keeps it on


class BusyPollSelector(selectors.EpollSelector):
    def __init__(self, window: float = WINDOW_S, clock: Callable[[], float] = time.perf_counter) -> None:
        super().__init__()
        self.window = window
        self.clock = clock
        self.polling = False  # whether the next wait polls first: the last idle gap was short

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is not None and timeout <= 0:
            return super().select(timeout)
        idle_from = self.clock()
        if self.polling:
            deadline = idle_from + self.window
            while not (ready := super().select(0)):
                if self.clock() >= deadline:
                    break
            else:
                return ready  # caught while polling: the events still come close together
            timeout = None if timeout is None else max(0.0, timeout - self.window)
        ready = super().select(timeout)
        self.polling = bool(ready) and self.clock() - idle_from <= self.window
        return ready


def event_loop() -> asyncio.AbstractEventLoop:
    """The kernel's loop (for asyncio.Runner's loop_factory)."""
    return asyncio.SelectorEventLoop(BusyPollSelector())
