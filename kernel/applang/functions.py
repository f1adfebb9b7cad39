"""The whitelist of functions expressions may call: their parameter types, result type and JS.

A parameter kind is a scalar (`number`, `text`, `flag`), `scalar` (any of them), `values:K` (a list of
K: a column like todos.done, a literal, or a one-field list), `values` (any list; rows of a list
count as values too), `column` (a list of scalars; a one-field list stands for its values), `sized`
(a text or any list), or `zone` (a quoted city or time-zone name,
checked here and resolved now, so apps never see an unknown zone). A trailing '?' marks an optional
parameter, a trailing '*' a repeatable one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from llmos.kernel.applang.types import FLAG, NUMBER, TEXT, Type, values_of

Emit = Callable[[list[str]], str]


@dataclass(frozen=True)
class Function:
    params: tuple[str, ...]
    result: str  # a scalar kind, 'elem' (the element of the first argument) or 'same' (its type)
    emit: Emit
    doc: str
    sdk: tuple[str, ...] = ()
    helpers: tuple[str, ...] = ()


def _zone_tail(args: list[str], at: int) -> str:
    return f", {args[at]}" if len(args) > at else ""


_COMMA = "', '"


def _tenths(args: list[str]) -> str:
    return f", {{ tenths: {args[1]} }}" if len(args) > 1 else ""


def _fixed(args: list[str]) -> str:
    return f"format.number({args[0]}, {{ decimals: {args[1]} }})"


def _minmax(name: str) -> Emit:
    return lambda args: f"Math.{name}({', '.join(args)})"


FUNCTIONS: dict[str, Function] = {
    # numbers
    "round": Function(("number", "number?"), "number",
                      lambda a: f"_round({a[0]}, {a[1]})" if len(a) > 1 else f"Math.round({a[0]})",
                      "round(x) to a whole number, round(x, 2) to 2 decimals", helpers=("_round",)),
    "floor": Function(("number",), "number", lambda a: f"Math.floor({a[0]})", "round down"),
    "ceil": Function(("number",), "number", lambda a: f"Math.ceil({a[0]})", "round up"),
    "abs": Function(("number",), "number", lambda a: f"Math.abs({a[0]})", "absolute value"),
    "sqrt": Function(("number",), "number", lambda a: f"Math.sqrt({a[0]})", "square root"),
    "pow": Function(("number", "number"), "number", lambda a: f"Math.pow({a[0]}, {a[1]})",
                    "pow(x, y) = x**y"),
    "min": Function(("number*",), "number", _minmax("min"), "smallest of numbers or of a list"),
    "max": Function(("number*",), "number", _minmax("max"), "largest of numbers or of a list"),
    "clamp": Function(("number", "number", "number"), "number",
                      lambda a: f"Math.min(Math.max({a[0]}, {a[1]}), {a[2]})", "clamp(x, low, high)"),
    "sum": Function(("values:number",), "number", lambda a: f"_sum({a[0]})", "total of a number column",
                    helpers=("_sum",)),
    "avg": Function(("values:number",), "number", lambda a: f"_avg({a[0]})", "average of a number column",
                    helpers=("_avg",)),
    "count": Function(("values:flag",), "number", lambda a: f"{a[0]}.filter((_on) => _on).length",
                      "how many are true: count(todos.done)"),
    "len": Function(("sized",), "number", lambda a: f"{a[0]}.length", "length of a text or list"),
    "num": Function(("text",), "number", lambda a: f"_num({a[0]})", "a text as a number (0 if not one)",
                    helpers=("_num",)),
    # formatting
    "fixed": Function(("number", "number"), "text", _fixed, "fixed(x, 2) -> '15.00'", sdk=("format",)),
    "money": Function(("number",), "text",
                      lambda a: f"format.number({a[0]}, {{ decimals: 2, grouping: true }})",
                      "money(1234.5) -> '1,234.50'", sdk=("format",)),
    "text": Function(("text",), "text", lambda a: a[0], "any value as text: text(3.5) -> '3.5'"),
    "pad": Function(("number", "number"), "text", lambda a: f"format.pad({a[0]}, {a[1]})",
                    "pad(7, 2) -> '07'", sdk=("format",)),
    "duration": Function(("number", "flag?"), "text",
                         lambda a: f"format.duration({a[0]}{_tenths(a)})",
                         "milliseconds as 'mm:ss' ('h:mm:ss' past an hour); duration(ms, true) adds tenths",
                         sdk=("format",)),
    "hex": Function(("number", "number", "number"), "text", lambda a: f"_hex({a[0]}, {a[1]}, {a[2]})",
                    "hex(255, 128, 0) -> '#ff8000'", helpers=("_hex",)),
    # randomness (crypto-quality, from the host)
    "randint": Function(("number", "number"), "number", lambda a: f"random.int({a[0]}, {a[1]})",
                        "randint(1, 6): a whole number from 1 to 6", sdk=("random",)),
    "random": Function((), "number", lambda a: "random.float()", "a number from 0 up to 1", sdk=("random",)),
    "pick": Function(("values",), "elem", lambda a: f"random.pick({a[0]})", "one element at random",
                     sdk=("random",)),
    "shuffle": Function(("values",), "same", lambda a: f"random.shuffle({a[0]})", "the list in random order",
                        sdk=("random",)),
    "password": Function(("number",), "text", lambda a: f"random.string({a[0]})",
                         "password(12): random letters, digits and symbols", sdk=("random",)),
    # text
    "upper": Function(("text",), "text", lambda a: f"{a[0]}.toUpperCase()", "UPPER CASE"),
    "lower": Function(("text",), "text", lambda a: f"{a[0]}.toLowerCase()", "lower case"),
    "title": Function(("text",), "text", lambda a: f"_title({a[0]})", "Title Case", helpers=("_title",)),
    "trim": Function(("text",), "text", lambda a: f"{a[0]}.trim()", "without spaces at the ends"),
    "reverse": Function(("text",), "text", lambda a: f"_reverse({a[0]})", "the text backwards",
                        helpers=("_reverse",)),
    "words": Function(("text",), "number", lambda a: f"_words({a[0]})", "how many words",
                      helpers=("_words",)),
    "chars": Function(("text",), "number", lambda a: f"{a[0]}.length", "how many characters"),
    "letters": Function(("text",), "number", lambda a: f"_letters({a[0]})", "characters without spaces",
                        helpers=("_letters",)),
    "sentences": Function(("text",), "number", lambda a: f"_sentences({a[0]})", "how many sentences",
                          helpers=("_sentences",)),
    "contains": Function(("text", "text"), "flag",
                         lambda a: f"{a[0]}.toLowerCase().includes({a[1]}.toLowerCase())",
                         "contains(text, part), ignoring case"),
    "replace": Function(("text", "text", "text"), "text", lambda a: f"{a[0]}.split({a[1]}).join({a[2]})",
                        "replace(text, old, new), every occurrence"),
    "repeat": Function(("text", "number"), "text",
                       lambda a: f"{a[0]}.repeat(Math.max(0, Math.min(200, Math.floor({a[1]}) || 0)))",
                       "repeat('*', 3) -> '***'"),
    "join": Function(("values:text", "text?"), "text", lambda a: f"{a[0]}.join({[*a, _COMMA][1]})",
                     "join(names.text, ', ')"),
    "has": Function(("column", "scalar"), "flag", lambda a: f"{a[0]}.includes({a[1]})",
                    "has(days.date, today()): whether the list holds a value"),
    # time and dates (the host's clock; dates are 'YYYY-MM-DD' texts)
    "now": Function((), "number", lambda a: "clock.now()", "the time now, in milliseconds", sdk=("clock",)),
    "today": Function(("zone?",), "text", lambda a: f"clock.today({a[0] if a else ''})",
                      "today's date 'YYYY-MM-DD'", sdk=("clock",)),
    "time": Function(("number", "zone?"), "text",
                     lambda a: f"clock.format({a[0]}, 'HH:mm:ss'{_zone_tail(a, 1)})",
                     "time(now()) -> '14:05:09'; time(now(), 'Tokyo')", sdk=("clock",)),
    "hhmm": Function(("number", "zone?"), "text",
                     lambda a: f"clock.format({a[0]}, 'HH:mm'{_zone_tail(a, 1)})",
                     "hhmm(now()) -> '14:05'", sdk=("clock",)),
    "date": Function(("number", "zone?"), "text",
                     lambda a: f"clock.format({a[0]}, 'YYYY-MM-DD'{_zone_tail(a, 1)})",
                     "date(now()) -> '2026-12-01'", sdk=("clock",)),
    "weekday": Function(("number", "zone?"), "text",
                        lambda a: f"clock.format({a[0]}, 'dddd'{_zone_tail(a, 1)})",
                        "weekday(now()) -> 'Tuesday'", sdk=("clock",)),
    "days_until": Function(("text",), "number", lambda a: f"clock.days(clock.today(), {a[0]})",
                           "whole days from today to a 'YYYY-MM-DD' date", sdk=("clock",)),
    "days_since": Function(("text",), "number", lambda a: f"clock.days({a[0]}, clock.today())",
                           "whole days from a date to today", sdk=("clock",)),
    "age": Function(("text",), "number", lambda a: f"_age({a[0]})", "full years since a date",
                    helpers=("_age",)),
    "day_of_week": Function(("text",), "text", lambda a: f"_dayName({a[0]})",
                            "day_of_week('2026-12-25') -> 'Friday' (of a 'YYYY-MM-DD' date)",
                            helpers=("_dayName",)),
    "next_date": Function(("text",), "text", lambda a: f"_nextDate({a[0]})",
                          "next_date('12-25') -> the next 25 December, today or later, as 'YYYY-MM-DD' "
                          "(a birth date gives the next birthday)", helpers=("_nextDate",)),
    "add_days": Function(("text", "number"), "text", lambda a: f"_addDays({a[0]}, {a[1]})",
                         "add_days('2026-01-30', 3) -> '2026-02-02'", helpers=("_addDays",)),
}

RESULT_TYPES = {"number": NUMBER, "text": TEXT, "flag": FLAG}


def result_type(function: Function, first: Type | None) -> Type:
    if function.result == "elem":
        assert first is not None
        if first.kind == "list":
            return first.row()
        return first.elem or TEXT
    if function.result == "same":
        assert first is not None
        return first if first.kind != "values" or first.elem else values_of(TEXT)
    return RESULT_TYPES[function.result]


def literal(text: str) -> str:
    """A JS string literal for any text: JSON-escaped, and also escaping the two line separators that
    older JS engines reject inside strings. Non-ASCII letters stay as they are (a label in Greek is not
    a run of \\u escapes the analysis would take for a hidden payload)."""
    return json.dumps(text, ensure_ascii=False).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def signature(name: str) -> str:
    function = FUNCTIONS[name]
    return f"{name}({', '.join(function.params)})"
