"""/etc/llmos/llmos.toml: one file configures the whole system.

A broken file must never stop the boot. `load()` returns the defaults merged with whatever parsed,
plus a list of located problems that the caller prints on the console.
"""

from __future__ import annotations

import copy
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
        "cloud_model": "claude-sonnet-4-5",
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


def parse(text: str, source: Path | None = None) -> Config:
    name = str(source) if source else "llmos.toml"
    problems: list[ConfigProblem] = []
    try:
        given = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        problems.append(ConfigProblem(name, f"{error}; using the defaults"))
        return Config(copy.deepcopy(DEFAULTS), problems, source)
    return Config(_merge(DEFAULTS, given, "", problems), problems, source)


def load(path: Path | None = None) -> Config:
    """Read the configuration. A missing file is not a problem: the defaults apply."""
    path = path or paths.config_file()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Config(copy.deepcopy(DEFAULTS), [], None)
    except (OSError, UnicodeDecodeError) as error:
        return Config(copy.deepcopy(DEFAULTS), [ConfigProblem(str(path), str(error))], path)
    return parse(text, path)
