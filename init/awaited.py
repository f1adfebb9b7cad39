"""The service's side of `awaits` (init/services.py). PID 1 starts such a service at once, beside the
services it awaits, and passes it the read end of a pipe in $LLMOS_AWAIT_FD. Once every awaited service
has settled, PID 1 writes one line there: "ready", or "not ready: NAME STATE: REASON; ...". The service
does its slow, independent start first (imports, above all, under TCG) and reads the line only before
the step that needs what it awaited: the compositor, before it opens the display coldplug loads
drivers for."""

from __future__ import annotations

import os
import select
import time

FD_ENV = "LLMOS_AWAIT_FD"
READY = "ready"
LINE_MAX = 1024  # bytes PID 1 writes at most, newline included (under PIPE_BUF: one atomic write)


class AwaitError(Exception):
    """The awaited services did not all come up; the message says which and why."""


def await_pipe() -> str:
    """Take $LLMOS_AWAIT_FD out of the environment, for awaited() later: a service that starts
    processes before it awaits (the kernel's zygote) must not hand them a descriptor number they do
    not have."""
    return os.environ.pop(FD_ENV, "")


async def awaited(timeout: float, pipe: str | None = None) -> None:
    """Return once PID 1 says the awaited services are up. Raises AwaitError when one is not (failed,
    stopped, disabled), when PID 1 closed the pipe unsaid, or after `timeout` seconds. Outside PID 1
    (no $LLMOS_AWAIT_FD: a host test, a service started by hand) there is nothing to wait for.
    `pipe`: what await_pipe() took earlier."""
    import asyncio  # here: the compositor reads the pipe before it loads asyncio (awaited_blocking)

    from llmos.fdwait import readable

    fd = _open(await_pipe() if pipe is None else pipe)
    if fd is None:
        return
    line = _Line(fd)
    try:
        async with asyncio.timeout(timeout):
            while not line.read():
                await readable(fd)
    except TimeoutError:
        raise _silence(timeout) from None
    finally:
        os.close(fd)
    line.check()


def awaited_blocking(timeout: float) -> None:
    """awaited() for a process with no event loop yet: the compositor, which paints its first screen
    before it loads asyncio (compositor/first_screen.py)."""
    fd = _open(await_pipe())
    if fd is None:
        return
    line = _Line(fd)
    deadline = time.monotonic() + timeout
    try:
        while not line.read():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise _silence(timeout)
    finally:
        os.close(fd)
    line.check()


def _open(value: str) -> int | None:
    if not value:
        return None
    try:
        fd = int(value)
        os.set_blocking(fd, False)
    except (ValueError, OSError) as error:
        raise AwaitError(f"${FD_ENV}={value!r} is not an open descriptor ({error})") from None
    return fd


def _silence(timeout: float) -> AwaitError:
    return AwaitError(f"no word from PID 1 on the awaited services after {timeout:g} s")


class _Line:
    """The one line PID 1 writes, gathered from a non-blocking pipe as it arrives."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.data = bytearray()

    def read(self) -> bool:
        """Take what the pipe holds; True once the line is whole or the pipe has closed."""
        while b"\n" not in self.data and len(self.data) < LINE_MAX:
            try:
                chunk = os.read(self.fd, LINE_MAX)
            except BlockingIOError:
                return False
            if not chunk:
                break
            self.data += chunk
        return True

    def check(self) -> None:
        line = self.data.partition(b"\n")[0].decode("utf-8", "replace").strip()
        if line != READY:
            raise AwaitError(line or "PID 1 closed the await pipe without an answer")
