"""A quick look at what the adapter makes: greedy generation from the bare prompt for benchmark
requests, and whether each answer parses and validates as an app document.

No grammar here on purpose: the probe measures what the adapter itself learnt; the gateway adds the
grammar at run time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmos.host.adapter.tokens import bare_prompt
from llmos.kernel.applang import check, parse_document
from llmos.kernel.gateway import cpu_kernels


@dataclass(frozen=True)
class ProbeResult:
    request: str
    text: str
    parses: bool
    valid: bool
    first_error: str
    seconds: float


def benchmark_requests(count: int) -> list[str]:
    """`count` benchmark prompts spread evenly over the set, leaving out those outside the language."""
    from llmos.host.adapter.data import bench_module

    cases = [case for case in bench_module().load_cases() if not case.outside]
    stride = max(1, len(cases) // max(1, count))
    return [case.prompt for case in cases[::stride][:count]]


def judge(request: str, text: str, seconds: float) -> ProbeResult:
    parsed = parse_document(text)
    if isinstance(parsed, list):
        return ProbeResult(request, text, False, False, str(parsed[0]) if parsed else "", seconds)
    document, errors = check(text)
    return ProbeResult(request, text, True, document is not None, str(errors[0]) if errors else "", seconds)


def probe(base: Path, adapter: Path | None, requests: list[str], *, max_tokens: int = 400,
          threads: int = 2) -> list[ProbeResult]:
    cpu_kernels.ensure()
    import llama_cpp

    llm: Any = llama_cpp.Llama(model_path=str(base), lora_path=str(adapter) if adapter else None,
                               n_ctx=1024, n_threads=threads, verbose=False, seed=0)
    results = []
    for request in requests:
        started = time.monotonic()
        answer = llm.create_completion(bare_prompt(request), max_tokens=max_tokens, temperature=0.0,
                                       stop=["\n"])
        text = str(answer["choices"][0]["text"])
        results.append(judge(request, text, time.monotonic() - started))
    return results
