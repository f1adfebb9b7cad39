"""A document as frozen dataclasses, read from JSON with every structural problem located.

The grammar normally guarantees the structure; this is the backstop for model output that slipped
through, hand-written examples and any other JSON. It checks shape only (keys, value kinds, bounds);
names, types and expressions are validate.py's job.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from llmos.kernel.applang import schema as sc
from llmos.kernel.applang.errors import LocatedError, did_you_mean

_NAME = re.compile(sc.NAME_PATTERN)
MESSAGE_ACTIONS = ("notify", "copy")


@dataclass(frozen=True)
class Field:
    name: str
    type: str


@dataclass(frozen=True)
class StateVar:
    name: str
    type: str
    path: str
    fields: tuple[Field, ...] = ()
    init: str | None = None
    keep: str | None = None  # None, "yes" or "daily"


@dataclass(frozen=True)
class Action:
    op: str  # a key of schema.ACTIONS
    path: str
    props: Mapping[str, Any]

    @property
    def target(self) -> str:
        """The variable the action changes ('' for notify and copy, whose first key holds a text)."""
        return "" if self.op in MESSAGE_ACTIONS else str(self.props[self.op])

    def get(self, key: str) -> Any:
        return self.props.get(key)


@dataclass(frozen=True)
class Widget:
    kind: str
    path: str
    props: Mapping[str, Any]  # str and bool values only
    do: tuple[Action, ...] = ()
    items: tuple[Widget, ...] = ()

    def get(self, key: str) -> Any:
        return self.props.get(key)


@dataclass(frozen=True)
class Timer:
    path: str
    every: str  # milliseconds between runs
    when: str  # the "while" expression: the timer runs while it is true
    do: tuple[Action, ...]


@dataclass(frozen=True)
class Document:
    title: str = ""
    state: tuple[StateVar, ...] = ()
    view: tuple[Widget, ...] = ()
    timers: tuple[Timer, ...] = ()
    unsupported: str | None = None

    def var(self, name: str) -> StateVar | None:
        return next((var for var in self.state if var.name == name), None)


class _Reader:
    def __init__(self) -> None:
        self.errors: list[LocatedError] = []

    def fail(self, path: str, message: str) -> None:
        self.errors.append(LocatedError(path, message))

    def keys(self, data: Any, path: str, required: tuple[str, ...], optional: tuple[str, ...],
             what: str) -> dict[str, Any] | None:
        if not isinstance(data, dict):
            self.fail(path, f"{what} must be a JSON object, got {_kind(data)}")
            return None
        allowed = (*required, *optional)
        for key in data:
            if key not in allowed:
                self.fail(path, f"unknown key {key!r} for {what}{did_you_mean(key, allowed)}; "
                                f"allowed: {', '.join(allowed)}")
        for key in required:
            if key not in data:
                self.fail(path, f"{what} needs {key!r}")
        return data

    def string(self, value: Any, path: str, kind: str) -> str | None:
        """Check a string value of kind expr, name, label or reason."""
        if not isinstance(value, str):
            self.fail(path, f"must be a string, got {_kind(value)}")
            return None
        limit = {"expr": sc.MAX_EXPR, "label": sc.MAX_LABEL, "title": sc.MAX_TITLE}.get(kind, sc.MAX_REASON)
        if kind == "name":
            if not _NAME.match(value):
                self.fail(path, f"{value!r} is not a name: start with a lower-case letter, then letters or "
                                "digits, at most 16 characters")
                return None
            return value
        if not value.strip():
            self.fail(path, "must not be empty")
            return None
        if len(value) > limit:
            self.fail(path, f"is longer than {limit} characters")
            return None
        return value

    def array(self, value: Any, path: str, limit: int, minimum: int = 0) -> list[Any]:
        if not isinstance(value, list):
            self.fail(path, f"must be a list, got {_kind(value)}")
            return []
        if len(value) < minimum:
            self.fail(path, f"needs at least {minimum} item{'s' if minimum > 1 else ''}")
        if len(value) > limit:
            self.fail(path, f"has {len(value)} items; at most {limit} are allowed")
            return value[:limit]
        return value

    def enum(self, value: Any, path: str, choices: tuple[str, ...]) -> str | None:
        if value not in choices:
            self.fail(path, f"{value!r} is not one of {', '.join(choices)}"
                            f"{did_you_mean(str(value), choices)}")
            return None
        return str(value)

    # -- parts ---------------------------------------------------------------------------------
    def value(self, kind: str, raw: Any, path: str) -> Any:
        if kind in ("expr", "name", "label"):
            return self.string(raw, path, kind)
        if kind == "flag":
            if not isinstance(raw, bool):
                self.fail(path, f"must be true or false, got {_kind(raw)}")
                return None
            return raw
        if kind == "size":
            return self.enum(raw, path, sc.SIZES)
        if kind == "exprs":
            items = self.array(raw, path, sc.MAX_FIELDS, 1)
            return tuple(self.string(item, f"{path}[{i}]", "expr") for i, item in enumerate(items))
        raise ValueError(kind)

    def actions(self, raw: Any, path: str) -> tuple[Action, ...]:
        out: list[Action] = []
        for i, item in enumerate(self.array(raw, path, sc.MAX_ACTIONS, 1)):
            where = f"{path}[{i}]"
            if not isinstance(item, dict):
                self.fail(where, f"an action must be a JSON object, got {_kind(item)}")
                continue
            op = next((key for key in item if key in sc.ACTIONS), None)
            if op is None:
                self.fail(where, f"an action starts with one of {', '.join(sc.ACTIONS)}"
                                 f"{did_you_mean(next(iter(item), ''), sc.ACTIONS)}")
                continue
            required, optional = sc.ACTIONS[op]
            data = self.keys(item, where, required, optional, f"a {op!r} action")
            if data is None:
                continue
            props = {key: self.value(sc.ACTION_KEY_KINDS[key], data[key], f"{where}.{key}")
                     for key in (*required, *optional) if key in data}
            if all(value is not None for value in props.values()) and all(key in props for key in required):
                out.append(Action(op, where, props))
        return tuple(out)

    def widget(self, raw: Any, path: str, allow_row: bool) -> Widget | None:
        if not isinstance(raw, dict):
            self.fail(path, f"a widget must be a JSON object, got {_kind(raw)}")
            return None
        kinds = tuple(sc.WIDGETS) if allow_row else sc.LEAF_WIDGETS
        kind = self.enum(raw.get("kind"), f"{path}.kind", kinds)
        if kind is None:
            return None
        required, optional = sc.WIDGETS[kind]
        data = self.keys(raw, path, ("kind", *required), optional, f"a {kind!r} widget")
        if data is None:
            return None
        props: dict[str, Any] = {}
        do: tuple[Action, ...] = ()
        items: list[Widget] = []
        for key in (*required, *optional):
            if key not in data:
                continue
            where = f"{path}.{key}"
            if key == "do":
                do = self.actions(data[key], where)
            elif key == "items":
                for i, item in enumerate(self.array(data[key], where, sc.MAX_ROW, 1)):
                    child = self.widget(item, f"{where}[{i}]", allow_row=False)
                    if child is not None:
                        items.append(child)
            else:
                value = self.value(sc.KEY_KINDS[key], data[key], where)
                if value is not None:
                    props[key] = value
        if kind == "text" and "label" not in props and "value" not in props:
            self.fail(path, "a 'text' widget needs a 'label', a 'value' or both")
        return Widget(kind, path, props, do, tuple(items))

    def state(self, raw: Any, path: str) -> StateVar | None:
        data = self.keys(raw, path, *sc.STATE_KEYS, "a state variable")
        if data is None:
            return None
        name = self.string(data.get("name"), f"{path}.name", "name") if "name" in data else None
        kind = self.enum(data.get("type"), f"{path}.type", sc.STATE_TYPES) if "type" in data else None
        fields: list[Field] = []
        if "fields" in data:
            for i, item in enumerate(self.array(data["fields"], f"{path}.fields", sc.MAX_FIELDS, 1)):
                where = f"{path}.fields[{i}]"
                entry = self.keys(item, where, ("name", "type"), (), "a field")
                if entry is None or "name" not in entry or "type" not in entry:
                    continue
                field_name = self.string(entry["name"], f"{where}.name", "name")
                field_type = self.enum(entry["type"], f"{where}.type", sc.FIELD_TYPES)
                if field_name and field_type:
                    fields.append(Field(field_name, field_type))
        init = self.string(data["init"], f"{path}.init", "expr") if "init" in data else None
        keep = self.enum(data["keep"], f"{path}.keep", sc.KEEP) if "keep" in data else None
        if name is None or kind is None:
            return None
        return StateVar(name, kind, path, tuple(fields), init, keep)

    def timer(self, raw: Any, path: str) -> Timer | None:
        data = self.keys(raw, path, *sc.TIMER_KEYS, "a timer")
        if data is None or not all(key in data for key in sc.TIMER_KEYS[0]):
            return None
        every = self.string(data["every"], f"{path}.every", "expr")
        when = self.string(data["while"], f"{path}.while", "expr")
        do = self.actions(data["do"], f"{path}.do")
        if every is None or when is None:
            return None
        return Timer(path, every, when, do)

    def document(self, data: Any) -> Document:
        if isinstance(data, dict) and "unsupported" in data:
            self.keys(data, "", ("unsupported",), (), "an 'unsupported' answer")
            reason = self.string(data["unsupported"], "unsupported", "reason")
            return Document(unsupported=reason or "")
        root = self.keys(data, "", ("title", "state", "view"), ("timers",), "an app document")
        if root is None:
            return Document()
        title = self.string(root.get("title", ""), "title", "title") if "title" in root else None
        state = [self.state(item, f"state[{i}]")
                 for i, item in enumerate(self.array(root.get("state", []), "state", sc.MAX_STATE))]
        view = [self.widget(item, f"view[{i}]", allow_row=True)
                for i, item in enumerate(self.array(root.get("view", []), "view", sc.MAX_VIEW, 1))]
        timers = [self.timer(item, f"timers[{i}]")
                  for i, item in enumerate(self.array(root.get("timers", []), "timers", sc.MAX_TIMERS))]
        return Document(title or "", tuple(v for v in state if v), tuple(w for w in view if w),
                        tuple(t for t in timers if t))


def keyed_strings(value: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """Every string in a JSON document with the key it sits under (a list's items under the list's)."""
    if isinstance(value, dict):
        for name, item in value.items():
            yield from keyed_strings(item, name)
    elif isinstance(value, list):
        for item in value:
            yield from keyed_strings(item, key)
    elif isinstance(value, str):
        yield key, value


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}.get(
        type(value), "a number")


def read_document(data: Any) -> tuple[Document, list[LocatedError]]:
    """A Document from decoded JSON, and the structural errors found on the way."""
    reader = _Reader()
    document = reader.document(data)
    return document, reader.errors


def decode(text: str) -> tuple[Any, list[LocatedError]]:
    """The JSON value at the start of `text` (trailing text after it is ignored), or a located error."""
    stripped = text.strip()
    try:
        value, _ = json.JSONDecoder().raw_decode(stripped)
    except json.JSONDecodeError as error:
        return None, [LocatedError("document", f"not valid JSON: {error.msg} at line {error.lineno} column "
                                               f"{error.colno}")]
    return value, []
