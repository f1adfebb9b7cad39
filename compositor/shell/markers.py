"""Stdout markers ("llmos: shell …"): the serial console in the VM and the tests (tests/compositor/shell) wait
for these lines to know what the shell shows, so their wording is part of the interface
(docs/shell.md lists them)."""

from __future__ import annotations

from llmos.init.console import announced

_announced: set[str] = set()


def marker(what: str) -> None:
    print(f"llmos: shell {what}", flush=True)


def boot_marker(what: str) -> None:
    """The first time only: a boot phase on the serial console (the leading "!" asks PID 1 to echo the
    line there), stamped with CLOCK_BOOTTIME like PID 1's own markers, for `llmos bench boot`."""
    if what not in _announced:
        _announced.add(what)
        print(announced(what), flush=True)
