"""The LLM gateway: routes a prompt to the local llama.cpp model, to inference servers that speak the
OpenAI API (llama-server, Ollama, vLLM, OpenAI, Gemini) or to Claude, enforces budgets, rate limits and
the manifest policy, keeps the audit log, and returns SDK code plus its capability manifest.
See docs/gateway.md and docs/fleet.md."""

from __future__ import annotations

from llmos.kernel.gateway.errors import (
    BadPrompt,
    BudgetExhausted,
    GatewayError,
    ModelFileError,
    PolicyViolation,
    ProviderError,
    RateLimited,
    Refusal,
)
from llmos.kernel.gateway.gateway import Gateway, Generation, Progress, Repair, TokenUsage
from llmos.kernel.gateway.settings import GatewaySettings

__all__ = ["BadPrompt", "BudgetExhausted", "Gateway", "GatewayError", "GatewaySettings", "Generation",
           "ModelFileError", "PolicyViolation", "Progress", "ProviderError", "RateLimited", "Refusal",
           "Repair",
           "TokenUsage"]
