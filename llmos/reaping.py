"""Collecting exited children without blocking: PID 1's supervisor and the app-host zygote both
reap on SIGCHLD, and a signal can stand for several children."""

from __future__ import annotations

import os
from collections.abc import Iterator


def exited_children() -> Iterator[tuple[int, int]]:
    """(pid, exit code) of every child that has exited, until none is left waiting; a negative
    code is the signal that killed it."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        yield pid, os.waitstatus_to_exitcode(status)


__all__ = ["exited_children"]
