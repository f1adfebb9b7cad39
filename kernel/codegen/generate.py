"""AppSpec -> SDK TypeScript, deterministically.

The output uses only documented SDK calls (docs/ui-tree.md and the seed's example) and is also plain
JavaScript (no type annotations or casts), so it parses as TypeScript and runs after a type strip.
Every string that came from the model is emitted through json.dumps(ensure_ascii=True), which yields
a valid JS string literal that cannot break out of its quotes. Identifiers come only from the spec's
state names, which normalise() restricted to ^[a-z][a-zA-Z0-9]{0,11}$ minus reserved words.
"""

from __future__ import annotations

import json

from llmos.kernel.analysis.tsparse import SDK_MODULE
from llmos.kernel.codegen.spec import AppSpec, Widget

INITIAL = {"number": "0", "text": "''", "flag": "false", "list": "[]"}
# Hook for state that does not outlive the app; persisted state uses storage.useLocal (seed example).
EPHEMERAL_HOOK = "ui.useState"


def lit(text: str) -> str:
    """A JS string literal for any text."""
    return json.dumps(text, ensure_ascii=True)


def setter(name: str) -> str:
    return "set" + name[0].upper() + name[1:]


class _Writer:
    def __init__(self, spec: AppSpec) -> None:
        self.spec = spec
        self.hooks: list[str] = []
        self.namespaces: set[str] = {"ui"}
        self.timers = 0

    def state_hooks(self) -> None:
        for var in self.spec.state:
            pair = f"[{var.name}, {setter(var.name)}]"
            if self.spec.persist:
                self.namespaces.add("storage")
                self.hooks.append(f"const {pair} = storage.useLocal({lit(var.name)}, {INITIAL[var.type]});")
            else:
                self.hooks.append(f"const {pair} = {EPHEMERAL_HOOK}({INITIAL[var.type]});")

    def first_of(self, kind: str) -> str | None:
        return next((var.name for var in self.spec.state if var.type == kind), None)

    def widget(self, w: Widget) -> list[str]:
        return getattr(self, f"_{w.kind}")(w)

    def _text(self, w: Widget) -> list[str]:
        kind = self.spec.state_type(w.bind) if w.bind else None
        if kind is None:
            return [f"ui.Text({{ size: 'lg' }}, {lit(w.label or self.spec.title)})"]
        shown = {"number": f"String({w.bind})", "text": w.bind, "flag": f"({w.bind} ? 'yes' : 'no')",
                 "list": f"String({w.bind}.length)"}[kind]
        prefix = lit(w.label + ": ") if w.label else "''"
        return [f"ui.Text({{ size: 'lg' }}, {prefix} + {shown})"]

    def _button(self, w: Widget) -> list[str]:
        label = lit(w.label or w.action.capitalize() or "OK")
        return [f"ui.Button({{ onClick: {self._action(w)} }}, {label})"]

    def _action(self, w: Widget) -> str:
        name = w.bind
        kind = self.spec.state_type(name) if name else None
        if w.action == "notify" or (w.action == "none" and kind is None):
            if w.action == "notify":
                return f"() => ui.notify({lit(w.label or self.spec.title)})"
            return "() => {}"
        set_ = setter(name) if name else ""
        if w.action == "increment":
            return f"() => {set_}({name} + 1)"
        if w.action == "decrement":
            return f"() => {set_}({name} - 1)"
        if w.action == "toggle":
            return f"() => {set_}(!{name})"
        if w.action in ("reset", "clear") and kind:
            return f"() => {set_}({INITIAL[kind]})"
        if w.action == "add" and kind == "list":
            source = self.first_of("text")
            if source:
                return (f"() => {{ if ({source}.trim() !== '') {{ {set_}([...{name}, {source}.trim()]); "
                        f"{setter(source)}(''); }} }}")
            return f"() => {set_}([...{name}, {lit(w.label or 'Item')} + ' ' + String({name}.length + 1)])"
        if kind == "number":
            return f"() => {set_}({name} + 1)"
        if kind == "flag":
            return f"() => {set_}(!{name})"
        return "() => {}"

    def _slider(self, w: Widget) -> list[str]:
        out = [f"ui.Text({{}}, {lit(w.label)} + ': ' + String({w.bind}))"] if w.label else []
        return [*out, f"ui.Slider({{ value: {w.bind}, min: 0, max: {w.max}, step: 1, "
                      f"onChange: {setter(w.bind)} }})"]

    def _input(self, w: Widget) -> list[str]:
        return [f"ui.TextInput({{ value: {w.bind}, placeholder: {lit(w.label)}, "
                f"onChange: {setter(w.bind)} }})"]

    def _checkbox(self, w: Widget) -> list[str]:
        return [f"ui.Checkbox({{ checked: {w.bind}, label: {lit(w.label)}, onChange: {setter(w.bind)} }})"]

    def _list(self, w: Widget) -> list[str]:
        out = [f"ui.Text({{ bold: true }}, {lit(w.label)})"] if w.label else []
        remove = f"(index) => {setter(w.bind)}({w.bind}.filter((_, at) => at !== index))"
        return [*out, f"ui.List({{ items: {w.bind}, onSelect: {remove} }})"]

    def _timer(self, w: Widget) -> list[str]:
        self.namespaces.add("timer")
        self.timers += 1
        handle = f"clock{self.timers}"
        done = lit(f"{w.label or self.spec.title}: time is up")
        self.hooks.append(f"const {handle} = timer.useInterval(() => {{ ui.notify({done}); }}, "
                          f"{w.seconds} * 1000);")
        out = [f"ui.Text({{ bold: true }}, {lit(w.label)})"] if w.label else []
        return [*out, f"ui.Text({{ size: 'xl' }}, {handle}.remaining)",
                f"ui.Button({{ onClick: {handle}.toggle }}, {handle}.running ? 'Pause' : 'Start')"]


def generate(spec: AppSpec) -> str:
    """The app's TypeScript source for a normalised spec."""
    writer = _Writer(spec)
    writer.state_hooks()
    children: list[str] = []
    for widget in spec.widgets:
        children.extend(writer.widget(widget))
    order = [name for name in ("ui", "storage", "timer") if name in writer.namespaces]
    body = "\n".join(f"  {line}" for line in writer.hooks)
    items = ",\n".join(f"    {child}" for child in children)
    return (
        f"import {{ {', '.join(order)} }} from '{SDK_MODULE}';\n\n"
        "export default function App() {\n"
        + (body + "\n\n" if body else "")
        + f"  return ui.Window({{ title: {lit(spec.title)} }}, [\n{items}\n  ]);\n"
        "}\n"
    )
