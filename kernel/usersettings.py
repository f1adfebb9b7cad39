"""The settings the shell and `llmos` may change at run time (settings.get / settings.set). Only
these keys are writable, each with its declared type (llmos/settings/sections.py), so a socket client
cannot put arbitrary tables into the user's llmos.toml; secrets are never read back in full."""

from __future__ import annotations

import os

from llmos import config
from llmos.settings import SECTIONS, declarations

SETTABLE: tuple[tuple[str, str], ...] = (
    ("gateway", "local_model"),
    ("gateway", "adapter"),
    ("gateway", "anthropic_api_key"),
    ("gateway", "cloud_model"),
    ("kiosk", "app"),
    ("input", "layout"),
    ("input", "variant"),
)
SECRETS = {("gateway", "anthropic_api_key")}
Setting = str | int | float | bool  # the value of a settable key


def _kind(section: str, key: str) -> type:
    return next(d.kind.base for d in declarations(SECTIONS[section]) if d.name == key)


def masked(value: object) -> str:
    text = str(value or "")
    return "" if not text else "…" + text[-4:] if len(text) > 8 else "set"


def current(cfg: config.Config | None = None) -> dict[str, dict[str, object]]:
    values = (cfg or config.load()).settings
    out: dict[str, dict[str, object]] = {}
    for section, key in SETTABLE:
        value = getattr(values.section(section), key)
        out.setdefault(section, {})[key] = masked(value) if (section, key) in SECRETS else value
    out.setdefault("system", {})["mode"] = values.system.mode
    return out


def check(section: object, key: object, value: object) -> tuple[str, str, Setting]:
    """(section, key, value) or ValueError naming what is wrong."""
    if not isinstance(section, str) or not isinstance(key, str):
        raise ValueError("settings.set needs string 'section' and 'key'")
    if (section, key) not in SETTABLE:
        allowed = ", ".join(f"{s}.{k}" for s, k in SETTABLE)
        raise ValueError(f"{section}.{key} cannot be set at run time (allowed: {allowed})")
    kind = _kind(section, key)
    if (not isinstance(value, str | int | float | bool) or not isinstance(value, kind)
            or isinstance(value, bool) != (kind is bool)):
        raise ValueError(f"{section}.{key} must be a {kind.__name__}, got {type(value).__name__}")
    if isinstance(value, str) and ("\n" in value or len(value) > 4096):
        raise ValueError(f"{section}.{key}: one line of at most 4096 characters")
    return section, key, value


def save(section: str, key: str, value: Setting) -> None:
    config.save_user_setting(section, key, value)
    if (section, key) in SECRETS:
        os.chmod(config.user_settings_file(), 0o600)
