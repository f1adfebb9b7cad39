"""The settings the shell and `llmos` may change at run time (settings.get / settings.set). Only
these keys are writable, each with its type, so a socket client cannot put arbitrary tables into
the user's llmos.toml; secrets are never read back in full."""

from __future__ import annotations

import os
from typing import Any

from llmos import config

SETTABLE: dict[tuple[str, str], type] = {
    ("gateway", "local_model"): str,
    ("gateway", "anthropic_api_key"): str,
    ("gateway", "cloud_model"): str,
    ("kiosk", "app"): str,
    ("input", "layout"): str,
    ("input", "variant"): str,
}
SECRETS = {("gateway", "anthropic_api_key")}


def masked(value: Any) -> str:
    text = str(value or "")
    return "" if not text else "…" + text[-4:] if len(text) > 8 else "set"


def current(cfg: config.Config | None = None) -> dict[str, dict[str, Any]]:
    cfg = cfg or config.load()
    out: dict[str, dict[str, Any]] = {}
    for section, key in SETTABLE:
        value = cfg.section(section).get(key, "")
        out.setdefault(section, {})[key] = masked(value) if (section, key) in SECRETS else value
    out.setdefault("system", {})["mode"] = cfg.section("system").get("mode", "desktop")
    return out


def check(section: Any, key: Any, value: Any) -> tuple[str, str, Any]:
    """(section, key, value) or ValueError naming what is wrong."""
    if not isinstance(section, str) or not isinstance(key, str):
        raise ValueError("settings.set needs string 'section' and 'key'")
    kind = SETTABLE.get((section, key))
    if kind is None:
        allowed = ", ".join(f"{s}.{k}" for s, k in SETTABLE)
        raise ValueError(f"{section}.{key} cannot be set at run time (allowed: {allowed})")
    if not isinstance(value, kind) or isinstance(value, bool) != (kind is bool):
        raise ValueError(f"{section}.{key} must be a {kind.__name__}, got {type(value).__name__}")
    if isinstance(value, str) and ("\n" in value or len(value) > 4096):
        raise ValueError(f"{section}.{key}: one line of at most 4096 characters")
    return section, key, value


def save(section: str, key: str, value: Any) -> None:
    config.save_user_setting(section, key, value)
    if (section, key) in SECRETS:
        os.chmod(config.user_settings_file(), 0o600)
