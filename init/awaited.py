"""The service's side of `awaits` (init/services.py). PID 1 starts such a service at once, beside the
services it awaits, and passes it the read end of a pipe in $LLMOS_AWAIT_FD. Once every awaited service
has settled, PID 1 writes one line there: "ready", or "not ready: NAME STATE: REASON; ...". The service
does its slow, independent start first (imports, above all, under TCG) and reads the line only before
the step that needs what it awaited: the compositor, before it opens the display coldplug loads
drivers for."""

from __future__ import annotations

import asyncio
import os

from llmos.fdwait import readable

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
    value = await_pipe() if pipe is None else pipe
    if not value:
        return
    try:
        fd = int(value)
        os.set_blocking(fd, False)
    except (ValueError, OSError) as error:
        raise AwaitError(f"${FD_ENV}={value!r} is not an open descriptor ({error})") from None
    try:
        line = await asyncio.wait_for(_read_line(fd), timeout)
    except TimeoutError:
        raise AwaitError(f"no word from PID 1 on the awaited services after {timeout:g} s") from None
    finally:
        os.close(fd)
    if line != READY:
        raise AwaitError(line or "PID 1 closed the await pipe without an answer")


async def _read_line(fd: int) -> str:
    data = bytearray()
    while b"\n" not in data and len(data) < LINE_MAX:
        await readable(fd)
        try:
            chunk = os.read(fd, LINE_MAX)
        except BlockingIOError:
            continue
        if not chunk:
            break
        data += chunk
    return data.partition(b"\n")[0].decode("utf-8", "replace").strip()

