"""Tokens/s through the gateway against the same model without it, same requests, in one run:

- server: a generation through the gateway (sanitising, rate limit, budget, routing, the openai
  provider, the answer check, audit) against a bare openai client replaying exactly the requests the
  provider sent (messages, max_tokens, sampling), both to one OpenAI-compatible server:
  llama-cpp-python's llama_cpp.server serving the embedded GGUF on 127.0.0.1. The provider is a spec
  tier one, so the app-language job's greedy, seeded requests make both sides do the same work;
  `constrain = "none"` because llama-cpp-python's server cannot build a grammar from every schema
  the job sends (docs/gateway.md). Target: at least 0.95 of the bare client.
- local: the local provider (its executor thread, queue and Chunks) against raw llama-cpp-python on
  the same Llama object, same prompt (the app-language job's first), same max_tokens. A whole local
  generation is many short completions chosen by the app-language job (kernel/applang), so its cost is
  not one tokens/s figure.

Runs are interleaved, so background load hits both sides alike. Tokens are the streamed pieces on both
sides (llama.cpp sends one token per piece).

    .venv/bin/python bench/gateway_tokens.py [--path local|server|both] [--runs 5] [--max-tokens 64]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("LLMOS_STATE_DIR", tempfile.mkdtemp(prefix="llmos-bench-"))
os.environ.setdefault("LLMOS_CONFIG", "/nonexistent/llmos.toml")

from llmos.kernel.gateway import Gateway, GatewayError, GatewaySettings, Generation, Progress
from llmos.kernel.gateway import model as model_files
from llmos.kernel.gateway.spec_path import spec_job

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the test suite's server launcher
from tests.kernel.gateway.llama_server import ALIAS, KEY, LlamaServer

PROMPT = "a water intake tracker with a daily goal"
Run = tuple[float, int]  # seconds, tokens
Call = tuple[tuple[Any, ...], dict[str, Any]]  # the arguments of one complete() call


class Recorder:
    """Keeps the arguments of every complete() call the gateway makes on a provider, for the replay."""

    def __init__(self, provider: Any) -> None:
        self.calls: list[Call] = []
        original = provider.complete

        def complete(*args: Any, **kw: Any) -> Any:
            self.calls.append((args, kw))
            return original(*args, **kw)

        provider.complete = complete

    def take(self) -> list[Call]:
        calls, self.calls = self.calls, []
        return calls


async def through_gateway(gateway: Gateway, only: str) -> Run:
    """One generation; a request the model cannot make an app of still streamed its tokens."""
    started, tokens = time.perf_counter(), 0
    try:
        async for event in gateway.generate(PROMPT, requester="bench", only=only):
            if isinstance(event, Progress) and event.phase == "generating":
                tokens = max(tokens, event.tokens)
            elif isinstance(event, Generation):
                tokens = event.usage.output_tokens
    except GatewayError as error:
        if not tokens:
            raise
        if os.environ.get("BENCH_VERBOSE"):
            print(f"   ({tokens} tokens, then: {error})")
    return time.perf_counter() - started, tokens


async def bare_replay(client: Any, provider: Any, calls: list[Call]) -> Run:
    """The openai provider's requests, from a bare openai client."""
    started, tokens = time.perf_counter(), 0
    for (messages, max_tokens), kw in calls:
        options = provider.request_options(kw.get("schema"), kw.get("temperature"), kw.get("seed"))
        stream = await client.chat.completions.create(model=ALIAS, messages=messages, max_tokens=max_tokens,
                                                      stream=True, **options)
        async for part in stream:
            tokens += bool(part.choices and part.choices[0].delta.content)
    return time.perf_counter() - started, tokens


def rate(run: Run) -> float:
    return run[1] / run[0]


def summary(names: tuple[str, str], via: list[Run], base: list[Run]) -> float:
    """Medians of each side, and the median of the pairs' ratios: a pair runs back to back, under the
    same background load, so its ratio is steadier than the ratio of two medians."""
    for name, runs in zip(names, (via, base), strict=True):
        print(f"{name:8} {statistics.median(map(rate, runs)):6.1f} tokens/s   "
              f"{statistics.median(s for s, _ in runs):6.2f} s per run   tokens {runs[0][1]}")
    ratio = statistics.median(rate(a) / rate(b) for a, b in zip(via, base, strict=True))
    print(f"ratio {names[0]}/{names[1]}, median of {len(via)} pairs: {ratio:.2f}")
    return ratio


def raw_run(gateway: Gateway, prompt: str, max_tokens: int) -> Run:
    started, tokens = time.perf_counter(), 0
    for part in gateway.local._llama.create_completion(prompt, max_tokens=max_tokens, temperature=0.0, seed=7,
                                                       stream=True):
        tokens += bool(part["choices"][0]["text"])
    return time.perf_counter() - started, tokens


async def provider_run(gateway: Gateway, prompt: str, max_tokens: int) -> Run:
    started, tokens = time.perf_counter(), 0
    async for chunk in gateway.local.complete(prompt, max_tokens, temperature=0.0, seed=7):
        tokens += bool(chunk.text)
    return time.perf_counter() - started, tokens


def local_path(runs: int, max_tokens: int) -> float:
    gateway = Gateway(GatewaySettings.load({"requests_per_minute": 1000}))
    started = time.perf_counter()
    asyncio.run(gateway.local.load())
    print(f"model load (verify + mmap): {time.perf_counter() - started:.2f} s")
    ask = spec_job(PROMPT, incremental=True).first()
    assert ask is not None
    raw_run(gateway, ask.prompt, 8)  # warm llama's prompt cache for both sides alike
    raw, via = [], []
    for index in range(runs):  # each pair back to back, taking turns at going first
        if index % 2:
            raw.append(raw_run(gateway, ask.prompt, max_tokens))
        via.append(asyncio.run(provider_run(gateway, ask.prompt, max_tokens)))
        if not index % 2:
            raw.append(raw_run(gateway, ask.prompt, max_tokens))
    return summary(("provider", "raw"), via, raw)


async def server_runs(url: str, runs: int, max_tokens: int) -> tuple[list[Run], list[Run]]:
    import openai

    provider = {"name": "bench", "base_url": url, "model": ALIAS, "key": KEY, "tier": "spec",
                "constrain": "none", "max_tokens": max_tokens, "timeout": 900.0}
    gateway = Gateway(GatewaySettings.load({"providers": [provider], "requests_per_minute": 1000,
                                            "daily_token_budget": 10**9, "per_app_token_budget": 10**9}))
    server = gateway.servers["bench"]
    recorder = Recorder(server)
    client = openai.AsyncOpenAI(base_url=url, api_key=KEY, timeout=900.0, max_retries=0)
    await through_gateway(gateway, "bench")  # warm the server's prompt cache and both connections alike
    calls = recorder.take()
    await bare_replay(client, server, calls)
    bare, via = [], []
    for index in range(runs):  # each pair back to back, taking turns at going first
        if index % 2:
            bare.append(await bare_replay(client, server, calls))
        via.append(await through_gateway(gateway, "bench"))
        calls = recorder.take()  # the same requests each time: greedy and seeded
        if not index % 2:
            bare.append(await bare_replay(client, server, calls))
        if os.environ.get("BENCH_VERBOSE"):
            print(f"   {len(calls)} requests; gateway {via[-1][1]} tokens in {via[-1][0]:.2f} s, "
                  f"bare {bare[-1][1]} tokens in {bare[-1][0]:.2f} s")
    await client.close()
    await gateway.close()
    return bare, via


def server_path(runs: int, max_tokens: int) -> float:
    model = model_files.locate(GatewaySettings()).path
    server = LlamaServer(model, Path(tempfile.mkdtemp(prefix="llmos-bench-")) / "server.log")
    started = time.perf_counter()
    server.start()
    print(f"llama_cpp.server start (import + model load): {time.perf_counter() - started:.2f} s")
    try:
        bare, via = asyncio.run(server_runs(server.url, runs, max_tokens))
    finally:
        server.stop()
    ratio = summary(("gateway", "bare"), via, bare)
    print(f"target: gateway >= 0.95 x bare openai client: {'met' if ratio >= 0.95 else 'NOT met'}")
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--path", choices=["local", "server", "both"], default="both")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()
    print(f"prompt: {PROMPT!r}")
    if args.path in ("local", "both"):
        print("-- local path: the local provider vs raw llama-cpp-python, same completion")
        local_path(args.runs, args.max_tokens)
    if args.path in ("server", "both"):
        print("-- server path: the gateway's openai provider vs a bare openai client, one llama_cpp.server")
        server_path(args.runs, args.max_tokens)


if __name__ == "__main__":
    main()
