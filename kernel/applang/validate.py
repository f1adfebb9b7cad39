"""Semantic validation: every binding, type and expression of a document, every error located.

The checks run the same translation the compiler runs (translate.py), so a document that validates
compiles, and an expression that fails here is never turned into code. All errors are collected, not
just the first, because the repair loop feeds them all back at once.
"""

from __future__ import annotations

from collections.abc import Callable

from llmos.kernel.applang import expressions as ex
from llmos.kernel.applang.document import MESSAGE_ACTIONS, Action, Document, StateVar, Timer, Widget
from llmos.kernel.applang.errors import LocatedError, closest, did_you_mean
from llmos.kernel.applang.names import field_name_problem, state_name_problem
from llmos.kernel.applang.translate import (
    Scope,
    Typed,
    TypeProblem,
    coerce,
    show,
    translate,
    translate_rows,
)
from llmos.kernel.applang.types import DRAWING, FLAG, NUMBER, TEXT, Type, list_of, scalar

KIND_WORDS = {"number": "a number", "text": "a text", "flag": "a flag (true/false)", "list": "a list",
              "drawing": "a drawing"}
DEFAULT_FIELDS = (("text", TEXT),)  # a list declared without fields holds one text per row
SLIDER_LIMIT = 1_000_000


def var_type(var: StateVar) -> Type:
    if var.type == "list":
        fields = tuple((f.name, scalar(f.type)) for f in var.fields) or DEFAULT_FIELDS
        return list_of(fields)
    if var.type == "drawing":
        return DRAWING
    return scalar(var.type)


def state_scope(document: Document) -> Scope:
    """The names every expression sees: the state variables, as the JS identifiers of the same name."""
    names = {var.name: Typed(var_type(var), var.name) for var in document.state}
    fields_of: dict[str, str] = {}
    for var in document.state:
        for field_name in var_type(var).field_names():
            fields_of.setdefault(field_name, var.name)
    return Scope(names, fields_of=fields_of)


def row_scope(scope: Scope, kind: Type, row: str) -> Scope:
    """Inside a list's rows the fields of the row are names too (shadowing state of the same name)."""
    return scope.with_names({name: Typed(t, f"{row}.{name}") for name, t in kind.fields})


def constant(text: str) -> float | None:
    """The number a constant expression ('10', '-5', '0.5') stands for, else None."""
    try:
        node = ex.parse_expression(text)
    except ex.ExprSyntaxError:
        return None
    sign = 1.0
    if isinstance(node, ex.Unary) and node.op == "-":
        sign, node = -1.0, node.operand
    return sign * node.value if isinstance(node, ex.Num) else None


class Validator:
    def __init__(self, document: Document) -> None:
        self.document = document
        self.errors: list[LocatedError] = []
        self.scope = state_scope(document)
        self.types = {var.name: var_type(var) for var in document.state}

    def fail(self, path: str, message: str, column: int = 0) -> None:
        self.errors.append(LocatedError(path, message, column))

    def expression(self, text: str | None, path: str, scope: Scope,
                   use: Callable[[Typed, ex.Expr], None] | None = None) -> Typed | None:
        """Parse and translate one expression; `use` checks how the value is used (its type)."""
        if text is None:
            return None
        try:
            node = ex.parse_expression(text)
            typed = translate(node, scope)
            if use is not None:
                use(typed, node)
            return typed
        except ex.ExprSyntaxError as error:
            self.fail(path, error.message, error.column)
        except TypeProblem as problem:
            self.errors.append(LocatedError(path, problem.message, problem.col, problem.unknown,
                                            problem.suggestion))
        return None

    def expect(self, want: Type, what: str) -> Callable[[Typed, ex.Expr], None]:
        def use(typed: Typed, node: ex.Expr) -> None:
            coerce(typed, want, self.scope, node.col, what)
        return use

    def showable(self, scope: Scope) -> Callable[[Typed, ex.Expr], None]:
        def use(typed: Typed, node: ex.Expr) -> None:
            show(typed, scope, node.col)
        return use

    def variable(self, name: str, path: str, kinds: tuple[str, ...], what: str) -> Type | None:
        """The type of state variable `name`, which must be of one of `kinds`."""
        kind = self.types.get(name)
        if kind is None:
            self.errors.append(LocatedError(path, f"unknown state variable {name!r}"
                                                  f"{did_you_mean(name, self.types)}; declare it in state",
                                            0, name, closest(name, self.types)))
            return None
        if kind.kind not in kinds:
            wanted = " or ".join(KIND_WORDS[k] for k in kinds)
            self.fail(path, f"{what} needs {wanted} variable, but {name!r} is {kind.describe()}")
            return None
        return kind

    # -- state -----------------------------------------------------------------------------------
    def state(self) -> None:
        seen: set[str] = set()
        for var in self.document.state:
            problem = state_name_problem(var.name)
            if problem:
                self.fail(f"{var.path}.name", problem)
            if var.name in seen:
                self.fail(f"{var.path}.name", f"{var.name!r} is declared twice")
            seen.add(var.name)
            if var.fields and var.type != "list":
                self.fail(f"{var.path}.fields", f"only a list has fields, and {var.name!r} is a {var.type}")
            field_names: set[str] = set()
            for i, field in enumerate(var.fields):
                problem = field_name_problem(field.name)
                if problem:
                    self.fail(f"{var.path}.fields[{i}].name", problem)
                if field.name in field_names:
                    self.fail(f"{var.path}.fields[{i}].name", f"field {field.name!r} is declared twice")
                field_names.add(field.name)
            if var.keep == "daily" and var.type == "drawing":
                self.fail(f"{var.path}.keep", "a drawing cannot start afresh each day; use keep 'yes'")
            if var.init is not None:
                self.init(var)

    def init(self, var: StateVar) -> None:
        path = f"{var.path}.init"
        if var.type == "drawing":
            self.fail(path, "a drawing starts empty and takes no init")
            return
        kind = self.types[var.name]
        try:
            node = ex.parse_expression(var.init or "")
            used = sorted(ex.names_in(node) & set(self.types))
            if used:
                self.fail(path, f"an initial value cannot use state ({', '.join(used)}); give a constant")
                return
            if kind.kind == "list":
                translate_rows(node, kind, self.scope)
            else:
                coerce(translate(node, self.scope), kind, self.scope, node.col, "the initial value")
        except ex.ExprSyntaxError as error:
            self.fail(path, error.message, error.column)
        except TypeProblem as problem:
            self.fail(path, problem.message, problem.col)

    # -- view ------------------------------------------------------------------------------------
    def widget(self, widget: Widget) -> None:
        getattr(self, f"_{widget.kind}")(widget)
        self.expression(widget.get("if"), f"{widget.path}.if", self.scope, self.expect(FLAG, "'if'"))

    def _text(self, widget: Widget) -> None:
        self.expression(widget.get("value"), f"{widget.path}.value", self.scope, self.showable(self.scope))

    def _input(self, widget: Widget) -> None:
        self.variable(widget.get("var"), f"{widget.path}.var", ("number", "text"), "an input")
        self.actions(widget.do)

    def _button(self, widget: Widget) -> None:
        self.actions(widget.do)

    def _check(self, widget: Widget) -> None:
        self.variable(widget.get("var"), f"{widget.path}.var", ("flag",), "a check box")

    def _slider(self, widget: Widget) -> None:
        self.variable(widget.get("var"), f"{widget.path}.var", ("number",), "a slider")
        bounds = {}
        for key in ("min", "max", "step"):
            text = widget.get(key)
            if text is None:
                continue
            value = constant(text)
            if value is None or abs(value) > SLIDER_LIMIT:
                self.fail(f"{widget.path}.{key}", f"a slider's {key} must be a plain number such as '0' or "
                                                  f"'100' (at most {SLIDER_LIMIT:,})")
            else:
                bounds[key] = value
        if "min" in bounds and "max" in bounds and bounds["max"] <= bounds["min"]:
            self.fail(f"{widget.path}.max", f"max ({bounds['max']:g}) must be greater than min "
                                            f"({bounds['min']:g})")
        if bounds.get("step", 1) <= 0:
            self.fail(f"{widget.path}.step", "step must be greater than 0")

    def _list(self, widget: Widget) -> None:
        kind = self.variable(widget.get("var"), f"{widget.path}.var", ("list",), "a list widget")
        if kind is None:
            return
        rows = row_scope(self.scope, kind, "_row")
        self.expression(widget.get("row"), f"{widget.path}.row", rows, self.showable(rows))
        self.expression(widget.get("where"), f"{widget.path}.where", rows, self.expect(FLAG, "'where'"))
        check = widget.get("check")
        if check is not None:
            field = kind.field(check)
            if field is None:
                self.fail(f"{widget.path}.check", f"{widget.get('var')!r} has no field {check!r}"
                                                  f"{did_you_mean(check, kind.field_names())}; its fields "
                                                  f"are {', '.join(kind.field_names())}")
            elif field != FLAG:
                self.fail(f"{widget.path}.check", f"'check' needs a flag field, and {check!r} is "
                                                  f"{field.describe()}")

    def _canvas(self, widget: Widget) -> None:
        if widget.get("var") is not None:
            self.variable(widget.get("var"), f"{widget.path}.var", ("drawing",), "a paint canvas")
        for key, kind in (("color", TEXT), ("fill", TEXT), ("brush", NUMBER)):
            self.expression(widget.get(key), f"{widget.path}.{key}", self.scope,
                            self.expect(kind, f"'{key}'"))

    def _row(self, widget: Widget) -> None:
        for item in widget.items:
            self.widget(item)

    # -- actions ---------------------------------------------------------------------------------
    def actions(self, actions: tuple[Action, ...]) -> None:
        for action in actions:
            self.action(action)
            self.expression(action.get("if"), f"{action.path}.if", self.scope, self.expect(FLAG, "'if'"))

    def action(self, action: Action) -> None:
        op, path, target = action.op, action.path, action.target
        if op in MESSAGE_ACTIONS:
            self.expression(action.get(op), f"{path}.{op}", self.scope, self.showable(self.scope))
            return
        kinds = {"set": ("number", "text", "flag", "list"), "add": ("list",), "edit": ("list",),
                 "remove": ("list",), "toggle": ("flag",),
                 "clear": ("number", "text", "flag", "list", "drawing")}[op]
        kind = self.variable(target, f"{path}.{op}", kinds, f"'{op}'")
        if kind is None:
            return
        if op == "set":
            self.expression(action.get("to"), f"{path}.to", self.scope,
                            self.expect(kind, f"the new {target}"))
        elif op in ("edit", "remove"):
            self.expression(action.get("at"), f"{path}.at", self.scope, self.expect(NUMBER, "'at'"))
        if op == "edit":
            field = kind.field(action.get("field"))
            if field is None:
                self.fail(f"{path}.field", f"{target!r} has no field {action.get('field')!r}"
                                           f"{did_you_mean(action.get('field'), kind.field_names())}; its "
                                           f"fields are {', '.join(kind.field_names())}")
            else:
                self.expression(action.get("to"), f"{path}.to", self.scope,
                                self.expect(field, f"field {action.get('field')!r}"))
        if op == "add":
            items = action.get("item")
            if len(items) > len(kind.fields):
                self.fail(f"{path}.item", f"{len(items)} values for a list with {len(kind.fields)} fields "
                                          f"({', '.join(kind.field_names())}); give them in that order")
            for at, (text, (name, field_type)) in enumerate(zip(items, kind.fields, strict=False)):
                self.expression(text, f"{path}.item[{at}]", self.scope,
                                self.expect(field_type, f"field {name!r}"))

    def timer(self, timer: Timer) -> None:
        self.expression(timer.every, f"{timer.path}.every", self.scope, self.expect(NUMBER, "'every'"))
        self.expression(timer.when, f"{timer.path}.while", self.scope, self.expect(FLAG, "'while'"))
        every = constant(timer.every)
        if every is not None and every < 50:
            self.fail(f"{timer.path}.every", "'every' is in milliseconds and must be at least 50 "
                                             "(1000 is one second)")
        self.actions(timer.do)

    def run(self) -> list[LocatedError]:
        if not self.document.title.strip():
            self.fail("title", "the app needs a title")
        self.state()
        if not self.document.view:
            self.fail("view", "the app needs at least one widget")
        for widget in self.document.view:
            self.widget(widget)
        for timer in self.document.timers:
            self.timer(timer)
        return self.errors


def validate(document: Document) -> list[LocatedError]:
    """Every semantic error of a structurally read document (an unsupported answer has none)."""
    if document.unsupported is not None:
        return []
    return Validator(document).run()
