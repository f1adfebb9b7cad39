"""Waiting for a condition, the one way every test here waits: re-check it until it holds or time runs out.
Each check is a real observation (a socket round trip, a process poll, a file read), never a sleep standing
in for readiness."""

from __future__ import annotations

import select
import time
from collections.abc import Callable
from typing import IO, Any


def wait_for(condition: Callable[[], Any], timeout: float = 15.0, what: str | Callable[[], str] = "condition",
             interval: float = 0.02) -> Any:
    """Return the first truthy value of `condition()`; fail naming `what` and the last value seen."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            detail = what if isinstance(what, str) else what()
            raise AssertionError(f"timed out after {timeout} s waiting for {detail}; last value: {value!r}")
        time.sleep(interval)


def next_line(stream: IO[str], timeout: float) -> str:
    """The next line a child writes to `stream` (a pipe), skipping boot markers (the lines a service
    prints for PID 1 to echo on the console start with "!"); "" when none comes within `timeout`.
    What a compositor says first once it serves: "llmos: compositor output …"."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0 and select.select([stream], [], [], left)[0]:
        line = stream.readline()
        if not line.startswith("!"):
            return line
    return ""
