"""Interaction scripts as data (script.py describes them): each step or expectation checked and
turned into a ScriptEntry, or refused with a ScriptError that says where."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from llmos.sdk.render.driver import KEYS
from llmos.sdk.render.readings import parse_date


class ScriptError(ValueError):
    """A malformed step or expectation; the message starts with where it is."""


@dataclass(frozen=True)
class ScriptEntry:
    """One step or expectation: its action key (`kind`), the action's value and its options."""

    kind: str
    value: Any
    options: tuple[tuple[str, Any], ...]
    where: str

    def opt(self, name: str, default: Any = None) -> Any:
        return next((v for k, v in self.options if k == name), default)

    def __str__(self) -> str:
        value = self.value
        shown = f"{{{value}}}" if isinstance(value, ScriptEntry) else \
            f"[{', '.join(f'{{{v}}}' for v in value)}]" if isinstance(value, tuple) else repr(value)
        extra = "".join(f", {k}={v!r}" for k, v in self.options)
        return f"{self.kind}={shown}{extra}"


# action -> (check of its value, {option: type}); a value check returns an error message or None
_Str = str
_Num = (int, float)
Check = tuple[Callable[[object], str | None], dict[str, type | tuple[type, ...]]]


def _is_text(value: object) -> str | None:
    return None if isinstance(value, str) and value.strip() else "must be a non-empty string"


def _is_field(value: object) -> str | None:
    return None if isinstance(value, str) else "must be a string (\"\" means the only text field)"


def _is_number(value: object) -> str | None:
    ok = isinstance(value, _Num) and not isinstance(value, bool)
    return None if ok else "must be a number"


def _is_regex(value: object) -> str | None:
    if not isinstance(value, str) or not value:
        return "must be a regular expression"
    try:
        re.compile(value)
    except re.error as error:
        return f"is not a valid regular expression: {error}"
    return None


def _is_point(value: object) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(
        isinstance(v, _Num) and not isinstance(v, bool) and 0 <= v <= 1 for v in value)


def _is_key(value: object) -> str | None:
    known = isinstance(value, str) and value.casefold().replace(" ", "").replace("_", "") in KEYS
    return None if known else f"must be one of {', '.join(sorted(KEYS))}"


def _is_wait(value: object) -> str | None:
    ok = isinstance(value, _Num) and not isinstance(value, bool) and 0 < value <= 600_000
    return None if ok else "must be milliseconds between 1 and 600000"


def _is_click(value: object) -> str | None:
    return None if _is_point(value) else "must be [x, y] with fractions of the canvas between 0 and 1"


def _is_path(value: object) -> str | None:
    ok = isinstance(value, list) and len(value) >= 2 and all(_is_point(p) for p in value)
    return None if ok else "must be a list of at least two [x, y] points (fractions of the canvas)"


def _is_true(value: object) -> str | None:
    return None if value is True else "must be true"


def _is_fraction(value: object) -> str | None:
    ok = isinstance(value, _Num) and not isinstance(value, bool) and 0 <= value <= 1
    return None if ok else "must be a fraction between 0 and 1"


def _is_zone(value: object) -> str | None:
    if value == "local":
        return None
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        return "must be \"local\" or a time zone name such as \"Asia/Tokyo\""
    return None


def _is_date(value: object) -> str | None:
    try:
        parse_date(str(value))
    except ValueError:
        return "must be a date written YYYY-MM-DD"
    return None


def _is_day(value: object) -> str | None:
    if isinstance(value, str) and re.fullmatch(r"\d{2}-\d{2}", value):
        try:
            dt.date(2000, int(value[:2]), int(value[3:]))
        except ValueError:
            return "is not a day of the year"
        return None
    return _is_date(value)


def _is_today_or_date(value: object) -> str | None:
    return None if value == "today" else _is_date(value)


def _is_random(value: object) -> str | None:
    return None if value == "random" else "must be \"random\""


def _is_count(value: object) -> str | None:
    return None if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else \
        "must be a whole number of at least 1"


STEPS: dict[str, Check] = {
    "type": (_is_field, {"text": _Str, "enter": bool, "submit": _Str, "replace": bool}),
    "press": (_is_text, {"times": int, "near": _Str, "sample": _Str}),
    "check": (_is_text, {"near": _Str}),
    "select": (_is_text, {}),
    "set": (_is_text, {"value": _Num}),
    "key": (_is_key, {}),
    "wait": (_is_wait, {}),
    "click_canvas": (_is_click, {}),
    "drag": (_is_path, {}),
    "relaunch": (_is_true, {}),
    "expect": (lambda v: None if isinstance(v, dict) else "must be an expectation table", {}),
}
REQUIRED = {"type": ("text",), "set": ("value",)}
EXPECTS: dict[str, Check] = {
    "text": (_is_text, {"case": bool}),
    "no_text": (_is_text, {"case": bool}),
    "regex": (_is_regex, {}),
    "no_regex": (_is_regex, {}),
    "number": (_is_number, {"tol": _Num}),
    "no_number": (_is_number, {"tol": _Num}),
    "duration": (_is_number, {"tol": _Num, "count": int}),
    "time_now": (_is_zone, {}),
    "date": (lambda v: None if v == "today" else "must be \"today\"", {}),
    "weekday": (_is_today_or_date, {}),
    "days_until": (_is_day, {"tol": int}),
    "years_since": (_is_date, {}),
    "checked": (_is_text, {}),
    "samples": (_is_random, {}),
    "changes": (_is_count, {}),
    "ink": (_is_fraction, {}),
    "no_ink": (_is_fraction, {}),
    "any": (lambda v: None if isinstance(v, list) and v else "must be a non-empty list of expectations", {}),
}


def _article(noun: str) -> str:
    return "an" if noun[:1] in "aeiou" else "a"


def _parse(raw: object, where: str, table: Mapping[str, Check],
           what: str, optional_ok: bool) -> ScriptEntry:
    if not isinstance(raw, dict):
        raise ScriptError(f"{where}: {_article(what)} {what} is a table like {{{next(iter(table))} = ...}}")
    kinds = [k for k in raw if k in table]
    if len(kinds) != 1:
        raise ScriptError(f"{where}: {_article(what)} {what} needs one (and only one) of {', '.join(table)}; "
                          f"got {sorted(raw)}")
    kind = kinds[0]
    check, allowed = table[kind]
    problem = check(raw[kind])
    if problem:
        raise ScriptError(f"{where}: {kind} {problem}, got {raw[kind]!r}")
    options = []
    for name, value in raw.items():
        if name == kind:
            continue
        if name == "optional" and optional_ok:
            expected: type | tuple[type, ...] = bool
        elif name in allowed:
            expected = allowed[name]
        else:
            extra = sorted(allowed) + (["optional"] if optional_ok else [])
            raise ScriptError(f"{where}: {kind} takes no option {name!r} "
                              f"(options: {', '.join(extra) or 'none'})")
        if not isinstance(value, expected) or (isinstance(value, bool) and expected is not bool):
            raise ScriptError(f"{where}: {kind}: option {name} has the wrong type: {value!r}")
        options.append((name, value))
    for name in REQUIRED.get(kind, ()) if table is STEPS else ():
        if name not in raw:
            raise ScriptError(f"{where}: {kind} needs {name}")
    if kind == "press" and "sample" in raw and (problem := _is_regex(raw["sample"])):
        raise ScriptError(f"{where}: press: sample {problem}")
    if kind == "press" and not 1 <= raw.get("times", 1) <= 100:
        raise ScriptError(f"{where}: press: times must be between 1 and 100")
    value = raw[kind]
    if kind == "expect":
        value = parse_expectation(value, f"{where}.expect")
    elif kind == "any":
        value = tuple(parse_expectation(item, f"{where}.any[{i}]") for i, item in enumerate(value))
    return ScriptEntry(kind, value, tuple(options), where)


def parse_step(raw: object, where: str) -> ScriptEntry:
    return _parse(raw, where, STEPS, "step", optional_ok=True)


def parse_expectation(raw: object, where: str) -> ScriptEntry:
    return _parse(raw, where, EXPECTS, "expectation", optional_ok=False)


def parse_script(steps: object, expect: object,
                 where: str) -> tuple[tuple[ScriptEntry, ...], tuple[ScriptEntry, ...]]:
    """A whole script as data (lists of tables) -> (steps, expectations), located as `where: steps[2]`."""
    if not isinstance(steps, list):
        raise ScriptError(f"{where}: steps must be a list, got {type(steps).__name__}")
    if not isinstance(expect, list):
        raise ScriptError(f"{where}: expect must be a list, got {type(expect).__name__}")
    return (tuple(parse_step(s, f"{where}: steps[{i}]") for i, s in enumerate(steps)),
            tuple(parse_expectation(e, f"{where}: expect[{i}]") for i, e in enumerate(expect)))


__all__ = ["EXPECTS", "STEPS", "ScriptEntry", "ScriptError", "parse_expectation", "parse_script",
           "parse_step"]
