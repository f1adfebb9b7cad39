"""The manifest policy: a generated app asks for no more than (a) what the policy allows and (b) what
its code actually uses. What the model *claims* only decides required vs optional; it never adds a
scope. Network scopes must name one explicit hostname (no wildcards, no bare IPs-with-ports)."""

from __future__ import annotations

from dataclasses import dataclass, field

from llmos.kernel.caps.scopes import parse_scope
from llmos.kernel.codegen.manifest import Capability, Manifest, Usage
from llmos.kernel.gateway.errors import PolicyViolation


@dataclass
class Policy:
    allowed: list[str] = field(default_factory=lambda: ["ui:window", "storage:local", "timer", "notify"])

    def permits(self, scope: str) -> bool:
        """Well-formed (kernel.caps owns the syntax), not a wildcard, and inside the allowed set."""
        try:
            parse_scope(scope)
        except ValueError:
            return False
        kind, _, arg = scope.partition(":")
        if "*" in arg:
            return False
        if kind in ("network", "bus"):
            return f"{kind}:*" in self.allowed or scope in self.allowed
        return scope in self.allowed

    def settle(self, claimed: Manifest | None, usage: Usage) -> tuple[Manifest, list[str]]:
        """The manifest to show for approval, plus notes on what was dropped and why.

        Raises PolicyViolation when the code *needs* something the policy forbids or cannot be
        known before launch; the repair loop can then ask for different code."""
        problems = list(usage.unresolved)
        forbidden = sorted(s for s in usage.scopes if not self.permits(s))
        problems += [f"the code uses {scope}, which the policy does not allow" for scope in forbidden]
        if problems:
            raise PolicyViolation("; ".join(problems))
        declared = {c.scope: c for c in (claimed.capabilities if claimed else [])}
        notes = [f"dropped {scope}: the code never uses it"
                 for scope in declared if scope not in usage.scopes]
        caps = [Capability(scope, declared[scope].required if scope in declared else True)
                for scope in sorted(usage.scopes)]
        # ui:window is what makes it an app at all: always required.
        caps = [Capability(c.scope, True) if c.scope == "ui:window" else c for c in caps]
        return Manifest(caps), notes
