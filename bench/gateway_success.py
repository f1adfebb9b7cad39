"""Success rate of the embedded local model on a varied prompt set: the share of prompts whose filled
spec becomes code that (1) tree-sitter parses cleanly and (2) kernel.analysis accepts with the manifest.
Also prints what each app got, so quality can be eyeballed.

    .venv/bin/python bench/gateway_success.py [--max-tokens 120]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time

os.environ.setdefault("LLMOS_STATE_DIR", tempfile.mkdtemp(prefix="llmos-bench-"))
os.environ.setdefault("LLMOS_CONFIG", "/nonexistent/llmos.toml")

from llmos.kernel.analysis import analyse
from llmos.kernel.codegen import syntax_problems
from llmos.kernel.gateway import Gateway, GatewayError, GatewaySettings


def _kinds(view: list[dict]) -> list[str]:
    """The widget kinds of an app document's view, rows included (kernel/applang)."""
    return [w.get("kind", "") for top in view for w in (top, *top.get("items", []))]


# (prompt, a widget kind the app clearly needs); none is a few-shot example in kernel/gateway/prompts.py
PROMPTS = [
    ("a tally counter for birds I spot", "button"),
    ("an egg timer", "timer"),
    ("a todo list that remembers my tasks", "list"),
    ("a tea timer that rings after three minutes", "timer"),
    ("a volume slider with a mute checkbox", "slider"),
    ("a habit tracker for drinking water", "button"),
    ("a scratch pad for quick notes", "input"),
    ("a score keeper for two teams", "button"),
    ("a shopping list where I can add and remove items", "list"),
    ("a reminder to stretch every hour", "timer"),
]


async def run(max_tokens: int) -> None:
    gateway = Gateway(GatewaySettings.load({"local_max_tokens": max_tokens, "requests_per_minute": 1000,
                                            "daily_token_budget": 10**9, "per_app_token_budget": 10**9}))
    parsed = analysed = fitting = 0
    total_time = 0.0
    for prompt, needed in PROMPTS:
        started = time.perf_counter()
        try:
            result = await gateway.generate_app(prompt, requester="bench")
        except GatewayError as error:
            print(f"FAIL  {prompt!r}: {error}")
            continue
        elapsed = time.perf_counter() - started
        total_time += elapsed
        ok_syntax = not syntax_problems(result.code)
        ok_analysis = analyse(result.code, result.manifest.to_json()).ok
        parsed += ok_syntax
        analysed += ok_analysis
        kinds = ",".join(_kinds(result.spec.get("view", []))) if result.spec else "-"
        fitting += needed in kinds.split(",")
        print(f"{'ok ' if ok_syntax and ok_analysis else 'BAD'}  {elapsed:5.1f} s  {prompt!r} -> "
              f"{result.title!r} [{kinds}] {result.manifest.scopes}")
    count = len(PROMPTS)
    print(f"parses: {parsed}/{count} = {parsed / count:.0%}   passes analysis: {analysed}/{count} = "
          f"{analysed / count:.0%}   has the widget the prompt needs: {fitting}/{count}   "
          f"mean time per app {total_time / count:.1f} s (max_tokens {max_tokens})")
    await gateway.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-tokens", type=int, default=120)
    asyncio.run(run(parser.parse_args().max_tokens))


if __name__ == "__main__":
    main()
