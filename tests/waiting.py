"""Waiting for a condition, the one way every test here waits: re-check it until it holds or time runs out.
Each check is a real observation (a socket round trip, a process poll, a file read), never a sleep standing
in for readiness."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


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
