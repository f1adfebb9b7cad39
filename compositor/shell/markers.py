"""Stdout markers ("llmos: shell …"): the serial console in the VM and the tests (tests/compositor/shell) wait
for these lines to know what the shell shows, so their wording is part of the interface
(docs/shell.md lists them)."""

from __future__ import annotations


def marker(what: str) -> None:
    print(f"llmos: shell {what}", flush=True)
