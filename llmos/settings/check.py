"""Checking values from llmos.toml against the declarations. A bad value never stops anything: it
becomes one located problem (`gateway.requests_per_minute: expected an integer, got "x"; using 30`)
and the value in effect before it (the default, or the system file's value under the user's)."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from llmos.settings.declare import Declaration, Kind, Section, Table, declarations


@dataclass
class ConfigProblem:
    """One thing wrong with the configuration, with where it is. A warning (an unknown key) changes
    nothing; it is reported so that a typo does not go unnoticed."""

    where: str
    message: str
    warning: bool = False

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def shown(value: Any) -> str:
    """A value as it would be written in llmos.toml."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(shown(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key} = {shown(item)}" for key, item in value.items()) + "}"
    return repr(value)


class Mismatch(ValueError):
    """A value that cannot be used; the message says what was expected."""


def _matches(kind: type, value: Any) -> bool:
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def coerce(kind: Kind, value: Any) -> Any:
    """The value in its declared type, or Mismatch."""
    if kind.base is tuple:
        if isinstance(value, list) and all(_matches(kind.item or str, item) for item in value):
            return tuple(value)
    elif kind.base is dict:
        if isinstance(value, dict):
            return value
    elif _matches(kind.base, value):
        return float(value) if kind.base is float else value
    raise Mismatch(f"expected {kind.words()}, got {shown(value)}")


def _using(current: Any) -> str:
    return "leaving it unset" if current is None else f"using {shown(current)}"


def judge(declaration: Declaration, value: Any) -> tuple[Any, str | None, bool]:
    """(the value in its type, what is wrong with it or None, whether it is usable all the same: an
    out-of-range number is clamped; a value of the wrong type, choice or form cannot be used)."""
    declared = declaration.declared
    try:
        value = coerce(declaration.kind, value)
    except Mismatch as mismatch:
        return value, str(mismatch), False
    if declared.choices and value not in declared.choices:
        options = ", ".join(shown(choice) for choice in declared.choices)
        return value, f"expected one of {options}, got {shown(value)}", False
    if declared.minimum is not None and value < declared.minimum:
        return declared.minimum, f"expected at least {declared.minimum}, got {value}", True
    if declared.maximum is not None and value > declared.maximum:
        return declared.maximum, f"expected at most {declared.maximum}, got {value}", True
    if declared.check is not None and (wrong := declared.check(value)):
        return value, wrong, False
    return value, None, True


def check_value(declaration: Declaration, value: Any, current: Any) -> tuple[Any, str | None]:
    """(value to use, problem or None)."""
    used, problem, usable = judge(declaration, value)
    if problem is None:
        return used, None
    if usable:
        return used, f"{problem}; using {shown(used)}"
    return current, f"{problem}; {_using(current)}"


def _entry(table: type[Table], given: Any, where: str, problems: list[ConfigProblem]) -> Table | None:
    """One entry of a list of tables, or None (reported) when any of its values cannot be used."""
    disabled = f"this {table.ENTRY} is disabled"
    if not isinstance(given, dict):
        problems.append(ConfigProblem(where, f"expected a table, got {shown(given)}; {disabled}"))
        return None
    values: dict[str, Any] = {}
    usable = True
    for declaration in declarations(table):
        key = declaration.name
        if key not in given or given[key] == "":
            if declaration.declared.required:
                problems.append(ConfigProblem(f"{where}.{key}", f"missing; {disabled}"))
                usable = False
            continue
        used, problem, ok = judge(declaration, given[key])
        if problem:
            problems.append(ConfigProblem(f"{where}.{key}", f"{problem}; "
                                          + (f"using {shown(used)}" if ok else disabled)))
        usable, values[key] = usable and ok, used
    known = {declaration.name for declaration in declarations(table)}
    problems += [ConfigProblem(f"{where}.{key}", "unknown setting; ignored", warning=True)
                 for key in given if key not in known]
    if not usable:
        return None
    entry = table(**values)
    wrong = entry.problems()
    problems += [ConfigProblem(f"{where}.{key}", f"{message}; {disabled}") for key, message in wrong]
    return None if wrong else entry


def check_entries(table: type[Table], given: Any, where: str,
                  problems: list[ConfigProblem]) -> tuple[Table, ...] | None:
    """The usable entries of a list of tables ([[gateway.providers]]), each bad one reported where it
    is and left out; None (reported) when `given` is not a list at all."""
    if not isinstance(given, list | tuple):
        problems.append(ConfigProblem(where, f"expected a list of tables ([[{where}]]), got {shown(given)}; "
                                      "ignoring it"))
        return None
    entries: list[Table] = []
    for index, item in enumerate(given):
        at = f"{where}[{index}]"
        entry = item if isinstance(item, table) else _entry(table, item, at, problems)
        if entry is None:
            continue
        key = getattr(entry, table.KEY)
        if any(getattr(other, table.KEY) == key for other in entries):
            problems.append(ConfigProblem(f"{at}.{table.KEY}", f"another {table.ENTRY} is already called "
                                          f"{shown(key)}; this {table.ENTRY} is disabled"))
            continue
        entries.append(entry)
    return tuple(entries)


def merge_tables(base: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """Free-form tables (network.interfaces, services) overlay key by key, sub-tables recursively."""
    merged = copy.deepcopy(base)
    for key, value in given.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_tables(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def check_section(section: type[Section], given: dict[str, Any], current: dict[str, Any], where: str,
                  problems: list[ConfigProblem]) -> dict[str, Any]:
    """`current` with the usable values of `given` applied; unknown keys are kept (harmless: no
    declared reader looks at them) and reported as warnings."""
    merged = dict(current)
    by_name = {declaration.name: declaration for declaration in declarations(section)}
    for key, value in given.items():
        declaration = by_name.get(key)
        if declaration is None:
            merged[key] = value
            problems.append(ConfigProblem(f"{where}.{key}", "unknown setting; ignored", warning=True))
            continue
        before = current.get(key, declaration.default)
        table = declaration.kind.item
        if isinstance(table, type) and issubclass(table, Table):
            entries = check_entries(table, value, f"{where}.{key}", problems)
            merged[key] = before if entries is None else entries
            continue
        used, problem = check_value(declaration, value, before)
        if problem:
            problems.append(ConfigProblem(f"{where}.{key}", problem))
        if declaration.kind.base is dict and problem is None:
            used = merge_tables(before or {}, used)
        merged[key] = used
    return merged
