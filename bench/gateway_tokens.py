"""Tokens/s and time to first token: the gateway's local path vs raw llama-cpp-python, same prompt,
same grammar, same model object, same max_tokens. The ratio shows what the gateway's thread hop,
queue, sanitising, audit and codegen cost on top of llama.cpp itself.

    .venv/bin/python bench/gateway_tokens.py [--runs 5] [--max-tokens 64]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time

os.environ.setdefault("LLMOS_STATE_DIR", tempfile.mkdtemp(prefix="llmos-bench-"))
os.environ.setdefault("LLMOS_CONFIG", "/nonexistent/llmos.toml")

from llmos.kernel.gateway import Gateway, GatewaySettings, Generation, Progress
from llmos.kernel.gateway.prompts import spec_prompt

PROMPT = "a water intake tracker with a daily goal"


def raw_run(gateway: Gateway, max_tokens: int) -> tuple[float, float, int]:
    llama, grammar = gateway.local._llama, gateway.local._grammar
    started = time.perf_counter()
    first, tokens = 0.0, 0
    for part in llama.create_completion(spec_prompt(PROMPT), max_tokens=max_tokens, temperature=0.2, seed=7,
                                        grammar=grammar, stream=True):
        if part["choices"][0]["text"]:
            tokens += 1
            first = first or time.perf_counter() - started
    return first, time.perf_counter() - started, tokens


async def gateway_run(gateway: Gateway) -> tuple[float, float, int]:
    started = time.perf_counter()
    first, tokens = 0.0, 0
    async for event in gateway.generate(PROMPT, requester="bench"):
        if isinstance(event, Progress) and event.phase == "generating":
            first = first or time.perf_counter() - started
        if isinstance(event, Generation):
            tokens = event.usage.output_tokens
    return first, time.perf_counter() - started, tokens


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()
    settings = GatewaySettings.load({"local_max_tokens": args.max_tokens, "requests_per_minute": 1000})
    gateway = Gateway(settings)
    started = time.perf_counter()
    asyncio.run(gateway.local.load())
    print(f"model load (verify + mmap): {time.perf_counter() - started:.2f} s")
    raw_run(gateway, 8)  # warm the prompt cache for both paths alike
    raw, via = [], []
    for _ in range(args.runs):  # interleaved, so background load hits both alike
        raw.append(raw_run(gateway, args.max_tokens))
        via.append(asyncio.run(gateway_run(gateway)))

    def summary(name: str, runs: list[tuple[float, float, int]]) -> float:
        rate = statistics.median(tokens / total for _, total, tokens in runs)
        ttft = statistics.median(first for first, _, _ in runs)
        print(f"{name:8} {rate:6.1f} tokens/s   time to first token {ttft * 1000:6.0f} ms   "
              f"tokens {runs[0][2]}")
        return rate

    raw_rate = summary("raw", raw)
    via_rate = summary("gateway", via)
    print(f"ratio gateway/raw: {via_rate / raw_rate:.2f}")


if __name__ == "__main__":
    main()
