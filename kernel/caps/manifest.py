"""The capability manifest: what an app asks for, each request required or optional. And Usage: what
its code needs, as read from the code. The gateway, the analysis, the flow and the approval dialog all
handle this one shape.

The JSON form is {"capabilities": [{"scope", "optional", "reason"?}]}. Readers also accept the older
{"scope", "required"} entries (earlier gateways wrote them, and models still do), bare scope strings,
and a top-level "optional": [scope] list, so stored records and model output keep loading.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from llmos.kernel.caps.scopes import covers, parse_scope
from llmos.kernel.caps.table import describe


def is_scope(text: str) -> bool:
    try:
        parse_scope(text)
    except ValueError:
        return False
    return True


class ManifestError(ValueError):
    """The manifest cannot be understood; the message says where."""


@dataclass(frozen=True)
class Request:
    """One capability the app asks for."""

    scope: str
    optional: bool = False
    reason: str = ""

    @property
    def words(self) -> str:
        return describe(self.scope)


def _optional(entry: Mapping[str, object]) -> bool:
    """"optional": true, or the older spelling "required": false."""
    return bool(entry.get("optional", entry.get("required", True) is False))


@dataclass(frozen=True)
class Manifest:
    requests: tuple[Request, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "requests", tuple(self.requests))

    @property
    def scopes(self) -> list[str]:
        return [request.scope for request in self.requests]

    @property
    def optional(self) -> list[str]:
        return [request.scope for request in self.requests if request.optional]

    def covers(self, used: str) -> bool:
        """Whether some declared scope allows `used` (see kernel.caps.scopes.covers)."""
        return any(covers(declared, used) for declared in self.scopes)

    def to_json(self) -> dict[str, object]:
        return {"capabilities": [
            {"scope": r.scope, "optional": r.optional, **({"reason": r.reason} if r.reason else {})}
            for r in self.requests
        ]}

    @classmethod
    def parse(cls, value: object) -> Manifest:
        """Strict reader for manifests the kernel handles (the gateway's, a starter's, a stored app's):
        a Manifest, a list of scopes, or {"capabilities": [scope | {scope|name, optional?, required?,
        reason?}], "optional": [scope]?}. Raises ManifestError naming the failing entry's index."""
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
            scope: object
            if isinstance(entry, str):
                scope, optional, reason = entry, False, ""
            elif isinstance(entry, dict):
                scope = entry.get("scope", entry.get("name"))
                optional = _optional(entry)
                reason = str(entry.get("reason", ""))
            else:
                raise ManifestError(f"{where}: expected a string or an object")
            if not isinstance(scope, str) or not is_scope(scope):
                raise ManifestError(f"{where}: unknown capability {scope!r}")
            requests[scope] = Request(scope, optional or scope in optional_list, reason)
        return cls(tuple(requests.values()))

    @classmethod
    def from_model(cls, data: object) -> Manifest:
        """Tolerant reader for what a model claims: {"capabilities": [...]} or a bare list, entries as
        strings or {"scope", "optional" | "required"}. Anything else is ignored, never trusted; the
        policy later keeps only what the code uses."""
        entries = data.get("capabilities", []) if isinstance(data, dict) else data
        requests: dict[str, Request] = {}
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, str):
                scope, optional = entry, False
            elif isinstance(entry, dict) and isinstance(entry.get("scope"), str):
                scope, optional = entry["scope"], _optional(entry)
            else:
                continue
            scope = scope.strip()
            if scope and scope not in requests:
                requests[scope] = Request(scope, optional)
        return cls(tuple(requests.values()))


@dataclass
class Usage:
    """What code needs, read from the code: scopes, plus located messages for each place where what it
    needs cannot be known before launch (a computed URL or channel, a call the SDK does not have)."""

    scopes: set[str] = field(default_factory=set)
    unresolved: list[str] = field(default_factory=list)
