"""The deterministic rules: one walk over the tree-sitter syntax tree, dispatching on node type.

Why one walk instead of tree-sitter queries: several rules need context the walk carries (which local
names are bound to SDK objects, which constants fold to strings), and a single pass keeps the cost
linear and predictable (a query costs as much as the whole walk even for one pattern). Rules err on the
side of rejecting: a false rejection costs one repair round, a missed escape costs the sandbox its first
line of defence.

Why the walk looks the way it does: it visits ~17 nodes per line, so per node it reads only the integer
kind (kinds.py), carries each node's parent (tree-sitter's Node.parent searches down from the root),
reads an identifier's or property name's text only where a watched name can start (watch.py), and does
not enter a string literal, whose parts no rule looks at."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, lru_cache

from tree_sitter import Node

from llmos.kernel.caps.manifest import Manifest
from llmos.kernel.caps.table import ScopeRow, needed_by

from .findings import Finding, Report
from .kinds import ids_of
from .statics import StaticValues
from .tsparse import SDK_MODULE, location
from .watch import escape_starts, locatable, starts

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
# Names that, as a string value anywhere (a Reflect.get key, a destructuring key, what a toPrimitive or a
# Proxy trap returns), lead to the Function constructor or to a prototype at run time.
KEY_VALUES = {
    "constructor": ("no-function-constructor", "reaches the Function constructor"),
    "__proto__": ("no-proto", "reaches a prototype"),
}
# Calls that change another object's properties (checked when the target is a prototype or a built-in),
# and calls that change or read prototypes whatever their target.
DEFINERS = frozenset({"defineProperty", "defineProperties", "assign"})
PROTO_CHANGERS = frozenset({"setPrototypeOf", "__defineGetter__", "__defineSetter__", "__lookupGetter__"})
PROTO_GETTERS = frozenset({"getPrototypeOf"})
PROTO_KEYS = frozenset({"prototype", "__proto__"})
_WRAPPERS = frozenset({"parenthesized_expression", "as_expression", "satisfies_expression",
                       "non_null_expression"})


@dataclass(frozen=True)
class PayloadLimits:
    """Thresholds for the encoded-payload rule (characters / counts)."""

    base64_run: int = 64
    hex_run: int = 48
    escapes_per_string: int = 8
    char_code_args: int = 4


@dataclass(kw_only=True)
class _Walk(StaticValues):
    manifest: Manifest | None
    limits: PayloadLimits
    findings: list[Finding] = field(default_factory=list)
    used: dict[str, tuple[int, int]] = field(default_factory=dict)
    # local name -> (owner, method) for `const dp = Object.defineProperty`, `const { assign } = Object`
    method_aliases: dict[str, tuple[str, str]] = field(default_factory=dict)
    # local names bound to a prototype or a built-in: `const P = Array.prototype`, `const O = Object`
    proto_names: set[str] = field(default_factory=set)
    _lines: list[bytes] | None = None
    # Offsets where a name the rules care about can start (watch.py): identifiers on_identifier reads,
    # property names on_property reads, the roots of calls and member chains on_call and on_member
    # read (names bound to the SDK, Object, Reflect, aliases of their methods, the callee names
    # on_call checks), and those callee names as a member (`x.setTimeout(…)`).
    _watch_ids: set[int] = field(default_factory=set)
    _watch_props: set[int] = field(default_factory=set)
    _watch_roots: set[int] = field(default_factory=set)
    _watch_callees: set[int] = field(default_factory=set)
    _watch_everything: bool = False  # a name was bound that its bytes cannot find: read every name
    _root_names: set[str] = field(default_factory=set)  # names already in _watch_roots
    _id_names: set[str] = field(default_factory=set)  # names already in _watch_ids
    _callee: Node | None = None  # the function of the call on_call saw last
    _recorded: set[tuple[str, ...]] = field(default_factory=set)  # SDK paths whose fixed scope is in used

    def __post_init__(self) -> None:
        super().__post_init__()
        escapes = escape_starts(self.src)
        self._watch_ids = starts(self.src, _IDENTIFIER_WORDS) | escapes
        self._watch_props = starts(self.src, _PROPERTY_WORDS) | escapes
        self._watch_callees = starts(self.src, _CALL_WORDS) | escapes
        self._watch_roots = starts(self.src, ("Object", "Reflect")) | self._watch_callees

    # -- locations -----------------------------------------------------------------------------------
    def where(self, node: Node) -> tuple[int, int]:
        """1-based line and character (not byte) column."""
        if self._lines is None:
            self._lines = self.src.split(b"\n")
        return location(self._lines, node)

    def report(self, node: Node, rule: str, message: str) -> None:
        line, col = self.where(node)
        self.findings.append(Finding(line, col, rule, message))

    # -- capabilities --------------------------------------------------------------------------------
    def use(self, path: tuple[str, ...], node: Node, call: Node | None = None) -> None:
        if len(path) < 2 or path in self._recorded:
            return
        row = _row(path[0], path[1])
        if row is None:
            return
        if row.argument is None:  # the scope does not depend on the call's argument: skip folding it
            scope = row.pattern
            self._recorded.add(path)  # and any later use of the same path is this one again
        else:
            scope = _scope_for(row, self.prefix(_first_arg(call)) if call is not None else None)
        if scope not in self.used:
            self.used[scope] = self.where(node)

    def bind(self, name: str, path: tuple[str, ...]) -> None:
        """Record a local name for an SDK path. Calls and member chains on it are watched from here on,
        and so is the name itself when it stands for a whole SDK object (or namespace), since using
        that as a value is a finding."""
        self.bindings[name] = path
        self.watch(name, self._watch_roots, self._root_names)
        if len(path) <= 1:
            self.watch(name, self._watch_ids, self._id_names)

    def alias(self, name: str, method: tuple[str, str]) -> None:
        """Record a local name for one of Object's or Reflect's methods; calls to it are watched."""
        self.method_aliases[name] = method
        self.watch(name, self._watch_roots, self._root_names)

    def watch(self, name: str, offsets: set[int], names: set[str]) -> None:
        """Add every offset where `name` starts to `offsets` (in place: the walk holds the set), once."""
        if name in names:
            return
        names.add(name)
        if locatable(name):
            offsets |= starts(self.src, (name,))
        else:
            self._watch_everything = True

    # -- the walk ------------------------------------------------------------------------------------
    def run(self, root: Node) -> None:
        for child in root.named_children:
            if child.type == "import_statement":
                self.on_import(child)
        actions, handlers = _dispatch(self.dialect)
        watch_ids, watch_props = self._watch_ids, self._watch_props
        cursor = root.walk()
        parent: Node | None = None
        ancestors: list[Node | None] = []
        while True:
            node = cursor.node
            if node is None:
                return
            kind = node.kind_id
            action = actions[kind]  # one lookup; 0 for most nodes (punctuation and such)
            if action:
                if action == _IDENTIFIER:
                    if node.start_byte in watch_ids or self._watch_everything:
                        self.on_identifier(node, parent)
                elif action == _PROPERTY:
                    if node.start_byte in watch_props:
                        self.on_property(node, parent)
                else:
                    handlers[kind](self, node, parent)
                    # a string's parts are quotes, fragments and escapes, which no rule visits
                    if action == _STRING and not node.has_error:
                        action = _LEAVE
            if action != _LEAVE and cursor.goto_first_child():
                ancestors.append(parent)
                parent = node
                continue
            while not cursor.goto_next_sibling():
                if not cursor.goto_parent():
                    return
                parent = ancestors.pop()

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
                    self.bind(self.text(part.named_children[0]), ())
                elif part.type == "named_imports":
                    for spec in part.named_children:
                        name = self.text(spec.child_by_field_name("name"))
                        alias = spec.child_by_field_name("alias")
                        self.bind(self.text(alias) if alias is not None else name, (name,))
                elif part.type == "identifier":  # default import: the SDK module object
                    self.bind(self.text(part), ())

    def on_identifier(self, node: Node, parent: Node | None) -> None:
        name = self.text(node)
        if name not in _IDENTIFIER_WORDS and "\\" not in name:  # a watched name bound to the SDK
            if name in self.bindings and len(self.bindings[name]) <= 1:
                self.check_sdk_escape(node, name, parent)
            return
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
            self.check_sdk_escape(node, name, parent)

    def check_sdk_escape(self, node: Node, name: str, parent: Node | None) -> None:
        """An SDK namespace object may only be read from by name; passing it around would let code
        reach members the analysis cannot see."""
        if parent is None:
            return
        kind, kinds = parent.kind_id, self.kinds
        if kind in kinds.import_part:
            return
        if kind in kinds.member and parent.child_by_field_name("object") == node:
            return
        if kind in kinds.subscript and parent.child_by_field_name("object") == node:
            return  # reported by on_subscript
        if kind in kinds.declarator and parent.child_by_field_name("value") == node:
            return  # aliasing is tracked by on_declarator
        if kind in kinds.declarator and parent.child_by_field_name("name") == node:
            return
        self.report(node, "no-computed-sdk-access",
                    f"SDK object {name!r} used as a value; call its members directly")

    def on_shorthand(self, node: Node, parent: Node | None) -> None:
        name = self.text(node)
        if name == "eval" or name in FUNCTION_CTORS or name in GLOBAL_OBJECTS or name in ("atob", "require"):
            self.on_identifier(node, parent)
        elif name in self.bindings and len(self.bindings[name]) <= 1:
            self.report(node, "no-computed-sdk-access", f"SDK object {name!r} used as a value")

    def on_property(self, node: Node, parent: Node | None) -> None:
        name = self.text(node)
        if name not in _PROPERTY_WORDS and "\\" not in name:
            return  # every branch below needs one of these names (most property reads: none)
        if "\\" in name:
            self.report(node, "encoded-payload", "unicode escape in a property name")
            name = _unescape_identifier(name)
        if name == "__proto__":
            self.report(node, "no-proto", "__proto__ is not allowed")
            return
        if parent is not None and parent.type == "pair_pattern" and parent.child_by_field_name("key") == node:
            self.on_pattern_key(node, name)
            return
        if parent is None or parent.type != "member_expression":
            return
        if name == "constructor":
            self.report(node, "no-function-constructor", ".constructor reaches the Function constructor")
        elif name == "eval":
            self.report(node, "no-eval", "eval is not allowed")
        elif name in FUNCTION_CTORS:
            self.report(node, "no-function-constructor", f"{name} constructs code from strings")

    def on_pattern_key(self, node: Node, name: str | None) -> None:
        """`const { constructor: F } = fn` reads fn.constructor, whatever the key is spelt as."""
        if name in KEY_VALUES:
            rule, reaches = KEY_VALUES[name]
            self.report(node, rule, f"destructuring {name!r} {reaches}")

    def on_pair_pattern(self, node: Node, parent: Node | None) -> None:
        key = node.child_by_field_name("key")
        if key is None or key.type == "property_identifier":
            return  # on_property sees it
        computed = key.type == "computed_property_name" and key.named_child_count
        inner = key.named_children[0] if computed else key
        self.on_pattern_key(key, self.fold(inner))

    def on_shorthand_pattern(self, node: Node, parent: Node | None) -> None:
        self.on_pattern_key(node, _unescape_identifier(self.text(node)))

    def check_key_value(self, node: Node | None, how: str) -> None:
        """A value spelling 'constructor' or '__proto__' that flows where keys come from at run time: a
        Reflect/Object call's argument, or what a function returns (a toPrimitive, toString or Proxy
        trap). Strings elsewhere (UI text) stay data."""
        value = self.fold(node)
        if node is not None and value in KEY_VALUES:
            rule, reaches = KEY_VALUES[value]
            self.report(node, rule, f"{value!r} {how} {reaches} when used as a key")

    def on_arrow(self, node: Node, parent: Node | None) -> None:
        body = node.child_by_field_name("body")
        if body is not None and body.kind_id not in self.kinds.block:
            self.check_key_value(body, "returned by a function")

    def on_return(self, node: Node, parent: Node | None) -> None:
        if node.named_child_count:
            self.check_key_value(node.named_children[0], "returned by a function")

    # -- prototypes ------------------------------------------------------------------------------
    def callee(self, function: Node) -> tuple[str, str]:
        """(owner, method) a call goes to: `Object.defineProperty`, `Object['defineProperty']`,
        `(0, Object.defineProperty)`, or a local alias of one; ("", name) for a plain function."""
        node = self.unwrap(function)
        if node.kind_id in self.kinds.sequence and node.named_child_count:
            node = self.unwrap(node.named_children[-1])
        if node.kind_id in self.kinds.member:
            owner, method = node.child_by_field_name("object"), node.child_by_field_name("property")
            return self.text(owner), self.text(method)
        if node.type == "subscript_expression":
            owner, key = node.child_by_field_name("object"), self.fold(node.child_by_field_name("index"))
            return self.text(owner), key or ""
        name = self.text(node)
        return self.method_aliases.get(name, ("", name))

    def is_prototype(self, node: Node | None) -> bool:
        """Whether an expression is (or may be) a prototype or a built-in: `X.prototype…`, `o.__proto__`,
        `Object.getPrototypeOf(o)`, `Array`, or a local name bound to one of those."""
        if node is None:
            return False
        node = self.unwrap(node)
        if self.member_root_has(node, PROTO_KEYS):
            return True
        kind = node.kind_id
        if kind in self.kinds.identifier:
            return self.text(node) in _BUILTINS or self.text(node) in self.proto_names
        if kind in self.kinds.call:
            function = node.child_by_field_name("function")
            return function is not None and self.callee_name(function) in PROTO_GETTERS
        return False

    def callee_name(self, function: Node) -> str:
        """callee(function)[1], without reading the owner's text when the callee is `owner.name`."""
        if function.kind_id in self.kinds.member:
            return self.text(function.child_by_field_name("property"))
        return self.callee(function)[1]

    def target_root(self, node: Node | None) -> Node | None:
        """The object a member chain starts from: `P` in `P.a.b = 1`, the call in `f().x = 1`."""
        while node is not None and (node.type in ("member_expression", "subscript_expression")
                                    or node.type in _WRAPPERS):
            node = node.child_by_field_name("object") if node.type not in _WRAPPERS else (
                node.named_children[0] if node.named_child_count else None)
        return node

    def may_be_root(self, node: Node) -> bool:
        """Whether a call's or member chain's root can be a watched name: it starts at one (the root of a
        chain is its leftmost part), or at a parenthesis, which hides where the root starts."""
        start = node.start_byte
        return start in self._watch_roots or self._watch_everything or self.src[start:start + 1] == b"("

    def unwrap(self, node: Node) -> Node:
        """The expression inside parentheses and type-only wrappers (`(x as any)!`)."""
        wrappers = self.kinds.wrapper
        while node.kind_id in wrappers and node.named_child_count:
            node = node.named_children[0]
        return node

    def on_member(self, node: Node, parent: Node | None) -> None:
        if not self.may_be_root(node):
            return  # a chain on no bound name: sdk_path would be None
        if node == self._callee:
            return  # the function of the call just handled (the call handler sees the arguments)
        if (parent is not None and parent.kind_id in self.kinds.call
                and parent.child_by_field_name("function") == node):
            return  # the call handler sees the arguments
        path = self.sdk_path(node)
        if path is not None:
            self.use(path, node)

    def on_subscript(self, node: Node, parent: Node | None) -> None:
        obj = node.child_by_field_name("object")
        index = node.child_by_field_name("index")
        key = self.fold(index)
        if index is not None and key is not None and key in DANGEROUS_KEYS:
            self.report(index, DANGEROUS_KEYS[key], f"computed access to {key!r}")
        if self.sdk_path(obj) is not None:
            self.report(node, "no-computed-sdk-access",
                        f"computed access on SDK object {self.text(obj)!r}; use {self.text(obj)}.member")

    def on_call(self, node: Node, parent: Node | None) -> None:
        function = self._callee = node.child_by_field_name("function")
        if function is None:
            return
        kind, kinds = function.kind_id, self.kinds
        if kind in kinds.import_:
            self.report(node, "no-dynamic-import", "import() loads code at run time")
            return
        # The two shapes of nearly every call, `f(…)` and `name.member(…)`, read once for what sdk_path
        # and callee would each read, and only when a watched name starts there; any other shape goes
        # through them.
        owner_node = function.child_by_field_name("object") if kind in kinds.member else None
        if kind in kinds.identifier:
            if not self.may_be_root(function):
                return  # not bound, not an alias, not a checked callee: nothing below applies
            name = self.text(function)
            path = self.bindings.get(name)
            owner, name = self.method_aliases.get(name, ("", name))
        elif owner_node is not None and owner_node.kind_id in kinds.identifier:
            member = function.child_by_field_name("property")
            if not self.may_be_root(owner_node) and (member is None or (
                    member.start_byte not in self._watch_callees and not self._watch_everything)):
                return  # `x.m(…)` with x not bound, not Object or Reflect, m not a checked callee
            owner, name = self.text(owner_node), self.text(member)
            root = self.bindings.get(owner)
            path = None if root is None else (*root, name)
            if root is not None and owner not in _IDENTIFIER_WORDS and "\\" not in owner:
                # `ui.Text(…)`: on_identifier would only find `ui` to be a member's object, which is fine
                self._watch_ids.discard(owner_node.start_byte)
        else:
            path = self.sdk_path(function)
            owner, name = self.callee(function)
        if path is not None:
            self.use(path, node, node)
        if name not in _CALL_WORDS and owner not in ("Object", "Reflect"):
            return  # every check below needs one of these names
        args = node.child_by_field_name("arguments")
        first = _first_arg(node)
        if first is not None and name in TIMERS and (first.type in STRING_TYPES  # fold only for timers
                                                      or first.type == "binary_expression"
                                                      or self.fold(first) is not None):
            self.report(first, "no-string-timer", f"{name} with a string runs it as code; pass a function")
        if name in PROTO_CHANGERS:
            self.report(node, "no-prototype-tampering",
                        f"{owner + '.' if owner else ''}{name} changes prototypes")
        elif name in DEFINERS and owner in ("Object", "Reflect"):
            if self.is_prototype(first):
                self.report(node, "no-prototype-tampering", f"{owner}.{name} on a prototype or built-in")
        elif name in ("fromCharCode", "fromCodePoint") and args is not None:
            count = args.named_child_count
            spread = any(arg.type == "spread_element" for arg in args.named_children)
            chained = parent is not None and parent.type == "binary_expression"
            if count >= self.limits.char_code_args or spread or chained:
                self.report(node, "encoded-payload", f"String.{name} builds hidden text")
        if owner in ("Object", "Reflect") and args is not None:
            for arg in args.named_children:
                self.check_key_value(arg, f"passed to {owner}.{name}")

    def on_assignment(self, node: Node, parent: Node | None) -> None:
        left = node.child_by_field_name("left")
        if self.member_root_has(left, PROTO_KEYS):
            self.report(node, "no-prototype-tampering", "assignment to a prototype")
        elif left is not None and self.unwrap(left).type in ("member_expression", "subscript_expression"):
            root = self.target_root(left)
            if self.is_prototype(root):
                self.report(node, "no-prototype-tampering", f"assignment to {self.text(root)}, a prototype "
                                                            "or built-in")
            elif self.sdk_path(left) is not None:
                self.report(node, "no-computed-sdk-access", "assignment to an SDK object")

    def on_unary(self, node: Node, parent: Node | None) -> None:
        argument = node.child_by_field_name("argument")
        if self.text(node.child_by_field_name("operator")) != "delete" or argument is None:
            return
        if self.member_root_has(argument, PROTO_KEYS) or (
                self.unwrap(argument).type in ("member_expression", "subscript_expression")
                and self.is_prototype(self.target_root(argument))):
            self.report(node, "no-prototype-tampering", "delete on a prototype or built-in")

    def on_declarator(self, node: Node, parent: Node | None) -> None:
        name = node.child_by_field_name("name")
        value = node.child_by_field_name("value")
        if name is None or value is None:
            return
        named = name.kind_id in self.kinds.identifier
        if named and parent is not None and self.text(parent.child(0)) == "const":
            folded = self.fold_value(value)
            if folded is not None:
                self.constants[self.text(name)] = folded
        self.track_prototype_aliases(name, value)
        path = self.sdk_path(value)
        if path is None:
            return
        if named:
            self.bind(self.text(name), path)
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
                    plain = value_node is not None and value_node.type == "identifier"
                    local = self.text(value_node) if plain else ""
                else:
                    self.report(part, "no-computed-sdk-access", "rest destructuring of an SDK object")
                    continue
                self.use((*path, key), part)
                if local:
                    self.bind(local, (*path, key))
        else:
            self.report(name, "no-computed-sdk-access", "array destructuring of an SDK object")

    def track_prototype_aliases(self, name: Node, value: Node) -> None:
        """Remember names that stand for a prototype, a built-in or one of Object's/Reflect's changers, so
        `const P = Object.prototype; P.x = 1` and `const { defineProperty } = Object` are seen."""
        if name.kind_id in self.kinds.identifier:
            kinds = self.kinds
            owner, method = self.callee(value) if self.unwrap(value).kind_id in kinds.reference else ("", "")
            if owner in ("Object", "Reflect") and method in DEFINERS | PROTO_CHANGERS | PROTO_GETTERS:
                self.alias(self.text(name), (owner, method))
            elif self.is_prototype(value):
                self.proto_names.add(self.text(name))
        elif name.type == "object_pattern" and self.text(self.unwrap(value)) in ("Object", "Reflect"):
            for part in name.named_children:
                if part.type == "shorthand_property_identifier_pattern":
                    method = local = self.text(part)
                elif part.type == "pair_pattern":
                    key, local_node = part.child_by_field_name("key"), part.child_by_field_name("value")
                    method, local = self.text(key), self.text(local_node)
                else:
                    continue
                if method in DEFINERS | PROTO_CHANGERS | PROTO_GETTERS:
                    self.alias(local, (self.text(self.unwrap(value)), method))

    def on_string(self, node: Node, parent: Node | None) -> None:
        literal = self.text(node)
        body = literal[1:-1]
        escapes = 0 if "\\" not in literal else sum(  # an escape's text starts with a backslash
            1 for child in node.named_children if child.type == "escape_sequence"
            and self.text(child)[1:2] in ("x", "u"))
        if escapes >= self.limits.escapes_per_string:
            self.report(node, "encoded-payload", f"string with {escapes} \\x/\\u escapes")
        elif len(body) < _SHORTEST_RUN:
            return  # too short for either pattern below (most UI text)
        elif (run := _BASE64.search(body)) and _looks_random(run.group(0), self.limits.base64_run):
            self.report(node, "encoded-payload", "long base64-like string literal")
        elif (run := _HEX.search(body)) and len(run.group(0)) >= self.limits.hex_run:
            self.report(node, "encoded-payload", "long hex string literal")

    def on_with(self, node: Node, parent: Node | None) -> None:
        self.report(node, "no-with", "with statements are not allowed")

    def on_meta(self, node: Node, parent: Node | None) -> None:
        if self.text(node).startswith("import"):  # `new.target` is a meta property too, and harmless
            self.report(node, "no-dynamic-import", "import.meta is unavailable")

    def on_export(self, node: Node, parent: Node | None) -> None:
        source = node.child_by_field_name("source")
        if source is not None:
            self.report(source, "import-not-allowed", f"re-export from {self.fold(source)!r}")


Handler = Callable[["_Walk", Node, "Node | None"], None]
_HANDLERS: dict[str, Handler] = {
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
    "with_statement": _Walk.on_with,
    "meta_property": _Walk.on_meta,
    "pair_pattern": _Walk.on_pair_pattern,
    "shorthand_property_identifier_pattern": _Walk.on_shorthand_pattern,
    "arrow_function": _Walk.on_arrow,
    "return_statement": _Walk.on_return,
    "export_statement": _Walk.on_export,
}

_IDENTIFIER, _PROPERTY, _STRING, _OTHER = 1, 2, 3, 4  # what the walk does with a node (0: nothing)
_LEAVE = -1  # the walk's note to itself: do not enter this node


@cache
def _dispatch(dialect: str) -> tuple[bytes, dict[int, Handler]]:
    """What the walk does per kind id, as a byte per id (ids are 16-bit; indexing bytes is the cheapest
    lookup): test an identifier or a property name against the watched offsets itself, or call the
    kind's handler (and, for a string, not enter it)."""
    actions = bytearray(1 << 16)
    special = {"identifier": _IDENTIFIER, "property_identifier": _PROPERTY, "string": _STRING}
    for name in _HANDLERS:
        action = special.get(name, _OTHER)
        for kind in ids_of(dialect, name):
            actions[kind] = action
    handlers = {kind: handler for name, handler in _HANDLERS.items() for kind in ids_of(dialect, name)}
    return bytes(actions), handlers


_BUILTINS = frozenset({"Object", "Array", "String", "Number", "Boolean", "Function", "Symbol", "Promise",
                       "JSON", "Math", "Reflect", "Proxy", "Date", "RegExp", "Error", "Map", "Set"})
_PROPERTY_WORDS = frozenset({"__proto__", "constructor", "eval", *FUNCTION_CTORS, *KEY_VALUES})
# Callee names on_call checks (with any callee of Object or Reflect).
_CALL_WORDS = frozenset({*TIMERS, *PROTO_CHANGERS, *DEFINERS, "fromCharCode", "fromCodePoint"})
# Identifiers on_identifier reports whatever they are bound to (the SDK's names are watched as bound).
_IDENTIFIER_WORDS = frozenset({"eval", *FUNCTION_CTORS, *GLOBAL_OBJECTS, "atob", "btoa", "require"})
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]{24,}={0,2}")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2}){8,}")
_SHORTEST_RUN = 16  # the fewest characters either pattern matches


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


def _unescape_identifier(name: str) -> str:
    return re.sub(r"\\u\{([0-9a-fA-F]+)\}|\\u([0-9a-fA-F]{4})",
                  lambda m: chr(int(m.group(1) or m.group(2), 16)), name)


@lru_cache(maxsize=1024)
def _row(namespace: str, member: str) -> ScopeRow | None:
    """The capability table's row for an SDK member (kernel.caps.table), or None if it needs none."""
    return needed_by(namespace, member)


def _scope_for(row: ScopeRow, first_arg: str | None) -> str:
    """The capability a call under `row` needs; first_arg is the static start of the first argument, if
    any. An argument known only at run time is the wildcard: network:*, bus:*."""
    return row.scope(first_arg) or f"{row.kind}:*"


def check_tree(root: Node, src: bytes, manifest: Manifest | None, limits: PayloadLimits,
               dialect: str = "ts") -> Report:
    """The rules' findings and the capabilities used, for a tree parsed in `dialect` from `src`."""
    walk = _Walk(src=src, manifest=manifest, limits=limits, dialect=dialect)
    walk.run(root)
    if manifest is not None:
        for scope, (line, col) in walk.used.items():
            if not manifest.covers(scope):
                walk.findings.append(Finding(line, col, "undeclared-capability",
                                             f"uses {scope} but the manifest does not declare it"))
    report = Report(sorted(set(walk.findings)), dict(walk.used), src.count(b"\n") + 1)
    return report
