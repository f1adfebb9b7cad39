"""The hand-written Gemma 3 forward against llama.cpp on the same GGUF.

llama.cpp multiplies with quantized activations and keeps an f16 KV cache, so equality is approximate:
the check is top-1 agreement and the mean gap in the log-probability of each actual next token. A
wrong detail (here: the local layers' rope base) moves both far outside the tolerance.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from .conftest import PROMPT

torch = pytest.importorskip("torch")


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def llama_log_probs(path: Path, tokens: list[int], lora: Path | None = None) -> np.ndarray:
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(path), lora_path=str(lora) if lora else None, logits_all=True,
                          n_ctx=512, n_threads=2, verbose=False)
    llm.eval(tokens)
    return log_softmax(np.array(llm.scores[:len(tokens)], dtype=np.float64))


def ours(model: Any, tokens: list[int]) -> np.ndarray:
    with torch.no_grad():
        return log_softmax(model(torch.tensor(tokens)).numpy().astype(np.float64))


def agreement(a: np.ndarray, b: np.ndarray, tokens: list[int]) -> tuple[float, float]:
    """(share of positions with the same top-1 token, mean |gap| in the next token's log-probability)"""
    following = np.array(tokens[1:])
    rows = np.arange(len(following))
    gap = np.abs(a[rows, following] - b[rows, following]).mean()
    return float((a.argmax(-1) == b.argmax(-1)).mean()), float(gap)


@pytest.fixture(scope="module")
def reference(base_path: Path, tokenizer: Any) -> tuple[list[int], np.ndarray]:
    tokens = list(tokenizer.encode(PROMPT, bos=True))
    return tokens, llama_log_probs(base_path, tokens)


def test_the_forward_matches_llama_cpp(base: Any, reference: tuple[list[int], np.ndarray]) -> None:
    from llmos.host.adapter.model import Gemma3

    tokens, expected = reference
    assert len(tokens) > 60
    model = Gemma3(base)
    model.enabled = False
    top1, gap = agreement(ours(model, tokens), expected, tokens)
    assert top1 >= 0.85 and gap <= 0.2, (top1, gap)


def test_a_wrong_detail_is_caught(base: Any, reference: tuple[list[int], np.ndarray]) -> None:
    from llmos.host.adapter.model import Gemma3

    tokens, expected = reference
    model = Gemma3(base)
    model.enabled = False
    model.config = dataclasses.replace(base.config, rope_base_local=base.config.rope_base_global)
    top1, gap = agreement(ours(model, tokens), expected, tokens)
    assert top1 < 0.85 or gap > 0.2, (top1, gap)


def test_an_untrained_adapter_changes_nothing(base: Any, tokenizer: Any) -> None:
    from llmos.host.adapter.model import Gemma3

    tokens = torch.tensor(tokenizer.encode("Request: a dice roller\nApp: ", bos=True))
    model = Gemma3(base)
    with torch.no_grad():
        with_adapter = model(tokens)
        model.enabled = False
        assert torch.equal(with_adapter, model(tokens))
