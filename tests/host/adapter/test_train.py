"""A short real training run: a few steps on a few examples at rank 4. The loss falls on what it
trained on, and llama.cpp loaded with the exported adapter finds those answers likelier."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from llmos.host.adapter.data import build_dataset
from llmos.host.adapter.tokens import bare_prompt

from .test_model import llama_log_probs

torch = pytest.importorskip("torch")


def test_learning_rate_warms_up_then_decays_by_steps_or_by_time() -> None:
    from llmos.host.adapter.train import TrainConfig, learning_rate

    config = TrainConfig(lr=1e-3, warmup=10)
    assert learning_rate(config, 0, 100) == pytest.approx(1e-4)
    assert learning_rate(config, 9, 100) == pytest.approx(1e-3)
    assert learning_rate(config, 100, 100) == pytest.approx(1e-4)
    timed = TrainConfig(lr=1e-3, warmup=10, budget_seconds=60.0)
    assert learning_rate(timed, 20, 1000, elapsed=60.0) == pytest.approx(1e-4)
    assert learning_rate(timed, 20, 1000, elapsed=30.0) < learning_rate(config, 20, 1000)
    assert TrainConfig(epochs=2.0, batch=4).total_steps(10) == 5
    assert TrainConfig(steps=7).total_steps(10) == 7


@pytest.mark.slow
def test_a_short_run_lowers_the_loss_and_exports_an_adapter_llama_cpp_uses(
        base: Any, base_path: Path, tokenizer: Any, tmp_path: Path) -> None:
    from llmos.host.adapter.export import write_adapter
    from llmos.host.adapter.train import TrainConfig, mean_loss, train

    dataset = build_dataset(variations=0, limit=3, near_copy=lambda request: False)
    sequences = [tokenizer.pair(bare_prompt(pair.request), pair.answer) for pair in dataset.pairs]
    assert len(sequences) == 3
    config = TrainConfig(rank=4, alpha=8.0, lr=2e-3, steps=9, warmup=2, seed=0)
    result = train(base, sequences, config)
    assert result.steps == 9 and len(result.losses) == 9 and all(math.isfinite(x) for x in result.losses)
    assert result.cpu_seconds > 0 and result.answer_tokens > 9 * 20
    before = mean_loss(base, sequences)
    after = mean_loss(base, sequences, result)
    assert after < before * 0.8, (before, after)

    # llama.cpp, loaded with the exported adapter, finds the trained answers likelier than without it
    path = tmp_path / "smoke.gguf"
    write_adapter(path, result.adapters, config.alpha)
    sequence = sequences[0]
    tokens = list(sequence.tokens)
    rows = np.arange(len(sequence.prompt) - 1, len(tokens) - 1)
    answer = np.array(sequence.answer)
    adapted = llama_log_probs(base_path, tokens, lora=path)[rows, answer].mean()
    plain = llama_log_probs(base_path, tokens)[rows, answer].mean()
    assert adapted > plain + 0.1, (adapted, plain)
