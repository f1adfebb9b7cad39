"""What this machine lets apps have, before any user is asked.

One policy, two moments. The gateway *settles* a generated app's manifest: it asks for no more than
what its code uses and `allowed` permits; what the model claims only decides optional vs required, it
never adds a scope. The flow then *checks* any manifest (generated, cached or a starter's) against the
machine's rules (config section [apps]: deny_capabilities, allow_network_wildcard, max_network_hosts)
and leaves out the optional asks those rules would refuse anyway.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from llmos.kernel.caps.manifest import Manifest, Request, Usage
from llmos.kernel.caps.scopes import parse_scope
from llmos.kernel.caps.table import every_scope, reserved, row_of
from llmos.settings import AppsSettings


class PolicyError(ValueError):
    """The code needs something the policy forbids, or something that cannot be known before launch."""


_APPS = AppsSettings()  # the [apps] defaults, declared in llmos/settings/sections.py


@dataclass(frozen=True)
class Policy:
    # What generated code may use at all; "network:*" / "bus:*" here mean "any literal host / channel".
    allowed: tuple[str, ...] = every_scope()
    deny: tuple[str, ...] = _APPS.deny_capabilities  # never granted, e.g. ("clipboard:read",)
    allow_network_wildcard: bool = _APPS.allow_network_wildcard  # may a manifest ask for network:*?
    max_network_hosts: int = _APPS.max_network_hosts

    def __post_init__(self) -> None:
        object.__setattr__(self, "allowed", tuple(self.allowed))
        object.__setattr__(self, "deny", tuple(self.deny))

    @classmethod
    def from_settings(cls, apps: AppsSettings, allowed: Iterable[str] | None = None) -> Policy:
        """From the [apps] settings; `allowed` from the gateway's allowed_capabilities."""
        return cls(
            allowed=tuple(allowed) if allowed is not None else every_scope(),
            deny=apps.deny_capabilities,
            allow_network_wildcard=apps.allow_network_wildcard,
            max_network_hosts=apps.max_network_hosts,
        )

    # -- the gateway: what generated code may be granted ----------------------------------------------
    def permits(self, scope: str) -> bool:
        """Well-formed (kernel.caps.scopes owns the syntax), not a wildcard, not reserved for the system
        (kernel.caps.table.reserved), and inside `allowed`."""
        try:
            parse_scope(scope)
        except ValueError:
            return False
        if reserved(scope) is not None:
            return False
        kind, _, arg = scope.partition(":")
        if "*" in arg:
            return False
        row = row_of(scope)
        if row is not None and row.argument is not None:
            return f"{kind}:*" in self.allowed or scope in self.allowed
        return scope in self.allowed

    def settle(self, claimed: Manifest | None, usage: Usage) -> tuple[Manifest, list[str]]:
        """The manifest to show for approval, plus notes on what was dropped and why.

        Raises PolicyError when the code *needs* something the policy forbids or that cannot be known
        before launch; the gateway refuses the generation with that message."""
        problems = list(usage.unresolved)
        forbidden = sorted(s for s in usage.scopes if not self.permits(s))
        problems += [f"the code uses {scope}, which can never be granted: {reserved(scope)}"
                     if reserved(scope) else f"the code uses {scope}, which the policy does not allow"
                     for scope in forbidden]
        if problems:
            raise PolicyError("; ".join(problems))
        declared = {r.scope: r for r in (claimed.requests if claimed else ())}
        notes = [f"dropped {scope}: the code never uses it"
                 for scope in declared if scope not in usage.scopes]
        requests = []
        for scope in sorted(usage.scopes):
            row = row_of(scope)
            may_be_optional = row is None or row.can_be_optional  # ui:window makes it an app at all
            claimed_optional = scope in declared and declared[scope].optional
            requests.append(Request(scope, may_be_optional and claimed_optional))
        return Manifest(tuple(requests)), notes

    # -- the flow: the machine's rules, before anyone is asked ---------------------------------------
    def check(self, manifest: Manifest) -> list[str]:
        """Problems with the manifest, in plain sentences; empty means acceptable. A denied optional
        capability is left out of the asks (offered) rather than refused here."""
        problems = []
        hosts = [s for s in manifest.scopes if s.startswith("network:")]
        for request in manifest.requests:
            why = reserved(request.scope)
            if why is not None and not request.optional:
                problems.append(f"{request.scope} can never be granted: {why}")
            elif request.scope in self.deny and not request.optional:
                problems.append(f"policy forbids {request.scope} ({request.words})")
            if request.scope == "network:*" and not self.allow_network_wildcard:
                problems.append("policy forbids talking to any website (network:*); name the hosts")
        if len(hosts) > self.max_network_hosts:
            problems.append(f"policy allows at most {self.max_network_hosts} network hosts, got {len(hosts)}")
        return problems

    def offered(self, manifest: Manifest) -> list[Request]:
        """The requests to put to the user: all but the optional ones this policy denies and those no
        app can ever have (check() refuses a manifest that requires one)."""
        return [r for r in manifest.requests
                if reserved(r.scope) is None and not (r.optional and r.scope in self.deny)]
