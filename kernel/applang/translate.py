"""Type-check an expression tree against the names in scope and translate it to JavaScript, in one walk.

Checking and translating are one pass so that the code that runs is exactly the code that was
checked. Every name becomes the JS the scope maps it to (a state variable, a handler's local copy, a
row field); every literal is re-emitted from its parsed value; every operator and function comes
from a fixed table. Compound results are parenthesised, so JS precedence never changes a meaning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from llmos.kernel.applang import expressions as ex
from llmos.kernel.applang.errors import closest, did_you_mean
from llmos.kernel.applang.functions import FUNCTIONS, Function, literal, result_type, signature
from llmos.kernel.applang.types import EMPTY_JS, FLAG, NUMBER, TEXT, Type, values_of
from llmos.sdk import zones


class TypeProblem(Exception):
    def __init__(self, message: str, col: int, unknown: str = "", suggestion: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.col = col
        self.unknown = unknown  # an unknown name, and the close known one, if that is the problem
        self.suggestion = suggestion


@dataclass(frozen=True)
class Typed:
    type: Type
    js: str


@dataclass
class Needs:
    """What translated code relies on: SDK namespaces and helper functions."""

    sdk: set[str] = field(default_factory=set)
    helpers: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Scope:
    names: Mapping[str, Typed]
    needs: Needs = field(default_factory=Needs)
    fields_of: Mapping[str, str] = field(default_factory=dict)  # field name -> a list that has it

    def with_names(self, extra: Mapping[str, Typed]) -> Scope:
        return replace(self, names={**self.names, **extra})


def number_js(value: float) -> str:
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def empty_record(kind: Type) -> str:
    """A JS object literal of a row whose fields all have their empty value."""
    return "{ " + ", ".join(f"{name}: {EMPTY_JS[t.kind]}" for name, t in kind.fields) + " }"


def show(value: Typed, scope: Scope, col: int) -> str:
    """JS text for displaying a value: numbers formatted (no raw floats), flags as yes/no."""
    kind = value.type
    if kind.kind == "text":
        return value.js
    if kind.kind == "number":
        scope.needs.sdk.add("format")
        return f"format.number({value.js})"
    if kind.kind == "flag":
        return f"({value.js} ? 'yes' : 'no')"
    element = kind.element()
    if element is not None and element.scalar:
        column = project(value, col)
        inner = show(Typed(element, "_v"), scope, col)
        mapped = column.js if inner == "_v" else f"{column.js}.map((_v) => {inner})"
        return f"{mapped}.join(', ')"
    hint = " (show len(...) of it, or use a list widget)" if kind.kind == "list" else ""
    raise TypeProblem(f"{kind.describe()} cannot be shown as text{hint}", col)


def project(value: Typed, col: int) -> Typed:
    """A one-field list as the plain list of its values (names -> names.text); values stay as they are."""
    if value.type.kind == "values":
        return value
    single = value.type.single()
    if single is None:
        raise TypeProblem(f"{value.type.describe()} has several fields; pick one with .field "
                          "(for example items.name)", col)
    name, kind = single
    return Typed(values_of(kind), f"{value.js}.map((_r) => _r.{name})")


def coerce(value: Typed, want: Type, scope: Scope, col: int, what: str = "the value") -> str:
    """JS for `value` used where `want` is expected, or a TypeProblem saying why it cannot be."""
    have = value.type
    if have == want or want.kind == "any":
        return value.js
    if want.kind == "text" and have.kind in ("number", "flag"):
        return show(value, scope, col)
    if want.kind == "values" and want.elem is not None and have.kind == "list" and len(have.fields) > 1:
        project(value, col)  # raises: which column?
    if want.kind == "values" and have.listlike:
        element = have.element()
        if have.kind == "values" and have.elem is None:  # []
            return value.js
        if want.elem is None or element == want.elem:
            return project(value, col).js if have.kind == "list" and want.elem is not None else value.js
    if want.kind == "list" and have.kind == "values" and len(want.fields) == 1:
        name, kind = want.fields[0]
        if have.elem is None or have.elem == kind:
            return f"{value.js}.map((_v) => ({{ {name}: _v }}))"
    if want.kind == "list" and have.kind == "list" and have.field_names() == want.field_names():
        return value.js
    hint = ""
    if want.kind == "number" and have.kind == "text":
        hint = " (use num(...) to read a number from a text)"
    raise TypeProblem(f"{what} must be {want.describe()}, but this is {have.describe()}{hint}", col)


def translate(node: ex.Expr, scope: Scope) -> Typed:
    """The JS for `node` and its type; raises TypeProblem at the first problem."""
    if isinstance(node, ex.Num):
        return Typed(NUMBER, number_js(node.value))
    if isinstance(node, ex.Str):
        return Typed(TEXT, literal(node.value))
    if isinstance(node, ex.Bool):
        return Typed(FLAG, "true" if node.value else "false")
    if isinstance(node, ex.Name):
        return _name(node, scope)
    if isinstance(node, ex.ListLit):
        return _list(node, scope)
    if isinstance(node, ex.Unary):
        operand = translate(node.operand, scope)
        if node.op == "-":
            _expect(operand, NUMBER, node.operand.col, "'-' needs a number")
            return Typed(NUMBER, f"(-{operand.js})")
        _expect(operand, FLAG, node.operand.col, "'not' needs a flag")
        return Typed(FLAG, f"(!{operand.js})")
    if isinstance(node, ex.Binary):
        return _binary(node, scope)
    if isinstance(node, ex.Cond):
        return _cond(node, scope)
    if isinstance(node, ex.Call):
        return _call(node, scope)
    if isinstance(node, ex.Attr):
        return _attr(node, scope)
    if isinstance(node, ex.Subscript):
        return _index(node, scope)
    raise TypeProblem(f"unsupported expression {type(node).__name__}", node.col)


def _expect(value: Typed, want: Type, col: int, message: str) -> None:
    if value.type != want:
        raise TypeProblem(f"{message}, but this is {value.type.describe()}", col)


def _name(node: ex.Name, scope: Scope) -> Typed:
    found = scope.names.get(node.name)
    if found is not None:
        return found
    if node.name in FUNCTIONS:
        raise TypeProblem(f"{node.name} is a function: write {signature(node.name)}", node.col)
    owner = scope.fields_of.get(node.name)
    if owner is not None:
        raise TypeProblem(f"{node.name!r} is a field of the list {owner!r}: outside that list's rows write "
                          f"{owner}[i].{node.name} or {owner}.{node.name}", node.col)
    raise TypeProblem(f"unknown name {node.name!r}{did_you_mean(node.name, scope.names)}", node.col,
                      node.name, closest(node.name, scope.names))


def _list(node: ex.ListLit, scope: Scope) -> Typed:
    items = [translate(item, scope) for item in node.items]
    kinds = {item.type for item in items}
    if len(kinds) > 1:
        raise TypeProblem("the items of a list must all be numbers, all texts or all flags", node.col)
    element = items[0].type if items else None
    if element is not None and not element.scalar:
        raise TypeProblem(f"a list literal holds numbers, texts or flags, not {element.describe()}", node.col)
    return Typed(Type("values", elem=element), "[" + ", ".join(item.js for item in items) + "]")


_ARITHMETIC = {"-": "-", "*": "*", "/": "/", "%": "%"}
_EQUALITY = {"==": "===", "!=": "!=="}


def _binary(node: ex.Binary, scope: Scope) -> Typed:
    left, right = translate(node.left, scope), translate(node.right, scope)
    op = node.op
    if op == "+":
        if left.type == NUMBER and right.type == NUMBER:
            return Typed(NUMBER, f"({left.js} + {right.js})")
        if TEXT in (left.type, right.type):
            return Typed(TEXT, f"({show(left, scope, node.left.col)} + {show(right, scope, node.right.col)})")
        raise TypeProblem(f"'+' adds numbers or joins texts, not {left.type.describe()} and "
                          f"{right.type.describe()}", node.col)
    if op in _ARITHMETIC or op == "**":
        for side, sub in ((left, node.left), (right, node.right)):
            _expect(side, NUMBER, sub.col, f"'{op}' needs numbers")
        if op == "**":
            return Typed(NUMBER, f"Math.pow({left.js}, {right.js})")
        return Typed(NUMBER, f"({left.js} {op} {right.js})")
    if op in ("and", "or"):
        for side, sub in ((left, node.left), (right, node.right)):
            _expect(side, FLAG, sub.col, f"'{op}' needs flags (true/false) on both sides")
        return Typed(FLAG, f"({left.js} {'&&' if op == 'and' else '||'} {right.js})")
    # comparisons
    if not (left.type.scalar and left.type == right.type):
        hint = " (use num(...) or text(...) to convert one side)" if {left.type.kind, right.type.kind} == {
            "number", "text"} else ""
        raise TypeProblem(f"'{op}' compares two values of the same kind, not {left.type.describe()} and "
                          f"{right.type.describe()}{hint}", node.col)
    if op not in _EQUALITY and left.type == FLAG:
        raise TypeProblem(f"'{op}' orders numbers or texts, not flags", node.col)
    return Typed(FLAG, f"({left.js} {_EQUALITY.get(op, op)} {right.js})")


def _cond(node: ex.Cond, scope: Scope) -> Typed:
    test = translate(node.test, scope)
    _expect(test, FLAG, node.test.col, "the condition must be a flag (true/false)")
    then, other = translate(node.then, scope), translate(node.other, scope)
    if then.type == other.type:
        return Typed(then.type, f"({test.js} ? {then.js} : {other.js})")
    if TEXT in (then.type, other.type) and then.type.scalar and other.type.scalar:
        return Typed(TEXT, f"({test.js} ? {show(then, scope, node.then.col)} : "
                           f"{show(other, scope, node.other.col)})")
    raise TypeProblem(f"both branches must give the same kind of value, not {then.type.describe()} and "
                      f"{other.type.describe()}", node.col)


def _call(node: ex.Call, scope: Scope) -> Typed:
    function = FUNCTIONS.get(node.name)
    if function is None:
        raise TypeProblem(f"unknown function {node.name!r}{did_you_mean(node.name, FUNCTIONS)}", node.col)
    args = list(node.args)
    params = function.params
    variadic = bool(params) and params[-1].endswith("*")
    required = sum(1 for p in params if not p.endswith(("?", "*")))
    if len(args) < required or (not variadic and len(args) > len(params)):
        raise TypeProblem(f"{node.name} takes {_arity(function)}, got {len(args)}: {signature(node.name)}",
                          node.col)
    if variadic and not args:
        raise TypeProblem(f"{node.name} needs at least one value: {signature(node.name)}", node.col)
    js: list[str] = []
    first: Type | None = None
    if variadic and len(args) == 1:  # min(list.column)
        value = translate(args[0], scope)
        first = value.type
        column = coerce(value, values_of(NUMBER), scope, args[0].col, f"the argument of {node.name}")
        js.append(f"...{column}")
    else:
        for at, arg in enumerate(args):
            kind = params[min(at, len(params) - 1)].rstrip("?*")
            text, arg_type = _argument(kind, arg, scope, node.name, at)
            first = arg_type if at == 0 else first
            js.append(text)
    scope.needs.sdk.update(function.sdk)
    scope.needs.helpers.update(function.helpers)
    return Typed(result_type(function, first), function.emit(js))


def _arity(function: Function) -> str:
    required = sum(1 for p in function.params if not p.endswith(("?", "*")))
    total = len(function.params)
    if any(p.endswith("*") for p in function.params):
        return "one or more values"
    if required == total:
        return f"{total} argument{'s' if total != 1 else ''}"
    return f"{required} to {total} arguments"


def _argument(kind: str, arg: ex.Expr, scope: Scope, name: str, at: int) -> tuple[str, Type]:
    what = f"argument {at + 1} of {name}"
    if kind == "zone":
        if not isinstance(arg, ex.Str):
            raise TypeProblem(f"{what} must be a quoted city or time zone such as 'Tokyo'", arg.col)
        iana = zones.resolve(arg.value)
        if iana is None:
            raise TypeProblem(f"unknown time zone {arg.value!r}: use a city such as 'London' or 'Tokyo', or "
                              "a zone such as 'Europe/Paris'", arg.col)
        return literal(iana), TEXT
    value = translate(arg, scope)
    if kind == "scalar":
        if not value.type.scalar:
            raise TypeProblem(f"{what} must be a number, text or flag, not {value.type.describe()}", arg.col)
        return value.js, value.type
    if kind == "sized":
        if value.type.kind not in ("text", "list", "values"):
            raise TypeProblem(f"{what} must be a text or a list, not {value.type.describe()}", arg.col)
        return value.js, value.type
    if kind == "column":
        element = value.type.element()
        if element is None or not element.scalar:
            raise TypeProblem(f"{what} must be a list of numbers, texts or flags (a column such as "
                              f"items.name), not {value.type.describe()}", arg.col)
        return project(value, arg.col).js, values_of(element)
    if kind.startswith("values"):
        inner = kind.partition(":")[2]
        want = values_of(Type(inner)) if inner else Type("values")
        if not value.type.listlike:
            raise TypeProblem(f"{what} must be a list, not {value.type.describe()}", arg.col)
        if not inner:
            return value.js, value.type
        return coerce(value, want, scope, arg.col, what), want
    return coerce(value, Type(kind), scope, arg.col, what), Type(kind)


def _attr(node: ex.Attr, scope: Scope) -> Typed:
    obj = translate(node.obj, scope)
    kind = obj.type
    if kind.kind not in ("list", "record"):
        hint = " (write len(...) for a length)" if node.name in ("length", "len", "size", "count") else ""
        raise TypeProblem(f"{kind.describe()} has no field {node.name!r}; only lists and rows have "
                          f"fields{hint}", node.col)
    found = kind.field(node.name)
    if found is None:
        hint = " (write len(...) for a length)" if node.name in ("length", "len", "size", "count") else ""
        raise TypeProblem(f"no field {node.name!r}{did_you_mean(node.name, kind.field_names()) or hint}; "
                          f"the fields are {', '.join(kind.field_names())}", node.col)
    if kind.kind == "record":
        return Typed(found, f"{obj.js}.{node.name}")
    return Typed(values_of(found), f"{obj.js}.map((_r) => _r.{node.name})")


def _index(node: ex.Subscript, scope: Scope) -> Typed:
    obj, index = translate(node.obj, scope), translate(node.index, scope)
    _expect(index, NUMBER, node.index.col, "an index must be a number")
    kind = obj.type
    at = f"Math.floor({index.js})"
    if kind.kind == "list":
        return Typed(kind.row(), f"({obj.js}[{at}] ?? {empty_record(kind)})")
    if kind.kind == "values" and kind.elem is not None:
        return Typed(kind.elem, f"({obj.js}[{at}] ?? {EMPTY_JS[kind.elem.kind]})")
    if kind.kind == "text":
        return Typed(TEXT, f"{obj.js}.charAt({at})")
    raise TypeProblem(f"{kind.describe()} cannot be indexed with [...]", node.col)


def translate_rows(node: ex.Expr, kind: Type, scope: Scope) -> str:
    """The JS rows of a list's initial value: a list literal whose items are rows written as lists in
    field order (['Paris', 'France']) or, to fill only the first field, plain values ('milk')."""
    if not isinstance(node, ex.ListLit):
        value = translate(node, scope)
        return coerce(value, kind, scope, node.col, "the initial value")
    rows: list[str] = []
    for item in node.items:
        cells = item.items if isinstance(item, ex.ListLit) else (item,)
        if len(cells) > len(kind.fields):
            raise TypeProblem(f"this row has {len(cells)} values but the list has {len(kind.fields)} fields "
                              f"({', '.join(kind.field_names())})", item.col)
        parts = []
        for at, (name, field_type) in enumerate(kind.fields):
            if at < len(cells):
                value = translate(cells[at], scope)
                parts.append(f"{name}: {coerce(value, field_type, scope, cells[at].col, f'field {name!r}')}")
            else:
                parts.append(f"{name}: {EMPTY_JS[field_type.kind]}")
        rows.append("{ " + ", ".join(parts) + " }")
    return "[" + ", ".join(rows) + "]"
