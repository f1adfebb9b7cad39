"""Scope syntax: whether a scope is well formed, how a granted scope covers a requested operation, and
how a declared scope covers one the code uses. Which scopes exist is kernel.caps.table's answer."""

from __future__ import annotations

from llmos.kernel.caps.table import TABLE, fixed_scopes, reserved

FIXED = fixed_scopes()
_PARAMETERISED = {row.kind: row for row in TABLE if row.argument is not None}


def parse_scope(scope: str) -> str:
    """Return the scope unchanged if it is well formed, else raise ValueError saying what is wrong."""
    if not isinstance(scope, str):
        raise ValueError(f"a scope is a string, got {type(scope).__name__}")
    if scope in FIXED:
        return scope
    kind, _, arg = scope.partition(":")
    row = _PARAMETERISED.get(kind)
    if row is None or row.argument is None:
        raise ValueError(f"unknown scope {scope!r}; known: {', '.join(sorted(r.pattern for r in TABLE))}")
    if not row.argument.syntax.match(arg):
        raise ValueError(f"scope {scope!r}: {row.pattern} needs {row.argument.rule}")
    return scope


def scope_allows(granted: frozenset[str], wanted: str) -> bool:
    """True if `wanted` (an operation such as network:api.example.com) is covered by `granted`. The
    network:* wildcard never covers a reserved host (this machine, its local network): only a grant
    naming that host exactly does, and the policy never asks for one."""
    if wanted in granted:
        return True
    return wanted.startswith("network:") and "network:*" in granted and reserved(wanted) is None


def covers(declared: str, used: str) -> bool:
    """Whether a declared scope allows one the code uses. A used 'network:*' / 'bus:*' means the code
    picks the host or channel at run time: any declared one of that kind satisfies the analysis, and
    the token enforces the exact one."""
    if declared == used:
        return True
    kind, _, arg = used.partition(":")
    dkind, _, darg = declared.partition(":")
    if kind in _PARAMETERISED and dkind == kind:
        return arg == "*" or darg == "*"
    return False
