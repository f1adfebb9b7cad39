"""The UI tree (docs/ui-tree.md) parsed into Node objects, with errors that say where.

Apps are generated code, so a malformed tree is expected input: every problem raises MalformedTree
naming the node path (e.g. `Window > Column[1] > Slider[2]: props.max ...`) instead of failing
somewhere inside layout or Cairo.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, TypedDict

from llmos.sdk.render.color import parse_color

WIDGETS = frozenset({
    "Window", "Text", "Button", "Slider", "TextInput", "Checkbox", "List", "Canvas", "Row", "Column",
})
CONTAINERS = frozenset({"Window", "Row", "Column", "List"})
TEXT_SIZES = ("sm", "md", "lg", "xl")
ALIGNS = ("start", "center", "end", "stretch")
HANDLER_PROPS = {
    "Button": ("onClick",), "Slider": ("onChange",), "TextInput": ("onChange", "onSubmit"),
    "Checkbox": ("onChange",), "List": ("onSelect",), "Canvas": ("onPointer",),
}
# Canvas command name -> argument kinds: n number, s string, c colour, b bool; "?" marks optional tail
CANVAS_COMMANDS: dict[str, str] = {
    "fillRect": "nnnnc", "strokeRect": "nnnnc?n", "line": "nnnnc?n", "circle": "nnnc?b",
    "text": "nnsc?n", "clear": "c",
}
MAX_DEPTH = 64
MAX_NODES = 20_000


class MalformedTree(ValueError):
    """A malformed UI tree; the message starts with the node path."""


class LayoutExtras(TypedDict, total=False):
    """What layout and painting leave on a node for the passes after them."""

    natural: tuple[float, float]  # measured size
    wrap: float | None  # the width a Text wraps at; None when it fits on one line
    content_h: float  # a List's whole content height
    shown_value: float  # the Slider value last painted


@dataclass(eq=False)
class Node:
    """One widget. `key` is its identity across renders (interaction state hangs off it);
    `x, y, w, h` are filled by layout, in logical pixels, relative to the window surface
    (inside a List: relative to the unscrolled list content)."""

    type: str
    props: dict[str, Any]
    children: list[Node]
    key: str
    where: str
    text: str = ""
    index: int = -1  # row number for List rows
    x: float = 0.0
    y: float = 0.0
    w: float = 0.0
    h: float = 0.0
    extra: LayoutExtras = field(default_factory=LayoutExtras)

    def handler(self, name: str) -> int | None:
        value = self.props.get(name)
        return value["$handler"] if isinstance(value, dict) else None

    def contains(self, px: float, py: float) -> bool:
        return self.x <= px < self.x + self.w and self.y <= py < self.y + self.h

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            yield from child.walk()


def _number(where: str, name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MalformedTree(f"{where}: {name} must be a finite number, got {value!r}")
    return float(value)


def _check_props(node_type: str, props: dict[str, Any], where: str) -> None:
    for name, value in props.items():
        if isinstance(value, dict) and "$handler" in value:
            handler = value["$handler"]
            if isinstance(handler, bool) or not isinstance(handler, int):
                raise MalformedTree(f"{where}: props.{name} must be {{\"$handler\": N}} with integer N")
        elif name in HANDLER_PROPS.get(node_type, ()) and value is not None:
            raise MalformedTree(f"{where}: props.{name} must be a handler, got {value!r}")
    for name in ("padding", "gap", "width", "height"):
        if props.get(name) is not None:
            size = _number(where, f"props.{name}", props[name])
            if size < 0 or size > 16384:
                raise MalformedTree(f"{where}: props.{name} must be between 0 and 16384, got {size:g}")
    align = props.get("align")
    if align is not None and align not in ALIGNS:
        raise MalformedTree(f"{where}: props.align must be one of {', '.join(ALIGNS)}, got {align!r}")
    if node_type == "Text" and props.get("size") not in (None, *TEXT_SIZES):
        raise MalformedTree(f"{where}: props.size must be one of {', '.join(TEXT_SIZES)}")
    if props.get("color") is not None:
        try:
            parse_color(props["color"])
        except ValueError as error:
            raise MalformedTree(f"{where}: props.color: {error}") from None
    if node_type == "Slider":
        low = _number(where, "props.min", props.get("min", 0))
        high = _number(where, "props.max", props.get("max", 100))
        if high <= low:
            raise MalformedTree(f"{where}: props.max ({high:g}) must be greater than props.min ({low:g})")
        _number(where, "props.value", props.get("value", low))
        if props.get("step") is not None and _number(where, "props.step", props["step"]) <= 0:
            raise MalformedTree(f"{where}: props.step must be positive")
    if node_type == "List" and props.get("items") is not None:
        items = props["items"]
        if not isinstance(items, list) or not all(isinstance(i, str | int | float) for i in items):
            raise MalformedTree(f"{where}: props.items must be a list of strings")
    if node_type == "Canvas":
        _number(where, "props.width", props.get("width", 0))
        _number(where, "props.height", props.get("height", 0))
        _check_canvas(props.get("commands", []), where)


def _check_canvas(commands: object, where: str) -> None:
    if not isinstance(commands, list):
        raise MalformedTree(f"{where}: props.commands must be a list")
    for i, command in enumerate(commands):
        spot = f"{where}: props.commands[{i}]"
        if not isinstance(command, list) or not command or command[0] not in CANVAS_COMMANDS:
            raise MalformedTree(f"{spot}: must be [name, ...] with name one of {', '.join(CANVAS_COMMANDS)}")
        kinds = CANVAS_COMMANDS[command[0]]
        required = kinds.split("?")[0]
        args = command[1:]
        if not len(required) <= len(args) <= len(kinds.replace("?", "")):
            raise MalformedTree(f"{spot}: {command[0]} takes {len(required)} to "
                            f"{len(kinds.replace('?', ''))} arguments, got {len(args)}")
        for kind, arg in zip(kinds.replace("?", ""), args, strict=False):
            ok = {"n": lambda a: isinstance(a, int | float) and not isinstance(a, bool)
                  and math.isfinite(a),
                  "s": lambda a: isinstance(a, str | int | float),
                  "b": lambda a: isinstance(a, bool)}.get(kind)
            if kind == "c":
                try:
                    parse_color(arg)
                except ValueError as error:
                    raise MalformedTree(f"{spot}: {error}") from None
            elif ok is not None and not ok(arg):
                raise MalformedTree(f"{spot}: bad argument {arg!r} for {command[0]}")


def _label(value: object) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return f"{value:g}" if isinstance(value, float) else str(value)
    return value if isinstance(value, str) else None


class _Parser:
    def __init__(self) -> None:
        self.count = 0

    def node(self, raw: object, parent_key: str, index: int, where: str, depth: int) -> Node:
        self.count += 1
        if self.count > MAX_NODES:
            raise MalformedTree(f"{where}: tree has more than {MAX_NODES} nodes")
        if depth > MAX_DEPTH:
            raise MalformedTree(f"{where}: tree is deeper than {MAX_DEPTH}")
        if not isinstance(raw, dict):
            raise MalformedTree(f"{where}: expected a node object, got {type(raw).__name__}")
        node_type = raw.get("type")
        if node_type not in WIDGETS:
            raise MalformedTree(f"{where}: unknown widget type {node_type!r}")
        where = f"{where}({node_type})" if where.endswith("]") else where
        props = raw.get("props") or {}
        if not isinstance(props, dict):
            raise MalformedTree(f"{where}: props must be an object")
        raw_children = raw.get("children") or []
        if not isinstance(raw_children, list):
            raw_children = [raw_children]
        _check_props(node_type, props, where)
        user_key = props.get("key")
        key = (f"{parent_key}/#{user_key}" if isinstance(user_key, str | int) and user_key != ""
               else f"{parent_key}/{index}:{node_type}")
        node = Node(node_type, props, [], key, where)
        texts: list[str] = []
        for i, child in enumerate(c for c in raw_children if c is not None and c is not False):
            child_where = f"{where} > [{i}]"
            label = _label(child)
            if label is not None:
                if node_type in CONTAINERS:
                    node.children.append(Node("Text", {}, [], f"{key}/{i}:Text", child_where, text=label))
                else:
                    texts.append(label)
                continue
            if isinstance(child, dict) and node_type in CONTAINERS:
                node.children.append(self.node(child, key, i, child_where, depth + 1))
            elif isinstance(child, dict):
                raise MalformedTree(f"{child_where}: {node_type} cannot contain widgets, only text")
            else:
                raise MalformedTree(f"{child_where}: unsupported child {child!r}")
        node.text = "".join(texts)
        if node_type == "List":
            rows = [Node("_Item", {}, [], f"{key}/item{n}", f"{where}: props.items[{n}]",
                         text=_label(item) or "") for n, item in enumerate(props.get("items") or [])]
            node.children[:0] = rows
            for n, row in enumerate(node.children):
                row.index = n
        if node_type == "Checkbox" and not node.text:
            node.text = _label(props.get("label")) or ""
        if node_type == "Window" and depth > 0:
            raise MalformedTree(f"{where}: Window is only allowed as the root")
        return node


def parse_tree(raw: object) -> Node:
    """Parse the JSON tree (already decoded); the root is wrapped in a Window if it is not one."""
    if isinstance(raw, dict) and raw.get("type") != "Window":
        raw = {"type": "Window", "props": {}, "children": [raw]}
    return _Parser().node(raw, "", 0, "Window", 0)
