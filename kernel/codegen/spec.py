"""The app spec: a small, bounded description of an app that a 270M model can fill reliably.

Two halves: SCHEMA is the JSON schema the local model is constrained by (every array has maxItems,
strings have maxLength, choices are enums, so a grammar built from it cannot run away), and
`normalise()` turns any parsed JSON, however odd, into an AppSpec the generator can always turn into
valid code (unknown state references are created, numbers are clamped, duplicates dropped). The
schema keeps key names short because every key costs the model tokens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

WIDGET_KINDS = ("text", "button", "slider", "input", "checkbox", "list", "timer")
STATE_TYPES = ("number", "text", "flag", "list")
ACTIONS = ("none", "increment", "decrement", "reset", "toggle", "add", "clear", "notify")
# Scopes a spec may ask for; the generator derives the real set from what the code uses.
SPEC_CAPABILITIES = ("ui:window", "storage:local", "timer", "notify")

# Enums rather than free integers: a base model otherwise emits 16-digit numbers.
SLIDER_MAXIMA = (5, 10, 12, 20, 24, 50, 60, 100, 1000)
TIMER_SECONDS = (10, 30, 60, 120, 300, 600, 900, 1500, 1800, 3600)

MAX_TITLE = 32
MAX_LABEL = 32
MAX_STATE = 3
MAX_WIDGETS = 5
MAX_NAME = 12
MAX_SECONDS = 24 * 3600
NAME_RE = re.compile(r"^[a-z][a-zA-Z0-9]{0,11}$")
# Words the generated code declares itself; a state variable with such a name would shadow them.
RESERVED = frozenset({"ui", "storage", "timer", "net", "caps", "bus", "clipboard", "App", "index", "item",
                      "value", "text", "list", "string", "number", "boolean", "function", "return",
                      "const", "let", "var", "new", "this", "null", "true", "false", "default",
                      "import", "export", "if", "else", "for", "while", "do", "in", "of", "delete",
                      "typeof", "void", "with", "yield", "await", "async", "class", "enum", "super",
                      "switch", "case", "break", "continue", "try", "catch", "finally", "throw",
                      "instanceof", "debugger", "extends", "static", "interface", "package", "private",
                      "protected", "public", "implements", "undefined", "NaN", "Infinity", "eval",
                      "arguments", "window", "globalThis"})

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "minLength": 1, "maxLength": MAX_TITLE},
        "capabilities": {"type": "array", "items": {"enum": list(SPEC_CAPABILITIES)},
                         "minItems": 1, "maxItems": len(SPEC_CAPABILITIES), "uniqueItems": True},
        "state": {
            "type": "array", "maxItems": MAX_STATE,
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "pattern": "^[a-z][a-zA-Z0-9]{0,11}$"},
                    "type": {"enum": list(STATE_TYPES)},
                },
                "required": ["name", "type"],
                "additionalProperties": False,
            },
        },
        "widgets": {
            "type": "array", "minItems": 1, "maxItems": MAX_WIDGETS,
            "items": {
                "type": "object",
                "properties": {
                    "kind": {"enum": list(WIDGET_KINDS)},
                    "label": {"type": "string", "maxLength": MAX_LABEL},
                    "bind": {"type": "string", "pattern": "^([a-z][a-zA-Z0-9]{0,11})?$"},
                    "action": {"enum": list(ACTIONS)},
                    "max": {"enum": list(SLIDER_MAXIMA)},
                    "seconds": {"enum": list(TIMER_SECONDS)},
                },
                "required": ["kind", "label"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["title", "capabilities", "state", "widgets"],
    "additionalProperties": False,
}


@dataclass
class StateVar:
    name: str
    type: str  # one of STATE_TYPES


@dataclass
class Widget:
    kind: str
    label: str = ""
    bind: str = ""
    action: str = "none"
    max: int = 100
    seconds: int = 60


@dataclass
class AppSpec:
    title: str
    capabilities: list[str] = field(default_factory=lambda: ["ui:window"])
    state: list[StateVar] = field(default_factory=list)
    widgets: list[Widget] = field(default_factory=list)

    @property
    def persist(self) -> bool:
        """State survives restarts when the spec asked for storage."""
        return "storage:local" in self.capabilities

    def state_type(self, name: str) -> str | None:
        return next((var.type for var in self.state if var.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "capabilities": list(self.capabilities),
            "state": [{"name": var.name, "type": var.type} for var in self.state],
            "widgets": [{"kind": w.kind, "label": w.label, "bind": w.bind, "action": w.action,
                         "max": w.max, "seconds": w.seconds} for w in self.widgets],
        }


class SpecError(ValueError):
    """The JSON is not an app spec at all (not an object, or nothing usable in it)."""


# The state type each widget needs for the variable it binds.
_BIND_TYPE = {"slider": "number", "input": "text", "checkbox": "flag", "list": "list", "text": None,
              "button": None, "timer": None}


def _clean_text(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else ""
    text = "".join(ch for ch in text if ch.isprintable())
    return " ".join(text.split())[:limit]


def _clamp(value: Any, low: int, high: int, default: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return max(low, min(high, int(value)))


def _safe_name(value: Any) -> str:
    name = value if isinstance(value, str) else ""
    if not NAME_RE.match(name) or name in RESERVED:
        return ""
    return name


def normalise(data: Any) -> AppSpec:
    """Any parsed JSON -> a consistent AppSpec: the generator never has to handle a bad spec."""
    if not isinstance(data, dict):
        raise SpecError(f"an app spec is a JSON object, got {type(data).__name__}")
    title = _clean_text(data.get("title"), MAX_TITLE) or "App"
    caps_in = data.get("capabilities") if isinstance(data.get("capabilities"), list) else []
    capabilities = ["ui:window"] + [c for c in dict.fromkeys(caps_in)
                                    if c in SPEC_CAPABILITIES and c != "ui:window"]
    spec = AppSpec(title=title, capabilities=capabilities)
    states = data.get("state") if isinstance(data.get("state"), list) else []
    for entry in states[:MAX_STATE]:
        if not isinstance(entry, dict):
            continue
        name = _safe_name(entry.get("name"))
        kind = entry.get("type") if entry.get("type") in STATE_TYPES else "number"
        if name and spec.state_type(name) is None:
            spec.state.append(StateVar(name, kind))
    widgets = data.get("widgets") if isinstance(data.get("widgets"), list) else []
    for entry in widgets[:MAX_WIDGETS]:
        if not isinstance(entry, dict) or entry.get("kind") not in WIDGET_KINDS:
            continue
        widget = Widget(
            kind=entry["kind"],
            label=_clean_text(entry.get("label"), MAX_LABEL),
            bind=_safe_name(entry.get("bind")),
            action=entry.get("action") if entry.get("action") in ACTIONS else "none",
            max=_clamp(entry.get("max"), 1, 1_000_000, 100),
            seconds=_clamp(entry.get("seconds"), 1, MAX_SECONDS, 60),
        )
        _fix_binding(spec, widget)
        if widget not in spec.widgets:  # a base model likes to repeat the last widget
            spec.widgets.append(widget)
    if not spec.widgets:
        spec.widgets.append(Widget(kind="text", label=title))
    spec.state = [var for var in spec.state if any(w.bind == var.name for w in spec.widgets)]
    _show_hidden_state(spec)
    return spec


_ACTION_NEEDS = {"increment": "number", "decrement": "number", "toggle": "flag", "add": "list"}
# When a button's action does not fit the variable it names, use the action that does.
_ACTION_FOR = {"number": "increment", "flag": "toggle", "list": "add", "text": "clear"}
_DISPLAYS = ("text", "slider", "input", "checkbox", "list")


def _fix_binding(spec: AppSpec, widget: Widget) -> None:
    """Make the widget's binding refer to a state variable of the type the widget needs."""
    needed = _BIND_TYPE[widget.kind]
    unbound = widget.kind == "timer" or widget.action == "notify" or spec.state_type(widget.bind) is None
    plain_button = widget.kind == "button" and widget.action in ("none", "notify")
    if (widget.kind == "timer" or plain_button) and unbound:
        widget.bind = ""
        return
    if widget.kind == "button":
        have = spec.state_type(widget.bind) if widget.bind else None
        if have is not None:
            if widget.action in ("none",) or _ACTION_NEEDS.get(widget.action, have) != have:
                widget.action = _ACTION_FOR[have]
            return
        needed = _ACTION_NEEDS.get(widget.action)
    if widget.kind == "text" and not widget.bind:
        return  # a static label
    if widget.bind:
        have = spec.state_type(widget.bind)
        if have is None:
            spec.state.append(StateVar(widget.bind, needed or "number"))
            return
        if needed is None or have == needed:
            return
    # Reuse a variable of the right type, or create one.
    wanted = needed or "number"
    match = next((var.name for var in spec.state if var.type == wanted), None)
    if match is None:
        base = {"number": "count", "text": "note", "flag": "done", "list": "items"}[wanted]
        match = base
        suffix = 2
        while spec.state_type(match) is not None:
            match = f"{base}{suffix}"
            suffix += 1
        spec.state.append(StateVar(match, wanted))
    widget.bind = match


def _show_hidden_state(spec: AppSpec) -> None:
    """A variable only a button changes would be invisible: show it in a text line at the top."""
    shown = {w.bind for w in spec.widgets if w.kind in _DISPLAYS and w.bind}
    for var in reversed(spec.state):
        if var.name not in shown and any(w.bind == var.name for w in spec.widgets):
            display = "list" if var.type == "list" else "text"
            spec.widgets.insert(0, Widget(kind=display, label=var.name.capitalize(), bind=var.name))
