"""Training pairs: (request, compact app document) from the example library, plus paraphrases.

Every document is checked (validate + compile) before any training starts, and a bad one stops the
run with its location: an adapter trained on a broken example would teach the model to break apps.
Requests that are near copies of the public benchmark's prompts (bench/apps/prompts.toml, the
benchmark's own word-overlap test) are dropped, so the benchmark still measures held-out requests.
Unsupported answers are left out: the gateway refuses those requests before any model runs.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from llmos.host.adapter.errors import AdapterError
from llmos.host.adapter.paraphrase import paraphrases
from llmos.kernel.applang import DocumentError, check, compile_app
from llmos.kernel.applang.examples import Example, ExampleError, load_examples
from llmos.kernel.applang.repair import compact

CHECKOUT = Path(__file__).resolve().parents[2]
BENCH_MODULE = CHECKOUT / "bench" / "gateway_apps.py"


@dataclass(frozen=True)
class Pair:
    request: str
    answer: str  # compact(document) + "\n": exactly what the model must write
    source: str  # the example it came from: "calculators.json[3]"
    paraphrased: bool = False


@dataclass(frozen=True)
class Dataset:
    pairs: tuple[Pair, ...]
    examples: int  # app examples used (before paraphrasing)
    dropped: tuple[str, ...]  # requests left out as near copies of benchmark prompts

    @property
    def sha256(self) -> str:
        return data_sha256(self.pairs)


def data_sha256(pairs: Iterable[Pair]) -> str:
    """Over the canonical JSON of the (request, answer) pairs, in training order."""
    rows = [{"request": pair.request, "answer": pair.answer} for pair in pairs]
    text = json.dumps(rows, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def checked_answer(example: Example, where: str) -> str:
    """The compact document of an example, or AdapterError naming the example and its first errors."""
    document, errors = check(example.app)
    if document is None:
        shown = "; ".join(str(error) for error in errors[:3])
        raise AdapterError(f"{where}: the app document does not check: {shown}")
    try:
        compile_app(document)
    except DocumentError as error:
        raise AdapterError(f"{where}: the app document does not compile: {error}") from None
    return compact(example.app) + "\n"


def bench_module() -> ModuleType:
    """bench/gateway_apps.py, which owns the benchmark's prompts and its near-copy test."""
    if not BENCH_MODULE.is_file():
        raise AdapterError(f"{BENCH_MODULE}: missing; training needs a checkout with the benchmark, "
                           "whose prompts must stay held out")
    loaded = sys.modules.get("gateway_apps")
    if loaded is not None and Path(getattr(loaded, "__file__", "")).resolve() == BENCH_MODULE:
        return loaded
    spec = importlib.util.spec_from_file_location("gateway_apps", BENCH_MODULE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gateway_apps"] = module
    spec.loader.exec_module(module)
    return module


def held_out_check() -> Callable[[str], bool]:
    """A test of whether a request is a near copy of a benchmark prompt (the benchmark's own
    function and limit)."""
    bench = bench_module()
    prompts = [case.prompt for case in bench.load_cases()]
    overlap: Callable[[str, str], float] = bench.overlap
    limit = float(bench.NEAR_COPY)
    return lambda request: any(overlap(request, prompt) > limit for prompt in prompts)


def build_dataset(folder: Path | None = None, *, variations: int = 2, seed: int = 0,
                  limit: int | None = None, near_copy: Callable[[str], bool] | None = None) -> Dataset:
    """Every app example (checked) and up to `variations` paraphrases of each, near copies of the
    benchmark dropped. `limit` keeps the first N examples, for smoke runs."""
    try:
        examples = load_examples(folder)
    except ExampleError as error:
        raise AdapterError(str(error)) from None
    is_copy = near_copy or held_out_check()
    prefix = f"{folder}/" if folder else "kernel/applang/examples/"
    apps = [example for example in examples if not example.unsupported]
    answers = [(example, checked_answer(example, prefix + example.where)) for example in apps]
    if limit is not None:
        answers = answers[:limit]
    known = {example.request.casefold() for example in examples}
    pairs: list[Pair] = []
    dropped: list[str] = []
    for example, answer in answers:
        candidates = [(example.request, False)] + [
            (text, True) for text in paraphrases(example.request, variations, seed)
            if text.casefold() not in known]
        for request, paraphrased in candidates:
            if is_copy(request):
                dropped.append(request)
                continue
            pairs.append(Pair(request, answer, example.where, paraphrased))
    if not pairs:
        raise AdapterError(f"{prefix}: no training pairs (no app examples, or all near copies)")
    return Dataset(tuple(pairs), len(answers), tuple(dropped))


def describe(pairs: Sequence[Pair]) -> str:
    paraphrased = sum(pair.paraphrased for pair in pairs)
    return f"{len(pairs)} pairs ({len(pairs) - paraphrased} written, {paraphrased} paraphrased)"
