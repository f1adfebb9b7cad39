"""The app host's own hard watchdog: ends the process when its event loop has not come back for
longer than it may.

Why a thread: the guest's deadline is only seen where QuickJS polls for interrupts, and some native
built-ins never poll (`a.length = 4294967295; a.lastIndexOf(1)` runs for minutes). While the main
thread is inside wasm, wasmtime's ctypes calls have released the GIL, so this thread still runs. It
is the one thread in the host; it only reads a deadline, and writes one status line before _exit.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

log = logging.getLogger("llmos.sandbox.stall")


class StallWatchdog:
    """`arm(seconds, what)` before a piece of work, `arm(...)` again or `disarm()` after it. If an
    armed deadline passes, `on_stall(message)` runs on the watchdog thread, then the process exits
    with `exit_code`: the main thread is stuck, so nothing else can report it."""

    POLL_S = 0.05

    def __init__(self, on_stall: Callable[[str], None], exit_code: int) -> None:
        self.on_stall = on_stall
        self.exit_code = exit_code
        self._deadline: float | None = None
        self._what = ""
        self._seconds = 0.0
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="stall-watchdog", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def arm(self, seconds: float, what: str) -> None:
        # one tuple of plain attribute writes: the reader sees an old or a new deadline, either is fine
        self._what, self._seconds = what, seconds
        self._deadline = time.monotonic() + seconds

    def disarm(self) -> None:
        self._deadline = None

    def stop(self) -> None:
        self._stopped.set()

    def _watch(self) -> None:
        while not self._stopped.wait(self.POLL_S):
            deadline = self._deadline
            if deadline is None or time.monotonic() < deadline:
                continue
            message = f"{self._what} did not return within {self._seconds:.3g} s; the app host ended itself"
            try:
                self.on_stall(message)
            except Exception as error:  # the exit below must happen whatever reporting did
                log.error("stall report failed: %r", error)
            os._exit(self.exit_code)
