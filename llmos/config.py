"""/etc/llmos/llmos.toml: one file configures the whole system (every setting is declared in
llmos/settings/sections.py and listed in docs/settings.md).

A broken file must never stop the boot. `load()` returns the defaults merged with whatever parsed and
checked, plus a list of located problems that the caller prints on the console.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from llmos import atomicfile, paths
from llmos.settings import ConfigProblem, Settings, build, defaults, overlay

__all__ = ["Config", "ConfigProblem", "load", "parse", "save_user_setting", "user_settings_file"]


@dataclass
class Config:
    """The checked values as tables (`section()`, for readers that take a table) and typed
    (`settings`); both come from the same checked values, so they always agree."""

    values: dict[str, Any]
    problems: list[ConfigProblem] = field(default_factory=list)
    source: Path | None = None

    @cached_property
    def settings(self) -> Settings:
        return build(self.values)

    def section(self, name: str) -> dict[str, Any]:
        table = self.values.get(name, {})
        return table if isinstance(table, dict) else {}


def parse(text: str, source: Path | None = None, base: dict[str, Any] | None = None) -> Config:
    """Overlay one TOML text on `base` (the defaults unless given), keeping every located problem."""
    name = str(source) if source else "llmos.toml"
    base = defaults() if base is None else base
    problems: list[ConfigProblem] = []
    try:
        given = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        problems.append(ConfigProblem(name, f"{error}; ignoring this file"))
        return Config(base, problems, source)
    return Config(overlay(base, given, problems), problems, source)


def _read(path: Path, base: dict[str, Any]) -> Config:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Config(base, [], None)
    except (OSError, UnicodeDecodeError) as error:
        return Config(base, [ConfigProblem(str(path), str(error))], path)
    return parse(text, path, base)


def user_settings_file() -> Path:
    """Settings changed at run time (shell, `llmos` commands) live on the data partition: / is read-only."""
    return paths.state_dir() / "llmos.toml"


def load(path: Path | None = None) -> Config:
    """Defaults, then /etc/llmos/llmos.toml, then the user's settings on top. Missing files are fine."""
    system = _read(path or paths.config_file(), defaults())
    user = _read(user_settings_file(), system.values)
    return Config(user.values, system.problems + user.problems, system.source)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, dict):  # an entry of an array of tables ([[gateway.providers]]), kept inline
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot store {type(value).__name__} in llmos.toml")


def _toml_key(key: str) -> str:
    return key if key and all(c.isalnum() or c in "-_" for c in key) else json.dumps(key)


def _toml_tables(table: dict[str, Any], prefix: str, lines: list[str]) -> None:
    """Write a table's keys, then its sub-tables ([network.interfaces.eth0]) recursively."""
    scalars = {k: v for k, v in table.items() if not isinstance(v, dict)}
    if prefix and (scalars or not table):
        lines += ["", f"[{prefix}]"]
    lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in scalars.items()]
    for key, value in table.items():
        if isinstance(value, dict):
            _toml_tables(value, f"{prefix}.{_toml_key(key)}" if prefix else _toml_key(key), lines)


def save_user_setting(section: str, key: str, value: Any) -> None:
    """Set one key in the user's settings file, atomically (temp file, fsync, rename). A file that does
    not parse is left alone and reported, never silently replaced."""
    target = user_settings_file()
    try:
        current = tomllib.loads(target.read_text(encoding="utf-8"))
    except FileNotFoundError:
        current = {}
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{target}: {error}; fix or remove it before changing settings") from error
    current.setdefault(section, {})[key] = value
    lines: list[str] = []
    _toml_tables(current, "", lines)
    atomicfile.write_text(target, "\n".join(lines).lstrip("\n") + "\n")
