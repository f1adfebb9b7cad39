"""Which names a document may use, and how the compiler picks JS identifiers that cannot collide.

State names become JS identifiers as they are (`bill`, with setter `setBill`), because they already
match ^[a-z][a-zA-Z0-9]{0,15}$; the reserved set keeps out JS words, globals and SDK namespaces.
Identifiers the compiler invents are either '_'-prefixed (impossible for a state name) or taken from
`Allocator`, which knows every name in use.
"""

from __future__ import annotations

import re

JS_WORDS = frozenset({
    "break", "case", "catch", "class", "const", "continue", "debugger", "default", "delete", "do", "else",
    "enum", "export", "extends", "false", "finally", "for", "function", "if", "import", "in", "instanceof",
    "new", "null", "return", "super", "switch", "this", "throw", "true", "try", "typeof", "var", "void",
    "while", "with", "yield", "let", "static", "implements", "interface", "package", "private",
    "protected", "public", "await", "async", "of", "undefined", "arguments", "eval",
})
GLOBALS = frozenset({
    "globalThis", "window", "self", "global", "require", "atob", "btoa", "console", "Math", "Number",
    "String", "Array", "Object", "JSON", "Date", "Infinity", "NaN", "Function", "Symbol", "Promise",
    "Reflect", "Proxy", "Map", "Set", "Error", "RegExp", "Boolean", "parseInt", "parseFloat", "isNaN",
    "isFinite",
})
SDK_NAMES = frozenset({"ui", "storage", "timer", "net", "bus", "clipboard", "caps", "clock", "random",
                       "format", "useState", "App", "CapabilityError"})
EXPR_WORDS = frozenset({"and", "or", "not", "if", "then", "else", "true", "false"})
# Property names a row field may not have: they reach Object.prototype or trip the code analysis.
OBJECT_WORDS = frozenset({"constructor", "prototype", "toString", "valueOf", "hasOwnProperty",
                          "isPrototypeOf", "propertyIsEnumerable", "toLocaleString", "eval", "Function"})
SETTER = re.compile(r"^set[A-Z0-9]")

RESERVED_STATE = JS_WORDS | GLOBALS | SDK_NAMES | EXPR_WORDS | OBJECT_WORDS
RESERVED_FIELD = EXPR_WORDS | OBJECT_WORDS


def state_name_problem(name: str) -> str | None:
    if name in RESERVED_STATE:
        return f"{name!r} is a reserved word; choose another name"
    if SETTER.match(name):
        return f"{name!r} looks like a setter; choose a name that does not start with 'set' + capital"
    return None


def field_name_problem(name: str) -> str | None:
    if name in RESERVED_FIELD:
        return f"{name!r} is a reserved word; choose another field name"
    return None


def setter(name: str) -> str:
    return "set" + name[0].upper() + name[1:]


class Allocator:
    """Unique JS identifiers: a wanted name, or that name with the smallest free number appended."""

    def __init__(self, taken: set[str]) -> None:
        self.taken = set(taken) | RESERVED_STATE

    def take(self, wanted: str) -> str:
        name, n = wanted, 2
        while name in self.taken:
            name = f"{wanted}{n}"
            n += 1
        self.taken.add(name)
        return name
