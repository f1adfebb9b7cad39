"""The capability scopes an app can hold, and how a requested operation matches a granted scope."""

from __future__ import annotations

import re

# Plain words, shown in the approval dialog and in error messages.
SCOPE_HELP: dict[str, str] = {
    "storage:local": "keep its own data on this machine",
    "ui:window": "open a window",
    "clipboard:read": "read the clipboard",
    "clipboard:write": "write to the clipboard",
    "notify": "show notifications",
    "timer": "run timers",
    "network:HOST": "talk to HOST over the network",
    "bus:CHANNEL": "send and receive messages on channel CHANNEL",
}

FIXED = frozenset({"storage:local", "ui:window", "clipboard:read", "clipboard:write", "notify", "timer"})
_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_HOST = re.compile(rf"^(\*|{_LABEL}(\.{_LABEL})*(:[0-9]{{1,5}})?)$")
_CHANNEL = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def parse_scope(scope: str) -> str:
    """Return the scope unchanged if it is well formed, else raise ValueError saying what is wrong."""
    if not isinstance(scope, str):
        raise ValueError(f"a scope is a string, got {type(scope).__name__}")
    if scope in FIXED:
        return scope
    kind, _, arg = scope.partition(":")
    if kind == "network":
        if not _HOST.match(arg):
            raise ValueError(f"scope {scope!r}: network:HOST needs a lower-case host name (or *)")
        return scope
    if kind == "bus":
        if not _CHANNEL.match(arg):
            raise ValueError(f"scope {scope!r}: bus:CHANNEL needs a channel of [a-z0-9._-], max 64")
        return scope
    raise ValueError(f"unknown scope {scope!r}; known: {', '.join(sorted(SCOPE_HELP))}")


def scope_allows(granted: frozenset[str], wanted: str) -> bool:
    """True if `wanted` (an operation such as network:api.example.com) is covered by `granted`."""
    if wanted in granted:
        return True
    return wanted.startswith("network:") and "network:*" in granted
