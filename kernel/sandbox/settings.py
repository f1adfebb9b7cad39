"""The [sandbox] section of llmos.toml (declared in llmos/settings/sections.py) as the limits an app
host runs under."""

from __future__ import annotations

from llmos import config as llmos_config
from llmos.kernel.sandbox.guest import GuestLimits
from llmos.settings import SandboxSettings

__all__ = ["SandboxSettings", "guest_limits", "settings"]


def settings(config: llmos_config.Config | None = None) -> SandboxSettings:
    return (config or llmos_config.load()).settings.sandbox


def guest_limits(values: SandboxSettings) -> GuestLimits:
    return GuestLimits(memory_bytes=values.memory_mb * 1024 * 1024,
                       stack_bytes=values.stack_kb * 1024,
                       deadline_s=values.deadline_ms / 1000,
                       load_deadline_s=values.load_deadline_ms / 1000,
                       max_nodes=values.max_nodes)
