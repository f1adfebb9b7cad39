"""The deterministic rules: one walk over the tree-sitter syntax tree, dispatching on node type.

Why one walk instead of tree-sitter queries: several rules need context the walk carries (which local
names are bound to SDK objects, which constants fold to strings), and a single pass keeps the cost
linear and predictable. Rules err on the side of rejecting: a false rejection costs one repair round,
a missed escape costs the sandbox its first line of defence."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tree_sitter import Node

from llmos.kernel.caps.manifest import Manifest
from llmos.kernel.caps.table import needed_by

from .findings import Finding, Report
from .tsparse import SDK_MODULE, location

GLOBAL_OBJECTS = frozenset({"globalThis", "window", "self", "global"})
FUNCTION_CTORS = frozenset({"Function", "AsyncFunction", "GeneratorFunction", "AsyncGeneratorFunction"})
TIMERS = frozenset({"setTimeout", "setInterval", "setImmediate", "useInterval", "useTimeout", "execScript"})
# Names whose use as a computed key is the same as the named access the other rules reject.
DANGEROUS_KEYS = {
    "eval": "no-eval",
    "constructor": "no-function-constructor",
    "Function": "no-function-constructor",
    "__proto__": "no-proto",
    "prototype": "no-prototype-tampering",
    "setPrototypeOf": "no-prototype-tampering",
}
STRING_TYPES = frozenset({"string", "template_string"})


@dataclass(frozen=True)
class PayloadLimits:
    """Thresholds for the encoded-payload rule (characters / counts)."""

    base64_run: int = 64
    hex_run: int = 48
    escapes_per_string: int = 8
    char_code_args: int = 4


@dataclass
class _Walk:
    src: bytes
    manifest: Manifest | None
    limits: PayloadLimits
    findings: list[Finding] = field(default_factory=list)
    # local name -> SDK path: ("net",) for `import { net }`, () for `import * as sdk`, ("net", "fetch") for
    # `const { fetch } = net`.
    bindings: dict[str, tuple[str, ...]] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)  # const NAME = <foldable string>
    used: dict[str, tuple[int, int]] = field(default_factory=dict)
    _lines: list[bytes] | None = None

    # -- locations -----------------------------------------------------------------------------------
    def where(self, node: Node) -> tuple[int, int]:
        """1-based line and character (not byte) column."""
        if self._lines is None:
            self._lines = self.src.split(b"\n")
        return location(self._lines, node)

    def report(self, node: Node, rule: str, message: str) -> None:
        line, col = self.where(node)
        self.findings.append(Finding(line, col, rule, message))

    @staticmethod
    def text(node: Node | None) -> str:
        return node.text.decode("utf-8", "replace") if node is not None and node.text is not None else ""

    # -- static values -------------------------------------------------------------------------------
    def fold(self, node: Node | None, depth: int = 0) -> str | None:
        """The string an expression always evaluates to, if that is known without running it."""
        if node is None or depth > 20:
            return None
        kind = node.type
        if kind == "string":
            return _unquote(self.text(node))
        if kind == "template_string":
            if any(child.type == "template_substitution" for child in node.named_children):
                return None
            return _unquote(self.text(node))
        if kind == "parenthesized_expression" and node.named_child_count == 1:
            return self.fold(node.named_children[0], depth + 1)
        if kind == "identifier":
            return self.constants.get(self.text(node))
        if kind == "binary_expression" and self.text(node.child_by_field_name("operator")) == "+":
            left = self.fold(node.child_by_field_name("left"), depth + 1)
            right = self.fold(node.child_by_field_name("right"), depth + 1)
            if left is not None and right is not None:
                return left + right
        return None

    def prefix(self, node: Node | None) -> str | None:
        """The static start of a string expression (`https://host/${q}` -> 'https://host/'), which is
        enough to know a URL's host even when its path is computed."""
        if node is None:
            return None
        folded = self.fold(node)
        if folded is not None:
            return folded
        if node.type == "template_string":
            head = ""
            for child in node.named_children:
                if child.type == "template_substitution":
                    break
                head += self.text(child)
            return head
        if node.type == "binary_expression" and self.text(node.child_by_field_name("operator")) == "+":
            return self.prefix(node.child_by_field_name("left"))
        return None

    def sdk_path(self, node: Node | None) -> tuple[str, ...] | None:
        """The SDK path an expression names (`net.fetch` -> ("net", "fetch")), or None if not SDK."""
        names: list[str] = []
        while node is not None:
            if node.type == "identifier":
                root = self.bindings.get(self.text(node))
                return None if root is None else root + tuple(reversed(names))
            if node.type == "member_expression":
                names.append(self.text(node.child_by_field_name("property")))
                node = node.child_by_field_name("object")
            elif node.type in ("parenthesized_expression", "non_null_expression") and node.named_child_count:
                node = node.named_children[0]
            else:
                return None
        return None

    def member_root_has(self, node: Node | None, names: frozenset[str]) -> bool:
        """Whether a member/subscript chain goes through one of `names` (e.g. `prototype`)."""
        while node is not None and node.type in ("member_expression", "subscript_expression",
                                                 "parenthesized_expression", "non_null_expression"):
            if node.type == "member_expression":
                if self.text(node.child_by_field_name("property")) in names:
                    return True
                node = node.child_by_field_name("object")
            elif node.type == "subscript_expression":
                if self.fold(node.child_by_field_name("index")) in names:
                    return True
                node = node.child_by_field_name("object")
            else:
                node = node.named_children[0] if node.named_child_count else None
        return False

    # -- capabilities --------------------------------------------------------------------------------
    def use(self, path: tuple[str, ...], node: Node, call: Node | None = None) -> None:
        if len(path) < 2:
            return
        scope = _scope_for(path, self.prefix(_first_arg(call)) if call is not None else None)
        if scope and scope not in self.used:
            self.used[scope] = self.where(node)

    # -- the walk ------------------------------------------------------------------------------------
    def run(self, root: Node) -> None:
        for child in root.named_children:
            if child.type == "import_statement":
                self.on_import(child)
        cursor = root.walk()
        handlers = _HANDLERS
        while True:
            node = cursor.node
            if node is None:
                return
            handler = handlers.get(node.type)
            if handler is not None:
                handler(self, node)
            if cursor.goto_first_child():
                continue
            while not cursor.goto_next_sibling():
                if not cursor.goto_parent():
                    return

    def on_import(self, node: Node) -> None:
        source = node.child_by_field_name("source")
        if source is None:  # `import x = require("y")`
            self.report(node, "import-not-allowed", "import = require() is not allowed; use '@llm-os/sdk'")
            return
        module = self.fold(source)
        if module != SDK_MODULE:
            self.report(source, "import-not-allowed",
                        f"import from {module!r}: only '{SDK_MODULE}' is allowed")
            return
        for clause in node.named_children:
            if clause.type != "import_clause":
                continue
            for part in clause.named_children:
                if part.type == "namespace_import" and part.named_child_count:
                    self.bindings[self.text(part.named_children[0])] = ()
                elif part.type == "named_imports":
                    for spec in part.named_children:
                        name = self.text(spec.child_by_field_name("name"))
                        alias = spec.child_by_field_name("alias")
                        self.bindings[self.text(alias) if alias is not None else name] = (name,)
                elif part.type == "identifier":  # default import: the SDK module object
                    self.bindings[self.text(part)] = ()

    def on_identifier(self, node: Node) -> None:
        name = self.text(node)
        if "\\" in name:
            self.report(node, "encoded-payload", "unicode escape in an identifier")
            name = _unescape_identifier(name)
        if name == "eval":
            self.report(node, "no-eval", "eval is not allowed")
        elif name in FUNCTION_CTORS:
            self.report(node, "no-function-constructor", f"{name} constructs code from strings")
        elif name in GLOBAL_OBJECTS:
            self.report(node, "no-global-object", f"{name} is not available; use the SDK")
        elif name in ("atob", "btoa"):
            self.report(node, "encoded-payload", f"{name} decodes or hides payloads")
        elif name == "require":
            self.report(node, "import-not-allowed", "require() is not allowed; import from '@llm-os/sdk'")
        elif name in self.bindings and len(self.bindings[name]) <= 1:
            self.check_sdk_escape(node, name)

    def check_sdk_escape(self, node: Node, name: str) -> None:
        """An SDK namespace object may only be read from by name; passing it around would let code
        reach members the analysis cannot see."""
        parent = node.parent
        if parent is None:
            return
        kind = parent.type
        if kind in ("import_specifier", "namespace_import", "import_clause"):
            return
        if kind == "member_expression" and parent.child_by_field_name("object") == node:
            return
        if kind == "subscript_expression" and parent.child_by_field_name("object") == node:
            return  # reported by on_subscript
        if kind == "variable_declarator" and parent.child_by_field_name("value") == node:
            return  # aliasing is tracked by on_declarator
        if kind == "variable_declarator" and parent.child_by_field_name("name") == node:
            return
        self.report(node, "no-computed-sdk-access",
                    f"SDK object {name!r} used as a value; call its members directly")

    def on_shorthand(self, node: Node) -> None:
        name = self.text(node)
        if name == "eval" or name in FUNCTION_CTORS or name in GLOBAL_OBJECTS or name in ("atob", "require"):
            self.on_identifier(node)
        elif name in self.bindings and len(self.bindings[name]) <= 1:
            self.report(node, "no-computed-sdk-access", f"SDK object {name!r} used as a value")

    def on_property(self, node: Node) -> None:
        name = self.text(node)
        parent = node.parent
        if "\\" in name:
            self.report(node, "encoded-payload", "unicode escape in a property name")
            name = _unescape_identifier(name)
        if name == "__proto__":
            self.report(node, "no-proto", "__proto__ is not allowed")
            return
        if parent is None or parent.type != "member_expression":
            return
        if name == "constructor":
            self.report(node, "no-function-constructor", ".constructor reaches the Function constructor")
        elif name == "eval":
            self.report(node, "no-eval", "eval is not allowed")
        elif name in FUNCTION_CTORS:
            self.report(node, "no-function-constructor", f"{name} constructs code from strings")

    def on_member(self, node: Node) -> None:
        parent = node.parent
        if (parent is not None and parent.type == "call_expression"
                and parent.child_by_field_name("function") == node):
            return  # the call handler sees the arguments
        path = self.sdk_path(node)
        if path is not None:
            self.use(path, node)

    def on_subscript(self, node: Node) -> None:
        obj = node.child_by_field_name("object")
        index = node.child_by_field_name("index")
        key = self.fold(index)
        if index is not None and key is not None and key in DANGEROUS_KEYS:
            self.report(index, DANGEROUS_KEYS[key], f"computed access to {key!r}")
        if self.sdk_path(obj) is not None:
            self.report(node, "no-computed-sdk-access",
                        f"computed access on SDK object {self.text(obj)!r}; use {self.text(obj)}.member")

    def on_call(self, node: Node) -> None:
        function = node.child_by_field_name("function")
        if function is None:
            return
        if function.type == "import":
            self.report(node, "no-dynamic-import", "import() loads code at run time")
            return
        path = self.sdk_path(function)
        if path is not None:
            self.use(path, node, node)
        callee = function
        if callee.type == "member_expression":
            name = self.text(callee.child_by_field_name("property"))
            owner = self.text(callee.child_by_field_name("object"))
        else:
            name, owner = self.text(callee), ""
        args = node.child_by_field_name("arguments")
        first = _first_arg(node)
        stringy = first is not None and (first.type in STRING_TYPES or first.type == "binary_expression"
                                         or self.fold(first) is not None)
        if first is not None and name in TIMERS and stringy:
            self.report(first, "no-string-timer", f"{name} with a string runs it as code; pass a function")
        if name in ("setPrototypeOf", "__defineGetter__", "__defineSetter__", "__lookupGetter__"):
            self.report(node, "no-prototype-tampering",
                        f"{owner + '.' if owner else ''}{name} changes prototypes")
        elif name in ("defineProperty", "defineProperties", "assign") and owner in ("Object", "Reflect"):
            if first is not None and (self.member_root_has(first, frozenset({"prototype", "__proto__"}))
                                      or (first.type == "identifier" and self.text(first) in _BUILTINS)):
                self.report(node, "no-prototype-tampering", f"{owner}.{name} on a prototype or built-in")
        elif name in ("fromCharCode", "fromCodePoint") and args is not None:
            count = args.named_child_count
            spread = any(arg.type == "spread_element" for arg in args.named_children)
            chained = node.parent is not None and node.parent.type == "binary_expression"
            if count >= self.limits.char_code_args or spread or chained:
                self.report(node, "encoded-payload", f"String.{name} builds hidden text")

    def on_assignment(self, node: Node) -> None:
        left = node.child_by_field_name("left")
        if self.member_root_has(left, frozenset({"prototype", "__proto__"})):
            self.report(node, "no-prototype-tampering", "assignment to a prototype")
        elif left is not None and left.type in ("member_expression", "subscript_expression"):
            root: Node | None = left
            while root is not None and root.type in ("member_expression", "subscript_expression"):
                root = root.child_by_field_name("object")
            if root is not None and root.type == "identifier" and self.text(root) in _BUILTINS:
                self.report(node, "no-prototype-tampering", f"assignment to built-in {self.text(root)}")
            elif self.sdk_path(left) is not None:
                self.report(node, "no-computed-sdk-access", "assignment to an SDK object")

    def on_unary(self, node: Node) -> None:
        argument = node.child_by_field_name("argument")
        if (self.text(node.child_by_field_name("operator")) == "delete"
                and self.member_root_has(argument, frozenset({"prototype", "__proto__"}))):
            self.report(node, "no-prototype-tampering", "delete on a prototype")

    def on_declarator(self, node: Node) -> None:
        name = node.child_by_field_name("name")
        value = node.child_by_field_name("value")
        if name is None or value is None:
            return
        parent = node.parent
        if name.type == "identifier" and parent is not None and self.text(parent.child(0)) == "const":
            folded = self.fold(value)
            if folded is not None:
                self.constants[self.text(name)] = folded
        path = self.sdk_path(value)
        if path is None:
            return
        if name.type == "identifier":
            self.bindings[self.text(name)] = path
        elif name.type == "object_pattern":
            for part in name.named_children:
                key: str | None
                if part.type == "shorthand_property_identifier_pattern":
                    key = local = self.text(part)
                elif part.type == "pair_pattern":
                    key_node, value_node = part.child_by_field_name("key"), part.child_by_field_name("value")
                    plain = key_node is not None and key_node.type == "property_identifier"
                    key = self.text(key_node) if plain else self.fold(key_node)
                    if key is None:
                        self.report(part, "no-computed-sdk-access", "computed destructuring of an SDK object")
                        continue
                    named = value_node is not None and value_node.type == "identifier"
                    local = self.text(value_node) if named else ""
                else:
                    self.report(part, "no-computed-sdk-access", "rest destructuring of an SDK object")
                    continue
                self.use((*path, key), part)
                if local:
                    self.bindings[local] = (*path, key)
        else:
            self.report(name, "no-computed-sdk-access", "array destructuring of an SDK object")

    def on_string(self, node: Node) -> None:
        body = self.text(node)[1:-1]
        escapes = sum(1 for child in node.named_children if child.type == "escape_sequence"
                      and self.text(child)[1:2] in ("x", "u"))
        if escapes >= self.limits.escapes_per_string:
            self.report(node, "encoded-payload", f"string with {escapes} \\x/\\u escapes")
        elif (run := _BASE64.search(body)) and _looks_random(run.group(0), self.limits.base64_run):
            self.report(node, "encoded-payload", "long base64-like string literal")
        elif (run := _HEX.search(body)) and len(run.group(0)) >= self.limits.hex_run:
            self.report(node, "encoded-payload", "long hex string literal")

    def on_export(self, node: Node) -> None:
        source = node.child_by_field_name("source")
        if source is not None:
            self.report(source, "import-not-allowed", f"re-export from {self.fold(source)!r}")


_HANDLERS = {
    "identifier": _Walk.on_identifier,
    "shorthand_property_identifier": _Walk.on_shorthand,
    "property_identifier": _Walk.on_property,
    "member_expression": _Walk.on_member,
    "subscript_expression": _Walk.on_subscript,
    "call_expression": _Walk.on_call,
    "new_expression": _Walk.on_call,
    "assignment_expression": _Walk.on_assignment,
    "augmented_assignment_expression": _Walk.on_assignment,
    "unary_expression": _Walk.on_unary,
    "variable_declarator": _Walk.on_declarator,
    "string": _Walk.on_string,
    "template_string": _Walk.on_string,
    "with_statement": lambda walk, node: walk.report(node, "no-with", "with statements are not allowed"),
    "meta_property": lambda walk, node: walk.report(node, "no-dynamic-import", "import.meta is unavailable"),
    "export_statement": _Walk.on_export,
}

_BUILTINS = frozenset({"Object", "Array", "String", "Number", "Boolean", "Function", "Symbol", "Promise",
                       "JSON", "Math", "Reflect", "Proxy", "Date", "RegExp", "Error", "Map", "Set"})
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]{24,}={0,2}")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2}){8,}")


def _looks_random(run: str, threshold: int) -> bool:
    """A long base64 run: long enough, and mixing letters with digits or symbols, so long plain words
    (or repeated letters in a UI string) are not taken for payloads."""
    if len(run) < threshold:
        return False
    return any(c.isdigit() or c in "+/" for c in run) and any(c.isupper() for c in run) and any(
        c.islower() for c in run)


def _first_arg(call: Node | None) -> Node | None:
    if call is None:
        return None
    args = call.child_by_field_name("arguments")
    if args is None or args.type != "arguments":
        return None
    return args.named_children[0] if args.named_child_count else None


def _unquote(text: str) -> str:
    body = text[1:-1]
    if "\\" not in body:
        return body
    try:
        return body.encode("latin-1", "backslashreplace").decode("unicode_escape")
    except UnicodeDecodeError:
        return body


def _unescape_identifier(name: str) -> str:
    return re.sub(r"\\u\{([0-9a-fA-F]+)\}|\\u([0-9a-fA-F]{4})",
                  lambda m: chr(int(m.group(1) or m.group(2), 16)), name)


def _scope_for(path: tuple[str, ...], first_arg: str | None) -> str | None:
    """The capability an SDK member needs (kernel.caps.table); first_arg is the static start of the
    first argument, if any. An argument known only at run time is the wildcard: network:*, bus:*."""
    row = needed_by(path[0], path[1])
    if row is None:
        return None
    return row.scope(first_arg) or f"{row.kind}:*"


def check_tree(root: Node, src: bytes, manifest: Manifest | None, limits: PayloadLimits) -> Report:
    walk = _Walk(src, manifest, limits)
    walk.run(root)
    if manifest is not None:
        for scope, (line, col) in walk.used.items():
            if not manifest.covers(scope):
                walk.findings.append(Finding(line, col, "undeclared-capability",
                                             f"uses {scope} but the manifest does not declare it"))
    report = Report(sorted(set(walk.findings)), dict(walk.used), src.count(b"\n") + 1)
    return report
