"""Between TOML tables and typed settings: the defaults as tables, one file's tables laid over the
values in effect (checked key by key), and the typed `Settings` built from the result."""

from __future__ import annotations

import copy
from typing import Any

from llmos.settings.check import ConfigProblem, check_section, merge_tables
from llmos.settings.declare import declarations
from llmos.settings.sections import FREE_FORM, SECTIONS, Settings


def defaults() -> dict[str, dict[str, Any]]:
    """Every section's defaults as a table; a setting that is unset by default is left out."""
    tables: dict[str, dict[str, Any]] = {
        name: {d.name: d.default for d in declarations(section) if d.default is not None}
        for name, section in SECTIONS.items()}
    return {**tables, **{name: {} for name in FREE_FORM}}


def overlay(values: dict[str, Any], given: dict[str, Any], problems: list[ConfigProblem]) -> dict[str, Any]:
    """`values` with one file's tables applied. Bad values keep what was in effect and are reported;
    unknown sections and keys are kept (no declared reader looks at them) and reported as warnings."""
    merged = copy.deepcopy(values)
    for name, table in given.items():
        if name not in SECTIONS and name not in FREE_FORM:
            merged[name] = table
            problems.append(ConfigProblem(name, "unknown section; ignored", warning=True))
        elif not isinstance(table, dict):
            problems.append(ConfigProblem(name, "expected a table"))
        elif name in FREE_FORM:
            merged[name] = merge_tables(merged.get(name, {}), table)
        else:
            merged[name] = check_section(SECTIONS[name], table, merged.get(name, {}), name, problems)
    return merged


def build(values: dict[str, Any]) -> Settings:
    """Typed settings from checked values (see overlay); keys not declared are left out."""
    sections: dict[str, Any] = {}
    for name, section in SECTIONS.items():
        table = values.get(name, {})
        sections[name] = section(**{d.name: table[d.name] for d in declarations(section) if d.name in table})
    free: dict[str, Any] = {name: dict(values.get(name, {})) for name in FREE_FORM}
    return Settings(**sections, **free)
