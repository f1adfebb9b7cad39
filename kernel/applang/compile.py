"""A validated document -> idiomatic SDK TypeScript, deterministically.

The output imports only from '@llm-os/sdk' and exports `default function App()`. State becomes
`ui.useState` (or `storage.useLocal` when kept), timers `timer.useInterval`, and every expression is
the checked translation from translate.py. Handlers run their actions in order on local copies
(`nextCount`), so a later action sees an earlier one's effect, then call each setter once.
Model text reaches the code only as JSON-escaped string literals or as names the validator accepted.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmos.kernel.applang import expressions as ex
from llmos.kernel.applang.document import Action, Document, StateVar, Timer, Widget
from llmos.kernel.applang.errors import DocumentError
from llmos.kernel.applang.functions import literal
from llmos.kernel.applang.helpers import HELPERS, closure, sdk_of
from llmos.kernel.applang.names import Allocator, setter
from llmos.kernel.applang.translate import Scope, Typed, coerce, show, translate, translate_rows
from llmos.kernel.applang.types import EMPTY_JS, FLAG, NUMBER, TEXT, Type
from llmos.kernel.applang.validate import constant, row_scope, state_scope, validate, var_type

SDK_MODULE = "@llm-os/sdk"
SDK_ORDER = ("ui", "storage", "timer", "clipboard", "clock", "random", "format")
CANVAS_SIZES = {"sm": (160, 100), "md": (320, 200), "lg": (400, 300), "xl": (480, 400)}
MAX_POINTS = 4000
REFRESH_MS = 1000


@dataclass(frozen=True)
class CompiledApp:
    code: str
    title: str
    scopes: tuple[str, ...]  # the capabilities the code uses, for the manifest


def ts_type(kind: Type) -> str:
    if kind.kind == "list":
        return "{ " + "; ".join(f"{name}: {ts_type(t)}" for name, t in kind.fields) + " }[]"
    if kind.kind == "drawing":
        return "_Point[]"
    return {"number": "number", "text": "string", "flag": "boolean"}[kind.kind]


def _indent(lines: list[str], by: int) -> list[str]:
    return [" " * by + line for line in lines]


class Compiler:
    def __init__(self, document: Document) -> None:
        self.doc = document
        self.scope = state_scope(document)
        self.needs = self.scope.needs
        self.types = {var.name: var_type(var) for var in document.state}
        taken = set(self.types) | {setter(name) for name in self.types}
        self.names = Allocator(taken)
        self.hooks: list[str] = []
        self.after_hooks: list[str] = []
        self.namespaces: set[str] = {"ui"}
        self.scopes: set[str] = {"ui:window"}
        self.next_names: dict[str, str] = {}
        self.shadows: dict[str, tuple[str, str]] = {}  # input widget path -> (text state, its setter)
        self.temp = 0
        self.input_vars = {w.get("var") for w in self._all_widgets() if w.kind == "input"}
        self.today: str | None = None

    def _all_widgets(self) -> list[Widget]:
        return [w for top in self.doc.view for w in (top, *top.items)]

    # -- expressions ---------------------------------------------------------------------------
    def expr(self, text: str, scope: Scope | None = None) -> Typed:
        return translate(ex.parse_expression(text), scope or self.scope)

    def typed(self, text: str, want: Type, scope: Scope | None = None) -> str:
        node = ex.parse_expression(text)
        return coerce(translate(node, scope or self.scope), want, scope or self.scope, node.col)

    def shown(self, text: str, scope: Scope | None = None) -> str:
        node = ex.parse_expression(text)
        return show(translate(node, scope or self.scope), scope or self.scope, node.col)

    def initial(self, var: StateVar) -> str:
        kind = self.types[var.name]
        if var.init is None:
            return "[]" if kind.kind in ("list", "drawing") else EMPTY_JS[kind.kind]
        node = ex.parse_expression(var.init)
        if kind.kind == "list":
            return translate_rows(node, kind, self.scope)
        return coerce(translate(node, self.scope), kind, self.scope, node.col)

    # -- state ---------------------------------------------------------------------------------
    def state(self) -> None:
        for var in self.doc.state:
            kind = self.types[var.name]
            pair = f"[{var.name}, {setter(var.name)}]"
            generic = f"<{ts_type(kind)}>" if kind.kind in ("list", "drawing") else ""
            if var.keep is None:
                self.hooks.append(f"const {pair} = ui.useState{generic}({self.initial(var)});")
            elif var.keep == "yes":
                self.use_storage()
                self.hooks.append(f"const {pair} = storage.useLocal{generic}({literal(var.name)}, "
                                  f"{self.initial(var)});")
            else:
                self.daily(var, kind)
        for widget in self._all_widgets():
            name = widget.get("var")
            if widget.kind == "input" and self.types.get(name) == NUMBER:
                text = self.names.take(f"{name}Text")
                self.shadows[widget.path] = (text, setter(text))
                self.hooks.append(f"const [{text}, {setter(text)}] = ui.useState('');")

    def use_storage(self) -> None:
        self.namespaces.add("storage")
        self.scopes.add("storage:local")

    def daily(self, var: StateVar, kind: Type) -> None:
        """A value that starts afresh each day: stored with its date; a list keeps its rows but clears
        their flags (a habit list's check marks)."""
        self.use_storage()
        self.namespaces.add("clock")
        if self.today is None:
            self.today = self.names.take("today")
            self.hooks.append(f"const {self.today} = clock.today();")
        saved = self.names.take(f"{var.name}Saved")
        initial = self.initial(var)
        self.hooks.append(f"const [{saved}, {setter(saved)}] = storage.useLocal<{{ day: string; value: "
                          f"{ts_type(kind)} }}>({literal(var.name)}, {{ day: '', value: {initial} }});")
        if kind.kind == "list":
            flags = [name for name, t in kind.fields if t == FLAG]
            fresh = (f"{saved}.value.map((_r) => ({{ ..._r, {', '.join(f'{f}: false' for f in flags)} }}))"
                     if flags else f"{saved}.value")
        else:
            fresh = initial
        self.hooks.append(f"const {var.name} = {saved}.day === {self.today} ? {saved}.value : {fresh};")
        self.hooks.append(f"const {setter(var.name)} = (value: {ts_type(kind)}) => "
                          f"{setter(saved)}({{ day: clock.today(), value }});")

    # -- handlers ------------------------------------------------------------------------------
    def handler(self, actions: tuple[Action, ...], params: str = "") -> str:
        """An arrow function running `actions` in order."""
        if len(actions) == 1 and actions[0].get("if") is None and actions[0].op in ("set", "toggle", "clear"):
            action = actions[0]
            return f"({params}) => {setter(action.target)}({self.new_value(action, self.scope)})"
        written: list[str] = []
        for action in actions:
            targets = [action.target] if action.target else []
            if action.op == "add":
                targets += self.cleared_inputs(action)
            for target in targets:
                if target not in written:
                    written.append(target)
        local = {name: self.next_name(name) for name in written}
        scope = self.scope.with_names({name: Typed(self.types[name], local[name]) for name in written})
        body = [f"let {local[name]} = {name};" for name in written]
        self.temp = 0
        for action in actions:
            statements = self.action(action, scope, local)
            condition = action.get("if")
            if condition is not None:
                statements = [f"if ({self.typed(condition, FLAG, scope)}) {{", *_indent(statements, 2), "}"]
            body.extend(statements)
        body.extend(f"{setter(name)}({local[name]});" for name in written)
        inner = "\n".join(_indent(body, 2))
        return f"({params}) => {{\n{inner}\n}}"

    def next_name(self, name: str) -> str:
        if name not in self.next_names:
            self.next_names[name] = self.names.take("next" + name[0].upper() + name[1:])
        return self.next_names[name]

    def cleared_inputs(self, action: Action) -> list[str]:
        """Input variables an 'add' takes a value from as they are: emptied once the row is added."""
        out = []
        for text in action.get("item"):
            node = ex.parse_expression(text)
            if isinstance(node, ex.Name) and node.name in self.input_vars and node.name in self.types:
                out.append(node.name)
        return out

    def new_value(self, action: Action, scope: Scope) -> str:
        """The value a set / toggle / clear gives its variable."""
        kind = self.types[action.target]
        if action.op == "set":
            return self.typed(action.get("to"), kind, scope)
        if action.op == "toggle":
            return f"!{scope.names[action.target].js}"
        return self.reset_value(action.target)

    def tmp(self, base: str) -> str:
        self.temp += 1
        return f"_{base}{self.temp}"

    def action(self, action: Action, scope: Scope, local: dict[str, str]) -> list[str]:
        op, target = action.op, action.target
        if op == "notify":
            self.scopes.add("notify")
            return [f"ui.notify({self.shown(action.get('notify'), scope)});"]
        if op == "copy":
            self.scopes.add("clipboard:write")
            self.namespaces.add("clipboard")
            return [f"clipboard.write({self.shown(action.get('copy'), scope)}).catch(() => {{}});"]
        if op in ("set", "toggle", "clear"):
            return [f"{local[target]} = {self.new_value(action, scope)};"]
        if op == "add":
            return self.add(action, scope, local)
        name = local[target]
        at = self.tmp("at")
        lines = [f"const {at} = Math.floor({self.typed(action.get('at'), NUMBER, scope)});"]
        if op == "remove":
            return [*lines, f"{name} = {name}.filter((_r, _i) => _i !== {at});"]
        field = action.get("field")
        value = self.tmp("value")
        field_type = self.types[target].field(field)
        assert field_type is not None
        return [*lines, f"const {value} = {self.typed(action.get('to'), field_type, scope)};",
                f"{name} = {name}.map((_r, _i) => (_i === {at} ? {{ ..._r, {field}: {value} }} : _r));"]

    def add(self, action: Action, scope: Scope, local: dict[str, str]) -> list[str]:
        """Append a row; skipped when every text value is blank (a row needs one, but a second field,
        such as a book's author or a gift's recipient, may be left empty). The inputs it took values
        from are emptied."""
        name, item = local[action.target], self.tmp("row")
        values: list[str] = action.get("item")
        cells, blank_checks = [], []
        for at, (field, field_type) in enumerate(self.types[action.target].fields):
            if at >= len(values):
                cells.append(f"{field}: {EMPTY_JS[field_type.kind]}")
                continue
            value = self.typed(values[at], field_type, scope)
            if field_type == TEXT:
                value = f"{value}.trim()"
                blank_checks.append(f"{item}.{field} !== ''")
            cells.append(f"{field}: {value}")
        cleared = [f"{local[var]} = {self.reset_value(var)};" for var in self.cleared_inputs(action)]
        added = [f"{name} = [...{name}, {item}];", *cleared]
        lines = [f"const {item} = {{ {', '.join(cells)} }};"]
        if blank_checks:
            return [*lines, f"if ({' || '.join(blank_checks)}) {{", *_indent(added, 2), "}"]
        return lines + added

    def reset_value(self, name: str) -> str:
        var = self.doc.var(name)
        assert var is not None
        return self.initial(var)

    # -- view ----------------------------------------------------------------------------------
    def widget(self, widget: Widget) -> str:
        node: str = getattr(self, f"_{widget.kind}")(widget)
        condition = widget.get("if")
        if condition is not None:
            return f"{self.typed(condition, FLAG)} ? {node} : null"
        return node

    def _text(self, widget: Widget) -> str:
        label, value = widget.get("label"), widget.get("value")
        size = widget.get("size") or ("lg" if value is not None else "md")
        if value is None:
            content = literal(label)
        elif label is None:
            content = self.shown(value)
        else:
            content = f"{literal(label + ': ')} + {self.shown(value)}"
        return f"ui.Text({{ size: '{size}' }}, {content})"

    def _input(self, widget: Widget) -> str:
        name = widget.get("var")
        label = literal(widget.get("label"))
        submit = f", onSubmit: {self.handler(widget.do)}" if widget.do else ""
        if widget.path in self.shadows:
            self.needs.helpers.add("_num")
            self.needs.sdk.add("format")
            text, set_text = self.shadows[widget.path]
            value = (f"_num({text}) === {name} ? {text} : ({name} === 0 ? '' : "
                     f"format.number({name}, {{ maxDecimals: 6 }}))")
            change = f"(text: string) => {{ {set_text}(text); {setter(name)}(_num(text)); }}"
        else:
            value, change = name, setter(name)
        field = f"ui.TextInput({{ value: {value}, placeholder: {label}, onChange: {change}{submit} }})"
        return f"ui.Row([ui.Text({label}), {field}])"

    def _button(self, widget: Widget) -> str:
        return f"ui.Button({{ onClick: {self.handler(widget.do)} }}, {literal(widget.get('label'))})"

    def _check(self, widget: Widget) -> str:
        name = widget.get("var")
        return (f"ui.Checkbox({{ checked: {name}, label: {literal(widget.get('label'))}, "
                f"onChange: {setter(name)} }})")

    def _slider(self, widget: Widget) -> str:
        name = widget.get("var")
        bounds = {key: constant(widget.get(key)) for key in ("min", "max", "step") if widget.get(key)}
        props = ", ".join(f"{key}: {self.typed(widget.get(key), NUMBER)}" for key in bounds)
        slider = f"ui.Slider({{ value: {name}, {props}, onChange: {setter(name)} }})"
        label = widget.get("label")
        if label is None:
            return slider
        self.needs.sdk.add("format")
        return f"ui.Column([ui.Text({literal(label + ': ')} + format.number({name})), {slider}])"

    def _list(self, widget: Widget) -> str:
        name = widget.get("var")
        kind = self.types[name]
        rows = row_scope(self.scope, kind, "_row")
        if widget.get("row") is not None:
            text = self.shown(widget.get("row"), rows)
        else:
            shown = [show(rows.names[f], rows, 0) for f, t in kind.fields if t != FLAG] or ["''"]
            text = " + ' - ' + ".join(shown)
        check = widget.get("check")
        parts = []
        if check is not None:
            change = (f"(on: boolean) => {setter(name)}({name}.map((_r, _i) => (_i === _at ? "
                      f"{{ ..._r, {check}: on }} : _r)))")
            parts.append(f"ui.Checkbox({{ checked: _row.{check}, label: {text}, onChange: {change} }})")
        else:
            parts.append(f"ui.Text({text})")
        if widget.get("delete"):
            remove = f"() => {setter(name)}({name}.filter((_r, _i) => _i !== _at))"
            parts.append(f"ui.Button({{ onClick: {remove} }}, 'Delete')")
        row = f"ui.Row({{ key: String(_at) }}, [{', '.join(parts)}])"
        where = widget.get("where")
        if where is not None:
            row = f"{self.typed(where, FLAG, rows)} ? {row} : null"
        return f"ui.List({{}}, {name}.map((_row, _at) => {row}))"

    def _canvas(self, widget: Widget) -> str:
        width, height = CANVAS_SIZES[widget.get("size") or "md"]
        self.needs.helpers.add("_color")
        fill = self.typed(widget.get("fill"), TEXT) if widget.get("fill") else "'#ffffff'"
        commands = f"['clear', _color({fill})]"
        name = widget.get("var")
        if name is None:
            return f"ui.Canvas({{ width: {width}, height: {height}, commands: [{commands}] }})"
        self.needs.helpers.add("_strokes")
        color = self.typed(widget.get("color"), TEXT) if widget.get("color") else "'#000000'"
        brush = self.typed(widget.get("brush"), NUMBER) if widget.get("brush") else "4"
        point = f"{{ x: e.x, y: e.y, c: {color}, w: {brush}, s: e.type === 'down' }}"
        grow = f"(points) => (points.length >= {MAX_POINTS} ? points : [...points, {point}])"
        event = "e: { type: string; x: number; y: number }"
        paint = f"({event}) => {{ if (e.type !== 'up') {setter(name)}({grow}); }}"
        drawn = f"[{commands}, ..._strokes({name})]"
        return f"ui.Canvas({{ width: {width}, height: {height}, commands: {drawn}, onPointer: {paint} }})"

    def _row(self, widget: Widget) -> str:
        return f"ui.Row([{', '.join(self.widget(item) for item in widget.items)}])"

    # -- timers --------------------------------------------------------------------------------
    def timer(self, timer: Timer) -> None:
        self.namespaces.add("timer")
        self.scopes.add("timer")
        handle = self.names.take("ticker")
        every = self.typed(timer.every, NUMBER)
        self.hooks.append(f"const {handle} = timer.useInterval({self.handler(timer.do)}, "
                          f"Math.max(50, {every} || 1000));")
        running = self.typed(timer.when, FLAG)
        if running == "true":
            self.after_hooks.append(f"{handle}.start();")
        else:
            self.after_hooks.append(f"if ({running}) {handle}.start(); else {handle}.stop();")

    def refresh(self) -> None:
        """A view that shows the clock re-renders every second."""
        self.namespaces.add("timer")
        self.scopes.add("timer")
        handle = self.names.take("refresh")
        self.hooks.append(f"const {handle} = timer.useInterval(() => {{}}, {REFRESH_MS});")
        self.after_hooks.append(f"{handle}.start();")

    # -- the module ----------------------------------------------------------------------------
    def module(self) -> CompiledApp:
        self.state()
        children = [self.widget(widget) for widget in self.doc.view]
        if "clock" in self.needs.sdk:
            self.refresh()
        for timer in self.doc.timers:
            self.timer(timer)
        helpers = closure(self.needs.helpers)
        self.namespaces |= self.needs.sdk | sdk_of(helpers)
        imports = ", ".join(name for name in SDK_ORDER if name in self.namespaces)
        body = [*self.hooks, *([""] if self.after_hooks else []), *self.after_hooks]
        lines = [f"import {{ {imports} }} from '{SDK_MODULE}';", ""]
        lines.append("export default function App() {")
        lines.extend(_indent(body, 2))
        lines.append("")
        lines.append(f"  return ui.Window({{ title: {literal(self.doc.title)} }}, [")
        lines.extend(_indent([f"{child}," for child in children], 4))
        lines.append("  ]);")
        lines.append("}")
        for name in helpers:
            lines.extend(["", HELPERS[name].code])
        return CompiledApp("\n".join(lines) + "\n", self.doc.title, tuple(sorted(self.scopes)))


def compile_app(document: Document) -> CompiledApp:
    """TypeScript for a valid app document; raises DocumentError listing every problem otherwise."""
    if document.unsupported is not None:
        raise DocumentError([])
    errors = validate(document)
    if errors:
        raise DocumentError(errors)
    return Compiler(document).module()

