"""Where PID 1's key lines go: the serial console and the kernel log (as PID 1), or stdout (tests).

Every write is non-blocking and a write that would block is dropped and counted: a slow 9600-baud
console or a reader that stopped reading must never stall supervision. Lines a service marks as
important are echoed through a per-service token bucket so a flood cannot drown the console.
"""

from __future__ import annotations

import contextlib
import os
import stat
import time

from llmos.ratelimit import TokenBucket


def boottime() -> float:
    """Seconds since boot, counting suspend: the clock of the boot markers."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def marker(text: str) -> str:
    return f"llmos: {text} t={boottime():.3f}"


def announced(text: str) -> str:
    """A boot marker as a service prints it on its stdout: PID 1 echoes lines that start with "!" to
    the console, where `llmos bench boot` and the VM tests read them."""
    return "!" + marker(text)


def _open_nonblocking(path: str) -> int | None:
    try:
        return os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return None


class Console:
    """Writes lines to the console sinks without ever blocking."""

    def __init__(self, pid1: bool) -> None:
        self.fds: list[int] = []
        self.kmsg: int | None = None
        self.dropped = 0
        self.buckets: dict[str, TokenBucket] = {}
        self.suppressed: dict[str, int] = {}
        if pid1:
            console = _open_nonblocking("/dev/console")
            if console is not None:
                self.fds.append(console)
            self.kmsg = _open_nonblocking("/dev/kmsg")
        if not self.fds or not self._same_as_console(1):
            self.fds.append(1)
            with contextlib.suppress(OSError):
                if not os.isatty(1):
                    os.set_blocking(1, False)

    def _same_as_console(self, fd: int) -> bool:
        try:
            mine, theirs = os.fstat(fd), os.fstat(self.fds[0])
        except OSError:
            return False
        return stat.S_ISCHR(mine.st_mode) and mine.st_rdev == theirs.st_rdev

    def write(self, text: str, kmsg: bool = True) -> None:
        data = (text + "\n").encode("utf-8", "replace")
        for fd in self.fds:
            self._write(fd, data)
        if kmsg and self.kmsg is not None:
            # One write is one kernel log record; <6> is KERN_INFO. The kernel caps records near 1 KiB.
            self._write(self.kmsg, b"<6>" + data[:900])

    def echo(self, service: str, text: str) -> None:
        """A line a service marked important: rate-limited per service."""
        bucket = self.buckets.setdefault(service, TokenBucket(capacity=50.0, per_second=20.0))
        if bucket.take(time.monotonic()) == 0:
            if self.suppressed.get(service):
                self.write(f"llmos: {service}: ({self.suppressed.pop(service)} console lines suppressed)")
            self.write(f"{service}: {text}")
        else:
            self.suppressed[service] = self.suppressed.get(service, 0) + 1

    def _write(self, fd: int, data: bytes) -> None:
        try:
            os.write(fd, data)
        except (BlockingIOError, InterruptedError):
            self.dropped += 1
        except OSError:
            self.dropped += 1
