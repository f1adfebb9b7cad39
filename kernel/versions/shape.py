"""The shape of what an app stores: its keys, each key's type, and a version. Inferred from the code's
`storage.useLocal`/`storage.get`/`storage.set` calls (the one tree-sitter parse, kernel/analysis), or
declared as data: `{"version": 2, "keys": {"tasks": "list"}, "open": false}`.

Types are JSON's, as the runtime stores every value as JSON text: number, string, boolean, list,
object, or any (the code does not say). A shape is *open* when the code computes a key or lists its
keys: then keys the shape does not name may still be the app's, and a migration keeps them."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from tree_sitter import Node

from llmos.kernel.analysis.tsparse import parse, text
from llmos.kernel.analysis.usage import sdk_bindings, string_literal

TYPES = ("number", "string", "boolean", "list", "object", "any")
_LITERALS = {"number": "number", "string": "string", "template_string": "string", "true": "boolean",
             "false": "boolean", "array": "list", "object": "object"}
_KEYED = ("useLocal", "get", "set", "remove")


class ShapeError(ValueError):
    """A declared shape is malformed; the message names where."""


@dataclass(frozen=True)
class Shape:
    keys: dict[str, str] = field(default_factory=dict)  # key -> one of TYPES
    open: bool = False
    version: int | None = None  # declared; an inferred shape is named by its digest

    @property
    def id(self) -> str:
        """The declared version, else a digest of the keys and types: equal ids, no migration."""
        if self.version is not None:
            return f"v{self.version}"
        body = json.dumps([sorted(self.keys.items()), self.open], separators=(",", ":"))
        return hashlib.sha256(body.encode()).hexdigest()[:12]

    def to_json(self) -> dict[str, object]:
        return {"version": self.version, "keys": dict(sorted(self.keys.items())), "open": self.open}

    @classmethod
    def from_json(cls, data: object, where: str = "shape") -> Shape:
        if not isinstance(data, dict):
            raise ShapeError(f"{where}: expected an object with keys, open and version")
        unknown = sorted(set(data) - {"keys", "open", "version"})
        if unknown:
            raise ShapeError(f"{where}: unknown field {unknown[0]!r} (expected keys, open, version)")
        keys, is_open, version = data.get("keys", {}), data.get("open", False), data.get("version")
        if not isinstance(keys, dict):
            raise ShapeError(f"{where}.keys: expected an object of key -> type")
        for key, kind in keys.items():
            if kind not in TYPES:
                raise ShapeError(f"{where}.keys.{key}: {kind!r} is not a type ({', '.join(TYPES)})")
        if not isinstance(is_open, bool):
            raise ShapeError(f"{where}.open: expected true or false")
        if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
            raise ShapeError(f"{where}.version: expected a whole number")
        return cls(dict(keys), is_open, version)

    def expects(self, key: str) -> str | None:
        """The type the app reads `key` as; "any" for an unnamed key of an open shape; None: not its key."""
        return self.keys.get(key, "any" if self.open else None)


def value_type(value: object) -> str:
    """The type of a stored (decoded JSON) value; null fits any type."""
    if value is None:
        return "any"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "list" if isinstance(value, list) else "object"


def fits(value: object, kind: str) -> bool:
    found = value_type(value)
    return kind == "any" or found == "any" or found == kind


def _declared(call: Node) -> str | None:
    """The type of `useLocal<T>(…)`'s T, if it says one."""
    args = call.child_by_field_name("type_arguments")
    if args is None or not args.named_children:
        return None
    written = text(args.named_children[0]).strip()
    if written.endswith("[]") or written.startswith(("Array<", "ReadonlyArray<")):
        return "list"
    if written.startswith("{") or written.startswith("Record<"):
        return "object"
    return written if written in ("number", "string", "boolean") else None


def _literal_type(node: Node | None) -> str:
    return _LITERALS.get(node.type, "any") if node is not None else "any"


def infer(code: str) -> Shape:
    """The shape the code's storage calls say; keys the code computes make it open."""
    root = parse(code).root_node
    names = {local for local, namespace in sdk_bindings(root).items() if namespace == "storage"}
    keys: dict[str, str] = {}
    is_open = False
    stack = [root]
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        function = node.child_by_field_name("function") if node.type == "call_expression" else None
        if function is None or function.type != "member_expression":
            continue
        obj, prop = function.child_by_field_name("object"), function.child_by_field_name("property")
        if obj is None or prop is None or text(obj) not in names:
            continue
        member = text(prop)
        if member == "keys":
            is_open = True
        if member not in _KEYED:
            continue
        args = node.child_by_field_name("arguments")
        given = list(args.named_children) if args is not None else []
        key = string_literal(given[0]) if given else None
        if key is None:
            is_open = True
            continue
        kind = "any"
        if member == "useLocal":
            kind = _declared(node) or _literal_type(given[1] if len(given) > 1 else None)
        elif member == "set":
            kind = _literal_type(given[1] if len(given) > 1 else None)
        elif member == "get":
            kind = _declared(node) or _literal_type(given[1] if len(given) > 1 else None)
        keys[key] = _merge(keys.get(key), kind)
    return Shape(keys, is_open)


def _merge(known: str | None, kind: str) -> str:
    """One key read in several places: a call that says nothing ("any") defers to one that does;
    two that disagree make it "any"."""
    if known is None or known == "any":
        return kind
    return known if kind in ("any", known) else "any"
