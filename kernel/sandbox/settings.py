"""The [sandbox] section of /etc/llmos/llmos.toml, with defaults (the lead's config.DEFAULTS does
not list it; unknown sections are kept by config.load, so these defaults fill the gaps)."""

from __future__ import annotations

from typing import Any

from llmos import config as llmos_config
from llmos.kernel.sandbox.guest import GuestLimits

DEFAULTS: dict[str, Any] = {
    "memory_mb": 32,            # QuickJS heap per app
    "stack_kb": 256,            # QuickJS stack limit (wasmtime's wasm stack may trip first)
    "deadline_ms": 500,         # CPU deadline per callback (render, event handler, timer)
    "load_deadline_ms": 2000,   # module body + first render
    "max_nodes": 2000,          # UI tree node cap
    "storage_quota_kb": 1024,   # per-app storage
    "uid_base": 100_000,        # app hosts get unique uids from uid_base (state/sandbox/uids.json)
    "renderer": "wayland",      # null | wayland
}


def settings(config: llmos_config.Config | None = None) -> dict[str, Any]:
    config = config or llmos_config.load()
    given = config.section("sandbox")
    merged = dict(DEFAULTS)
    for key, default in DEFAULTS.items():
        value = given.get(key, default)
        if isinstance(value, type(default)) and not isinstance(value, bool):
            merged[key] = value
    return merged


def guest_limits(values: dict[str, Any]) -> GuestLimits:
    return GuestLimits(memory_bytes=values["memory_mb"] * 1024 * 1024,
                       stack_bytes=values["stack_kb"] * 1024,
                       deadline_s=values["deadline_ms"] / 1000,
                       load_deadline_s=values["load_deadline_ms"] / 1000,
                       max_nodes=values["max_nodes"])
