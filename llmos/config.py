"""/etc/llmos/llmos.toml: one file configures the whole system.

A broken file must never stop the boot. `load()` returns the defaults merged with whatever parsed,
plus a list of located problems that the caller prints on the console.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmos import paths

DEFAULTS: dict[str, Any] = {
    "system": {"hostname": "llmos", "mode": "desktop"},  # mode: desktop | kiosk
    "kiosk": {"app": "", "hide_cursor": True, "rotation": 0},
    "input": {"layout": "us", "variant": "", "options": ""},
    "network": {"dhcp": True, "interfaces": {}},
    "display": {"backend": "auto", "scale": 1},
    "gateway": {
        "local_model": "",  # empty: the embedded Gemma 3 270M
        "cloud_model": "claude-sonnet-4-6",
        "anthropic_api_key": "",
        "daily_token_budget": 200_000,
        "per_app_token_budget": 20_000,
        "requests_per_minute": 30,
    },
    "services": {},  # per-service overrides: {"hal": {"memory_max": "256M"}}
}


@dataclass
class ConfigProblem:
    """One thing wrong with the configuration file, with where it is."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class Config:
    values: dict[str, Any]
    problems: list[ConfigProblem] = field(default_factory=list)
    source: Path | None = None

    def section(self, name: str) -> dict[str, Any]:
        return self.values.get(name, {})


def _merge(defaults: dict[str, Any], given: dict[str, Any], where: str,
           problems: list[ConfigProblem]) -> dict[str, Any]:
    """Overlay `given` on `defaults`; keep default values whose replacement has the wrong type."""
    merged = copy.deepcopy(defaults)
    for key, value in given.items():
        if key not in defaults:
            merged[key] = value  # unknown keys are kept: sections may be extended by services
            continue
        default = defaults[key]
        if isinstance(default, dict):
            if isinstance(value, dict):
                merged[key] = _merge(default, value, f"{where}.{key}" if where else key, problems)
            else:
                problems.append(ConfigProblem(f"{where}.{key}".lstrip("."), "expected a table"))
        elif default is None or isinstance(value, type(default)) or (
            isinstance(default, float) and isinstance(value, int)
        ):
            merged[key] = value
        else:
            problems.append(ConfigProblem(
                f"{where}.{key}".lstrip("."),
                f"expected {type(default).__name__}, got {type(value).__name__}; using {default!r}",
            ))
    return merged


def parse(text: str, source: Path | None = None, base: dict[str, Any] | None = None) -> Config:
    """Overlay one TOML text on `base` (the defaults unless given), keeping every located problem."""
    name = str(source) if source else "llmos.toml"
    base = copy.deepcopy(DEFAULTS if base is None else base)
    problems: list[ConfigProblem] = []
    try:
        given = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        problems.append(ConfigProblem(name, f"{error}; ignoring this file"))
        return Config(base, problems, source)
    return Config(_merge(base, given, "", problems), problems, source)


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
    system = _read(path or paths.config_file(), copy.deepcopy(DEFAULTS))
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
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=".llmos.toml.", dir=target.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write("\n".join(lines).lstrip("\n") + "\n")
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
