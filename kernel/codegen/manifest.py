"""The capability manifest that travels with generated code, and what the code actually uses.

A model *claims* capabilities; `used_capabilities()` reads the code with tree-sitter and finds the
ones it *needs* (SDK namespace members it touches, literal hosts passed to net.fetch, literal bus
channels). The gateway grants no more than the intersection, so neither a confused model nor an
injected prompt can widen what the approval dialog asks for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from tree_sitter import Node

from llmos.kernel.codegen.tsparse import parse

SDK_MODULE = "@llm-os/sdk"

# (namespace, member) -> scope; member "*" covers the whole namespace.
_SCOPES: dict[tuple[str, str], str] = {
    ("ui", "notify"): "notify",
    ("ui", "*"): "ui:window",
    ("storage", "*"): "storage:local",
    ("timer", "*"): "timer",
    ("clipboard", "read"): "clipboard:read",
    ("clipboard", "readText"): "clipboard:read",
    ("clipboard", "write"): "clipboard:write",
    ("clipboard", "writeText"): "clipboard:write",
}


@dataclass(frozen=True)
class Capability:
    scope: str
    required: bool = True


@dataclass
class Manifest:
    capabilities: list[Capability] = field(default_factory=list)

    def scopes(self) -> list[str]:
        return [cap.scope for cap in self.capabilities]

    def to_json(self) -> dict[str, Any]:
        return {"capabilities": [{"scope": c.scope, "required": c.required} for c in self.capabilities]}

    @classmethod
    def from_json(cls, data: Any) -> Manifest:
        """Tolerant reader for model output: accepts {"capabilities": [...]} or a bare list, entries
        as strings or {"scope", "required"}; anything else is ignored, never trusted."""
        entries = data.get("capabilities", []) if isinstance(data, dict) else data
        caps: dict[str, Capability] = {}
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, str):
                scope, required = entry, True
            elif isinstance(entry, dict) and isinstance(entry.get("scope"), str):
                scope, required = entry["scope"], entry.get("required", True) is not False
            else:
                continue
            scope = scope.strip()
            if scope and scope not in caps:
                caps[scope] = Capability(scope, required)
        return cls(list(caps.values()))


@dataclass
class Usage:
    """What the code needs: scopes, plus places where it needs something unknowable statically."""

    scopes: set[str] = field(default_factory=set)
    unresolved: list[str] = field(default_factory=list)  # located messages


def _text(node: Node) -> str:
    return node.text.decode("utf-8", "replace") if node.text else ""


def _sdk_bindings(root: Node) -> dict[str, str]:
    """local name -> SDK namespace, from `import { net as n } from '@llm-os/sdk'`."""
    names: dict[str, str] = {}
    for stmt in root.children:
        if stmt.type != "import_statement":
            continue
        source = stmt.child_by_field_name("source")
        if source is None or _text(source).strip("'\"") != SDK_MODULE:
            continue
        stack = list(stmt.children)
        while stack:
            node = stack.pop()
            if node.type == "import_specifier":
                name = node.child_by_field_name("name")
                alias = node.child_by_field_name("alias")
                if name is not None:
                    names[_text(alias if alias is not None else name)] = _text(name)
            stack.extend(node.children)
    return names


def _literal(node: Node | None) -> str | None:
    """The value of a string literal or a template without substitutions, else None."""
    if node is None:
        return None
    if node.type == "string":
        return "".join(_text(c) for c in node.children if c.type in ("string_fragment", "escape_sequence"))
    if node.type == "template_string" and not any(c.type == "template_substitution" for c in node.children):
        return _text(node)[1:-1]
    return None


def _first_argument(member: Node) -> Node | None:
    call = member.parent
    if call is None or call.type != "call_expression" or call.child_by_field_name("function") != member:
        return None
    args = call.child_by_field_name("arguments")
    named = [c for c in args.named_children] if args is not None else []
    return named[0] if named else None


def used_capabilities(code: str) -> Usage:
    root = parse(code).root_node
    bindings = _sdk_bindings(root)
    usage = Usage()
    stack = [root]
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        if node.type != "member_expression":
            continue
        obj = node.child_by_field_name("object")
        prop = node.child_by_field_name("property")
        if obj is None or prop is None or obj.type != "identifier" or _text(obj) not in bindings:
            continue
        namespace, member = bindings[_text(obj)], _text(prop)
        where = f"{node.start_point[0] + 1}:{node.start_point[1] + 1}"
        if namespace == "net":
            url = _literal(_first_argument(node))
            # host[:port], lower-cased, the same key kernel.analysis and kernel.caps use
            host = urlsplit(url).netloc.rpartition("@")[2].lower() if url and "://" in url else None
            if host:
                usage.scopes.add(f"network:{host}")
            else:
                usage.unresolved.append(f"{where}: net.{member} needs a literal https:// URL so its host "
                                        "is known before launch")
        elif namespace == "bus":
            channel = _literal(_first_argument(node))
            if channel:
                usage.scopes.add(f"bus:{channel}")
            else:
                usage.unresolved.append(f"{where}: bus.{member} needs a literal channel name")
        elif namespace == "caps":
            continue  # introspection only
        else:
            scope = _SCOPES.get((namespace, member)) or _SCOPES.get((namespace, "*"))
            if scope:
                usage.scopes.add(scope)
            else:
                usage.unresolved.append(f"{where}: {namespace}.{member} is not a known SDK call")
    return usage
