"""Static values of string expressions: what an expression always evaluates to, when that is known
without running it.

The rules use this to see a key assembled from pieces as the name it spells: `'constr' + 'uctor'`,
`` `con${'struc'}tor` ``, `'rotcurtsnoc'.split('').reverse().join('')`, `['constr', 'uctor'].join('')`,
`String.raw`, `String.fromCharCode(99, …)`, and `const` names bound to any of those. Only pure string
and array operations on values that are themselves known are evaluated; anything else is unknown, and
the rules treat unknown keys as run-time data (the sandbox's realm has no string-to-code path for
those: kernel/sandbox/realm.py).

Why bounded: constants can double (`const b = a + a`), so a value longer than MAX_CHARS, or nested
deeper than MAX_DEPTH, is unknown rather than built.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

from tree_sitter import Node

from .kinds import Kinds
from .tsparse import text

Value = str | tuple[str, ...]

MAX_CHARS = 4096
MAX_DEPTH = 24
_INT = re.compile(r"-?\d{1,7}")


class Folder:
    """Folds expressions against `constants` (const name -> value), which the caller keeps current.
    `kinds` are the node kind ids of the grammar the nodes come from (kinds.py)."""

    def __init__(self, constants: Mapping[str, Value], kinds: Kinds) -> None:
        self.constants = constants
        self.kinds = kinds

    def string(self, node: Node | None) -> str | None:
        value = self.value(node)
        return value if isinstance(value, str) else None

    def value(self, node: Node | None, depth: int = 0) -> Value | None:
        if node is None or depth > MAX_DEPTH:
            return None
        folded = self._value(node, depth + 1)
        if folded is None or sum(map(len, folded if isinstance(folded, tuple) else (folded,))) > MAX_CHARS:
            return None
        return folded

    def _value(self, node: Node, depth: int) -> Value | None:
        kind, kinds = node.kind_id, self.kinds
        if kind in kinds.string:
            return unescape(text(node)[1:-1])
        if kind in kinds.template:
            return self._template(node, depth, raw=False)
        if kind in kinds.wrapper and node.named_child_count:
            return self.value(node.named_children[0], depth)
        if kind in kinds.identifier:
            return self.constants.get(text(node))
        if kind in kinds.binary and text(node.child_by_field_name("operator")) == "+":
            left = self.value(node.child_by_field_name("left"), depth)
            right = self.value(node.child_by_field_name("right"), depth)
            return left + right if isinstance(left, str) and isinstance(right, str) else None
        if kind in kinds.array:
            return self._array(node, depth)
        if kind in kinds.call:
            return self._call(node, depth)
        return None

    def _template(self, node: Node, depth: int, raw: bool) -> str | None:
        out: list[str] = []
        for child in node.named_children:
            if child.kind_id in self.kinds.substitution:
                inner = self.value(child.named_children[0], depth) if child.named_child_count else None
                if not isinstance(inner, str):
                    return None
                out.append(inner)
            else:
                out.append(text(child) if raw else unescape(text(child)))
        return "".join(out)

    def _array(self, node: Node, depth: int) -> tuple[str, ...] | None:
        items: list[str] = []
        for element in node.named_children:
            if element.type == "spread_element":
                spread = self.value(element.named_children[0], depth) if element.named_child_count else None
                if spread is None:
                    return None
                items.extend(spread)  # a string spreads into its characters, an array into its items
                continue
            item = self.value(element, depth)
            if not isinstance(item, str):
                return None
            items.append(item)
        return tuple(items)

    def _call(self, node: Node, depth: int) -> Value | None:
        function = node.child_by_field_name("function")
        arguments = node.child_by_field_name("arguments")
        if function is None or arguments is None or function.kind_id not in self.kinds.member:
            return None
        owner = function.child_by_field_name("object")
        owner_name = text(owner)
        if (owner is not None and owner.kind_id in self.kinds.identifier
                and owner_name not in ("String", "Array") and owner_name not in self.constants):
            return None  # `x.m(…)` on a name with no known value, most calls: no method below applies
        method = text(function.child_by_field_name("property"))
        if arguments.kind_id in self.kinds.template:  # a tagged template
            return self._template(arguments, depth, raw=True) if owner_name == "String" and method == "raw" \
                else None
        if owner_name == "String" and method in ("fromCharCode", "fromCodePoint"):
            codes = [_integer(arg) for arg in arguments.named_children]
            if any(code is None or not 0 <= code <= 0x10FFFF for code in codes):
                return None
            return "".join(chr(code) for code in codes if code is not None)
        if owner_name == "Array" and method == "from" and arguments.named_child_count == 1:
            source = self.value(arguments.named_children[0], depth)
            return tuple(source) if source is not None else None
        receiver = self.value(owner, depth)
        if receiver is None:  # most calls: nothing below needs reading
            return None
        args = list(arguments.named_children)
        values = [self.value(arg, depth) for arg in args]
        if isinstance(receiver, str):
            return _string_method(receiver, method, values, [_integer(arg) for arg in args])
        return _array_method(receiver, method, values, [_integer(arg) for arg in args])


def unescape(body: str) -> str:
    """A JS string body with its escapes (\\n, \\x63, \\u0063, \\u{63}) resolved; a malformed escape
    stays as written."""
    if "\\" not in body:
        return body
    body = re.sub(r"\\u\{([0-9a-fA-F]{1,6})\}", lambda m: chr(min(int(m.group(1), 16), 0x10FFFF)), body)
    try:
        return body.encode("latin-1", "backslashreplace").decode("unicode_escape")
    except UnicodeDecodeError:
        return body


def _integer(node: Node) -> int | None:
    if node.type == "number" and _INT.fullmatch(text(node)):
        return int(text(node))
    if node.type == "unary_expression" and text(node.child_by_field_name("operator")) == "-":
        inner = node.child_by_field_name("argument")
        value = _integer(inner) if inner is not None else None
        return -value if value is not None else None
    return None


def _slice(length: int, ints: Sequence[int | None]) -> slice | None:
    if any(i is None for i in ints) or len(ints) > 2:
        return None
    start = ints[0] if ints else 0
    end = ints[1] if len(ints) > 1 else length
    return slice(start, end)


def _substring(value: str, ints: Sequence[int | None]) -> str | None:
    if any(i is None for i in ints) or not 1 <= len(ints) <= 2:
        return None
    bounds = [max(0, min(len(value), i or 0)) for i in ints] + ([len(value)] if len(ints) == 1 else [])
    low, high = sorted(bounds)
    return value[low:high]


def _string_method(value: str, method: str, args: Sequence[Value | None],
                   ints: Sequence[int | None]) -> Value | None:
    strings = [arg for arg in args if isinstance(arg, str)]
    all_strings = len(strings) == len(args)
    simple: dict[str, Callable[[str], str]] = {
        "toLowerCase": str.lower, "toUpperCase": str.upper, "trim": str.strip, "trimStart": str.lstrip,
        "trimEnd": str.rstrip, "toString": str, "valueOf": str, "normalize": str,
    }
    if method in simple and not args:
        return simple[method](value)
    if method == "split" and len(args) == 1 and all_strings:
        return tuple(value) if strings[0] == "" else tuple(value.split(strings[0]))
    if method == "split" and not args:
        return (value,)
    if method == "concat" and all_strings:
        return value + "".join(strings)
    if method == "slice":
        bounds = _slice(len(value), ints)
        return value[bounds] if bounds is not None else None
    if method == "substring":
        return _substring(value, ints)
    if method in ("replace", "replaceAll") and len(args) == 2 and all_strings:
        return value.replace(strings[0], strings[1], 1 if method == "replace" else -1)
    count = ints[0] if len(ints) == 1 else None
    if method == "repeat" and count is not None and 0 <= count * len(value) <= MAX_CHARS:
        return value * count
    return None


def _array_method(items: tuple[str, ...], method: str, args: Sequence[Value | None],
                  ints: Sequence[int | None]) -> Value | None:
    if method in ("reverse", "toReversed") and not args:
        return tuple(reversed(items))
    if method == "join" and len(args) <= 1:
        separator = args[0] if args else ","
        return separator.join(items) if isinstance(separator, str) else None
    if method == "concat":
        out = list(items)
        for arg in args:
            if arg is None:
                return None
            out.extend((arg,) if isinstance(arg, str) else arg)
        return tuple(out)
    if method == "slice":
        bounds = _slice(len(items), ints)
        return items[bounds] if bounds is not None else None
    return None
