"""The [gateway] section of llmos.toml: defaults for the keys this package adds on top of
llmos.config.DEFAULTS, read in one place so every module sees the same values."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from llmos import config as system_config

DEFAULTS: dict[str, Any] = {
    "local_model": "",  # path to a larger GGUF; empty = embedded Gemma 3 270M
    "local_model_sha256": "",  # optional expected digest of local_model
    "local_model_capable": False,  # True: the local model writes SDK code directly (chat template)
    "local_threads": 2,
    "local_context": 2048,
    "local_max_tokens": 200,
    "cloud_model": "claude-sonnet-4-5",
    "cloud_max_tokens": 4096,
    "anthropic_api_key": "",
    "anthropic_base_url": "",  # empty = the SDK default (api.anthropic.com)
    "cloud_max_retries": 2,
    "cloud_timeout": 120.0,
    "cloud_price_in_per_mtok": 3.0,  # USD per million input tokens, for the cost budget
    "cloud_price_out_per_mtok": 15.0,
    "complexity_threshold": 4,  # router: score >= threshold goes to the cloud when configured
    "daily_token_budget": 200_000,
    "per_app_token_budget": 20_000,  # per app per day
    "daily_cost_budget_usd": 2.0,
    "per_app_cost_budget_usd": 0.5,
    "requests_per_minute": 30,
    "max_prompt_chars": 2000,
    "allowed_capabilities": ["ui:window", "storage:local", "timer", "notify", "clipboard:read",
                             "clipboard:write", "network:*", "bus:*"],
}


@dataclass
class GatewaySettings:
    values: dict[str, Any] = field(default_factory=lambda: dict(DEFAULTS))

    def __getitem__(self, key: str) -> Any:
        return self.values.get(key, DEFAULTS[key])

    @classmethod
    def load(cls, overrides: dict[str, Any] | None = None) -> GatewaySettings:
        """Defaults < llmos.toml [gateway] < overrides (tests, CLI flags)."""
        values = dict(DEFAULTS)
        values.update(system_config.load().section("gateway"))
        values.update(overrides or {})
        return cls(values)
