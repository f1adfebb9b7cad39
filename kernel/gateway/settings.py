"""The [gateway] section of llmos.toml. Declared with every other setting in
llmos/settings/sections.py; `GatewaySettings.load(overrides)` reads it, then applies checked
overrides (tests, CLI flags)."""

from llmos.settings import GatewaySettings

__all__ = ["GatewaySettings"]
