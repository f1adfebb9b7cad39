"""The shape of an app document, written once: the JSON schema a grammar is built from and the
structural checks of document.py both come from these tables.

Why this shape: a 270M base model fills it under a llama.cpp grammar, so every array is bounded,
every choice is an enum, keys are short common words (one token each), and there are no JSON numbers
at all: every value-producing part is an expression string ("0", "bill * tip / 100"), which also keeps a
base model from emitting 16-digit numbers. Each widget kind and each action has its own object shape,
so the grammar only lets through keys that mean something for that kind.
"""

from __future__ import annotations

from typing import Any

NAME_PATTERN = "^[a-z][a-zA-Z0-9]{0,15}$"
MAX_TITLE = 32
MAX_LABEL = 40
MAX_EXPR = 160
MAX_REASON = 160
# Bounds just above what everyday apps need: a base model pads arrays towards their maximum.
MAX_STATE = 6
MAX_FIELDS = 4
MAX_VIEW = 8
MAX_ROW = 4
MAX_ACTIONS = 4
MAX_TIMERS = 2

STATE_TYPES = ("number", "text", "flag", "list", "drawing")
FIELD_TYPES = ("number", "text", "flag")
KEEP = ("yes", "daily")
SIZES = ("sm", "md", "lg", "xl")

# key -> the kind of its value (see _value_schema); "expr" values are parsed as expressions.
KEY_KINDS: dict[str, str] = {
    "label": "label", "value": "expr", "var": "name", "min": "expr", "max": "expr", "step": "expr",
    "row": "expr", "where": "expr", "check": "name", "delete": "flag", "color": "expr", "brush": "expr",
    "fill": "expr", "size": "size", "do": "actions", "items": "widgets", "if": "expr",
}

# widget kind -> (required keys, optional keys); keys appear in KEY_KINDS order.
WIDGETS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "text": ((), ("label", "value", "size", "if")),
    "input": (("label", "var"), ("do", "if")),
    "button": (("label", "do"), ("if",)),
    "check": (("label", "var"), ("if",)),
    "slider": (("var", "min", "max"), ("label", "step", "if")),
    "list": (("var",), ("row", "where", "check", "delete", "if")),
    "canvas": ((), ("var", "color", "brush", "fill", "size", "if")),
    "row": (("items",), ("if",)),
}
LEAF_WIDGETS = tuple(kind for kind in WIDGETS if kind != "row")

# action -> (keys in order, optional keys); the first key names the action and holds its target.
ACTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "set": (("set", "to"), ("if",)),
    "add": (("add", "item"), ("if",)),
    "edit": (("edit", "at", "field", "to"), ("if",)),
    "remove": (("remove", "at"), ("if",)),
    "clear": (("clear",), ("if",)),
    "toggle": (("toggle",), ("if",)),
    "notify": (("notify",), ("if",)),
    "copy": (("copy",), ("if",)),
}
ACTION_KEY_KINDS: dict[str, str] = {
    "set": "name", "add": "name", "edit": "name", "remove": "name", "clear": "name", "toggle": "name",
    "notify": "expr", "copy": "expr", "at": "expr", "field": "name", "to": "expr", "item": "exprs",
    "if": "expr",
}
ACTION_ORDER = ("set", "add", "edit", "remove", "clear", "toggle", "notify", "copy", "at", "field", "to",
                "item", "if")
TIMER_KEYS = (("every", "while", "do"), ())
STATE_KEYS = (("name", "type"), ("fields", "init", "keep"))


def _object(properties: dict[str, Any], required: tuple[str, ...]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required),
            "additionalProperties": False}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/$defs/{name}"}


def _value_schema(kind: str) -> dict[str, Any]:
    """The schema of one key's value; shared parts are references, so the grammar has one rule each."""
    if kind in ("expr", "name", "label", "actions"):
        return _ref(kind)
    if kind == "flag":
        return {"type": "boolean"}
    if kind == "size":
        return {"enum": list(SIZES)}
    if kind == "exprs":
        return {"type": "array", "items": _ref("expr"), "minItems": 1, "maxItems": MAX_FIELDS}
    if kind == "widgets":
        return {"type": "array", "items": _ref("leaf"), "minItems": 1, "maxItems": MAX_ROW}
    raise ValueError(kind)


def _action_schema(op: str) -> dict[str, Any]:
    required, optional = ACTIONS[op]
    keys = [key for key in ACTION_ORDER if key in required or key in optional]
    return _object({key: _value_schema(ACTION_KEY_KINDS[key]) for key in keys}, required)


def _widget_schema(kind: str) -> dict[str, Any]:
    required, optional = WIDGETS[kind]
    properties: dict[str, Any] = {"kind": {"const": kind}}
    for key in KEY_KINDS:
        if key in required or key in optional:
            properties[key] = _value_schema(KEY_KINDS[key])
    return _object(properties, ("kind", *required))


def _ordered(data: dict[str, Any], required: tuple[str, ...], optional: tuple[str, ...]) -> dict[str, Any]:
    keys = [k for k in required if k in data] + [k for k in optional if k in data]
    return {**{k: data[k] for k in keys}, **{k: v for k, v in data.items() if k not in keys}}


def _canonical_widget(widget: Any) -> Any:
    if not isinstance(widget, dict) or widget.get("kind") not in WIDGETS:
        return widget
    required, optional = WIDGETS[widget["kind"]]
    out = _ordered(widget, ("kind", *required), optional)
    if isinstance(out.get("do"), list):
        out["do"] = [_canonical_action(action) for action in out["do"]]
    if isinstance(out.get("items"), list):
        out["items"] = [_canonical_widget(item) for item in out["items"]]
    return out


def _canonical_action(action: Any) -> Any:
    op = next((key for key in action if key in ACTIONS), None) if isinstance(action, dict) else None
    return _ordered(action, *ACTIONS[op]) if op else action


def canonical(document: dict[str, Any]) -> dict[str, Any]:
    """The document with its keys in the order the grammar forces (required keys first, then optional
    ones, each in schema order), so few-shot examples show the model exactly the shape it must write."""
    if "unsupported" in document:
        return document
    out = _ordered(document, ("title", "state", "view"), ("timers",))
    if isinstance(out.get("state"), list):
        out["state"] = [_ordered(var, *STATE_KEYS) if isinstance(var, dict) else var for var in out["state"]]
    if isinstance(out.get("view"), list):
        out["view"] = [_canonical_widget(widget) for widget in out["view"]]
    if isinstance(out.get("timers"), list):
        out["timers"] = [
            {**_ordered(t, *TIMER_KEYS), **({"do": [_canonical_action(a) for a in t["do"]]}
                                            if isinstance(t.get("do"), list) else {})}
            if isinstance(t, dict) else t for t in out["timers"]]
    return out


def schema() -> dict[str, Any]:
    """The JSON schema of a document: an app, or {"unsupported": reason}."""
    field_schema = _object({"name": _ref("name"), "type": {"enum": list(FIELD_TYPES)}}, ("name", "type"))
    state = _object({
        "name": _ref("name"),
        "type": {"enum": list(STATE_TYPES)},
        "fields": {"type": "array", "items": field_schema, "minItems": 1, "maxItems": MAX_FIELDS},
        "init": _ref("expr"),
        "keep": {"enum": list(KEEP)},
    }, STATE_KEYS[0])
    timer = _object({"every": _ref("expr"), "while": _ref("expr"), "do": _ref("actions")}, TIMER_KEYS[0])
    app = _object({
        "title": {"type": "string", "minLength": 1, "maxLength": MAX_TITLE},
        "state": {"type": "array", "items": state, "maxItems": MAX_STATE},
        "view": {"type": "array", "items": {"anyOf": [_ref("leaf"), _widget_schema("row")]},
                 "minItems": 1, "maxItems": MAX_VIEW},
        "timers": {"type": "array", "items": timer, "maxItems": MAX_TIMERS},
    }, ("title", "state", "view"))
    unsupported = _object({"unsupported": {"type": "string", "minLength": 1, "maxLength": MAX_REASON}},
                          ("unsupported",))
    return {
        "$defs": {
            "expr": {"type": "string", "minLength": 1, "maxLength": MAX_EXPR},
            "name": {"type": "string", "pattern": NAME_PATTERN},
            "label": {"type": "string", "minLength": 1, "maxLength": MAX_LABEL},
            "actions": {"type": "array", "items": {"anyOf": [_action_schema(op) for op in ACTIONS]},
                        "minItems": 1, "maxItems": MAX_ACTIONS},
            "leaf": {"anyOf": [_widget_schema(kind) for kind in LEAF_WIDGETS]},
        },
        "anyOf": [app, unsupported],
    }
