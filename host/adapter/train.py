"""The training loop: AdamW on the adapters only, one sequence (or a few) per step, seeded.

The loss is the mean cross-entropy over the answer tokens only (the document and its newline): the
prompt is given at run time, so learning to predict it would only spend the adapter's capacity.
Threads stay at 2 (the machine's cores, shared with other work); time is measured as process CPU
seconds and wall seconds.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from llmos.host.adapter.errors import AdapterError
from llmos.host.adapter.lora import ATTENTION, MLP, LoraSpec, name_of, pairs_of
from llmos.host.adapter.model import Gemma3
from llmos.host.adapter.tokens import Encoded
from llmos.host.adapter.weights import BaseModel

MAX_TOKENS = 1024  # a longer sequence is refused: no example comes near it


@dataclass(frozen=True)
class TrainConfig:
    rank: int = 8
    alpha: float = 16.0
    lr: float = 2e-4
    epochs: float = 1.0
    steps: int | None = None  # overrides epochs
    batch: int = 1  # sequences per optimizer step
    warmup: int = 20  # steps of linear warm-up, then cosine decay to a tenth of lr
    clip: float = 1.0
    weight_decay: float = 0.0
    seed: int = 0
    mlp: bool = False  # adapters on the MLP projections too
    threads: int = 2
    budget_seconds: float | None = None  # wall time: the schedule decays by it and training stops at it

    @property
    def spec(self) -> LoraSpec:
        return LoraSpec(self.rank, self.alpha, ATTENTION + MLP if self.mlp else ATTENTION)

    def total_steps(self, sequences: int) -> int:
        if self.steps is not None:
            return self.steps
        return max(1, math.ceil(self.epochs * sequences / self.batch))

    def hyperparameters(self) -> dict[str, object]:
        return {"rank": self.rank, "alpha": self.alpha, "lr": self.lr, "batch": self.batch,
                "warmup": self.warmup, "clip": self.clip, "weight_decay": self.weight_decay,
                "seed": self.seed, "targets": list(self.spec.targets), "optimizer": "AdamW",
                "schedule": "linear warm-up, cosine to lr/10 by the last step or the time budget",
                "budget_seconds": self.budget_seconds, "threads": self.threads}


@dataclass(frozen=True)
class StepReport:
    step: int
    total: int
    loss: float
    elapsed: float

    @property
    def eta(self) -> float:
        return self.elapsed / self.step * (self.total - self.step) if self.step else 0.0


@dataclass(frozen=True)
class TrainResult:
    adapters: dict[str, tuple[np.ndarray, np.ndarray]]  # GGUF weight name -> (A rank×in, B out×rank)
    spec: LoraSpec
    losses: tuple[float, ...]  # one per optimizer step: the mean over its sequences
    steps: int
    planned_steps: int
    sequences: int  # sequences seen (with repeats)
    answer_tokens: int  # tokens the loss was taken on
    cpu_seconds: float
    wall_seconds: float

    @property
    def stopped_early(self) -> bool:
        return self.steps < self.planned_steps


def learning_rate(config: TrainConfig, step: int, total: int, elapsed: float = 0.0) -> float:
    """Linear warm-up over config.warmup steps, then cosine decay to lr/10 at the last step, or at
    the end of the time budget if that comes first (on a shared machine the step time is not known
    in advance, and a run cut short with its rate still high would end on its noisiest steps)."""
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = min(1.0, (step - config.warmup) / max(1, total - config.warmup))
    if config.budget_seconds:
        progress = max(progress, min(1.0, elapsed / config.budget_seconds))
    return config.lr * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress)))


def sequence_loss(model: Gemma3, sequence: Encoded) -> tuple[torch.Tensor, int]:
    """Mean cross-entropy of the answer tokens given everything before them."""
    tokens = torch.tensor(sequence.tokens, dtype=torch.long)
    hidden = model.hidden(tokens[:-1])
    start = len(sequence.prompt) - 1  # the position whose next token is the answer's first
    logits = model.logits(hidden[start:])
    targets = tokens[start + 1:]
    return F.cross_entropy(logits, targets), len(targets)


def order(count: int, seed: int) -> Callable[[int], int]:
    """The index of the n-th sequence seen: a fresh seeded shuffle every pass."""
    passes: dict[int, list[int]] = {}

    def nth(n: int) -> int:
        round_, within = divmod(n, count)
        if round_ not in passes:
            indices = list(range(count))
            random.Random(f"{seed}:{round_}").shuffle(indices)
            passes[round_] = indices
        return passes[round_][within]

    return nth


def train(base: BaseModel, sequences: Sequence[Encoded], config: TrainConfig,
          progress: Callable[[StepReport], None] | None = None) -> TrainResult:
    if not sequences:
        raise AdapterError("no training sequences")
    for index, sequence in enumerate(sequences):
        if not sequence.answer or len(sequence.tokens) > MAX_TOKENS:
            raise AdapterError(f"sequence {index}: {len(sequence.tokens)} tokens, answer "
                               f"{len(sequence.answer)}; a sequence has an answer and at most {MAX_TOKENS}")
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    model = Gemma3(base, config.spec, seed=config.seed)
    parameters = list(model.adapters.parameters())
    optimizer = torch.optim.AdamW(parameters, lr=config.lr, weight_decay=config.weight_decay)
    total = config.total_steps(len(sequences))
    nth = order(len(sequences), config.seed)
    losses: list[float] = []
    seen = answer_tokens = 0
    wall, cpu = time.monotonic(), time.process_time()
    for step in range(total):
        elapsed = time.monotonic() - wall
        if config.budget_seconds is not None and elapsed > config.budget_seconds:
            break
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(config, step, total, elapsed)
        optimizer.zero_grad(set_to_none=True)
        step_loss = 0.0
        for _ in range(config.batch):
            loss, count = sequence_loss(model, sequences[nth(seen)])
            torch.autograd.backward(loss / config.batch)
            step_loss += float(loss.detach()) / config.batch
            seen += 1
            answer_tokens += count
        torch.nn.utils.clip_grad_norm_(parameters, config.clip)
        optimizer.step()
        losses.append(step_loss)
        if progress:
            progress(StepReport(step + 1, total, step_loss, time.monotonic() - wall))
    adapters = {name_of(key): (pair.a.detach().numpy().copy(), pair.b.detach().numpy().copy())
                for key, pair in pairs_of(model.adapters).items()}
    return TrainResult(adapters, config.spec, tuple(losses), len(losses), total, seen, answer_tokens,
                       time.process_time() - cpu, time.monotonic() - wall)


def mean_loss(base: BaseModel, sequences: Sequence[Encoded], trained: TrainResult | None = None,
              threads: int = 2) -> float:
    """The mean answer loss over `sequences` with the trained adapters (or none): for reports."""
    torch.set_num_threads(threads)
    model = Gemma3(base, trained.spec if trained else None)
    if trained is None:
        model.enabled = False
    else:
        load_adapters(model, trained.adapters)
    with torch.no_grad():
        return float(np.mean([float(sequence_loss(model, sequence)[0]) for sequence in sequences]))


def load_adapters(model: Gemma3, adapters: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    """Put trained (A, B) pairs into a model built with the same shapes."""
    by_name = {name_of(key): pair for key, pair in pairs_of(model.adapters).items()}
    for name, (a, b) in adapters.items():
        if name not in by_name:
            raise AdapterError(f"adapter for {name!r} has no place in this model")
        pair = by_name[name]
        with torch.no_grad():
            pair.a.copy_(torch.from_numpy(a))
            pair.b.copy_(torch.from_numpy(b))
