"""Capability scopes as the analysis, the approval dialog and the registry see them.

A manifest lists what an app asks for; each entry may be optional (the app still works without it).
The gateway's output is normalised here so every later step handles one shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from llmos.kernel.caps.scopes import parse_scope


def is_scope(text: str) -> bool:
    """Scope syntax is owned by the capability authority (kernel.caps); analysis only asks it."""
    try:
        parse_scope(text)
    except ValueError:
        return False
    return True


def describe(scope: str) -> str:
    """The capability in plain words, for people who have never heard of a capability."""
    kind, _, arg = scope.partition(":")
    words = {
        "storage:local": "Keep its own data on this device",
        "ui:window": "Show a window on the screen",
        "notify": "Show notifications",
        "timer": "Run timers in the background",
        "clipboard:read": "Read what you copied to the clipboard",
        "clipboard:write": "Put text on the clipboard",
    }
    if scope in words:
        return words[scope]
    if kind == "network":
        return "Talk to any website on the internet" if arg == "*" else f"Talk to the website {arg}"
    if kind == "bus":
        if arg == "*":
            return "Exchange messages with any other app"
        return f"Exchange messages on channel {arg!r}"
    return f"Use {scope}"


def covers(declared: str, used: str) -> bool:
    """Whether a declared scope allows a used one. 'network:*' / 'bus:*' (used) means the code picks the
    host or channel at run time: any declared host satisfies the analysis, the token enforces it."""
    if declared == used:
        return True
    kind, _, arg = used.partition(":")
    dkind, _, darg = declared.partition(":")
    if kind in ("network", "bus") and dkind == kind:
        return arg == "*" or darg == "*"
    return False


@dataclass(frozen=True)
class Request:
    """One capability the app asks for."""

    scope: str
    optional: bool = False
    reason: str = ""

    @property
    def words(self) -> str:
        return describe(self.scope)


class ManifestError(ValueError):
    """The manifest cannot be understood; the message says where."""


@dataclass
class Manifest:
    requests: list[Request] = field(default_factory=list)

    @property
    def scopes(self) -> list[str]:
        return [request.scope for request in self.requests]

    @property
    def optional(self) -> list[str]:
        return [request.scope for request in self.requests if request.optional]

    def to_json(self) -> dict:
        return {"capabilities": [
            {"scope": r.scope, "optional": r.optional, **({"reason": r.reason} if r.reason else {})}
            for r in self.requests
        ]}

    @classmethod
    def parse(cls, value: Any) -> Manifest:
        """Accept a Manifest, a list of scopes, or {"capabilities": [scope | {scope|name, optional?,
        required?, reason?}], "optional": [scope]?}. Raises ManifestError with the failing entry's index."""
        if isinstance(value, Manifest):
            return value
        if value is None:
            return cls()
        optional_list: list[str] = []
        if isinstance(value, dict):
            optional_list = list(value.get("optional") or [])
            entries = value.get("capabilities", [])
        else:
            entries = value
        if not isinstance(entries, list):
            raise ManifestError("manifest: 'capabilities' must be a list")
        requests: dict[str, Request] = {}
        for index, entry in enumerate(entries):
            where = f"manifest.capabilities[{index}]"
            if isinstance(entry, str):
                scope, optional, reason = entry, False, ""
            elif isinstance(entry, dict):
                scope = entry.get("scope", entry.get("name"))
                # the codegen manifest says "required": false; hand-written ones may say "optional": true
                optional = bool(entry.get("optional", entry.get("required", True) is False))
                reason = str(entry.get("reason", ""))
            else:
                raise ManifestError(f"{where}: expected a string or an object")
            if not isinstance(scope, str) or not is_scope(scope):
                raise ManifestError(f"{where}: unknown capability {scope!r}")
            requests[scope] = Request(scope, optional or scope in optional_list, reason)
        return cls(list(requests.values()))


@dataclass
class Policy:
    """What this machine allows at all, before any user is asked (config section [apps])."""

    deny: tuple[str, ...] = ()  # scopes never granted, e.g. ("clipboard:read",)
    allow_network_wildcard: bool = False
    max_network_hosts: int = 4

    @classmethod
    def from_config(cls, section: dict[str, Any]) -> Policy:
        return cls(
            deny=tuple(section.get("deny_capabilities", ())),
            allow_network_wildcard=bool(section.get("allow_network_wildcard", False)),
            max_network_hosts=int(section.get("max_network_hosts", 4)),
        )

    def check(self, manifest: Manifest) -> list[str]:
        """Problems with the manifest, in plain sentences; empty means acceptable. A denied optional
        capability is dropped later rather than refused here."""
        problems = []
        hosts = [s for s in manifest.scopes if s.startswith("network:")]
        for request in manifest.requests:
            if request.scope in self.deny and not request.optional:
                problems.append(f"policy forbids {request.scope} ({request.words})")
            if request.scope == "network:*" and not self.allow_network_wildcard:
                problems.append("policy forbids talking to any website (network:*); name the hosts")
        if len(hosts) > self.max_network_hosts:
            problems.append(f"policy allows at most {self.max_network_hosts} network hosts, got {len(hosts)}")
        return problems
