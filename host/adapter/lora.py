"""Low-rank adapters: W x + (alpha / rank) · B (A x), with W frozen and only A and B trained.

A starts small and random and B at zero, so an untrained adapter changes nothing and the first
steps start from the base model's own answers. The names are the GGUF weight names the adapter
modifies, which is also how llama.cpp finds them in the exported file (export.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

ATTENTION = ("attn_q", "attn_k", "attn_v", "attn_output")
MLP = ("ffn_gate", "ffn_up", "ffn_down")


@dataclass(frozen=True)
class LoraSpec:
    """Which projections get an adapter, and its size."""

    rank: int = 8
    alpha: float = 16.0
    targets: tuple[str, ...] = ATTENTION

    @property
    def scale(self) -> float:
        return self.alpha / self.rank


class LoraPair(nn.Module):
    """A (rank × in) and B (out × rank) for one projection, as llama.cpp's lora_a and lora_b."""

    def __init__(self, n_in: int, n_out: int, spec: LoraSpec, generator: torch.Generator) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(n_in)  # as peft's kaiming_uniform(a=sqrt(5)) on A
        a = (torch.rand(spec.rank, n_in, generator=generator) * 2.0 - 1.0) * bound
        self.a = nn.Parameter(a)
        self.b = nn.Parameter(torch.zeros(n_out, spec.rank))
        self.scale = spec.scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x @ self.a.T) @ self.b.T * self.scale


def make_adapters(shapes: dict[str, tuple[int, ...]], n_layer: int, spec: LoraSpec,
                  seed: int) -> nn.ModuleDict:
    """One LoraPair per targeted projection, keyed 'blk.N.attn_q' (ModuleDict keys may not hold dots
    in PyTorch, so the '.weight' suffix and the dots are mapped by key_of/name_of)."""
    if spec.rank < 1:
        raise ValueError(f"the rank must be at least 1, got {spec.rank}")
    generator = torch.Generator().manual_seed(seed)
    pairs = {}
    for layer in range(n_layer):
        for target in spec.targets:
            n_out, n_in = shapes[f"blk.{layer}.{target}.weight"]
            pairs[key_of(layer, target)] = LoraPair(n_in, n_out, spec, generator)
    return nn.ModuleDict(pairs)


def key_of(layer: int, target: str) -> str:
    return f"blk{layer}_{target}"


def name_of(key: str) -> str:
    """The GGUF weight name of a ModuleDict key: 'blk3_attn_q' -> 'blk.3.attn_q.weight'."""
    block, target = key.split("_", 1)
    return f"blk.{block.removeprefix('blk')}.{target}.weight"


def pairs_of(adapters: nn.ModuleDict) -> dict[str, LoraPair]:
    """The ModuleDict's pairs, typed (ModuleDict only knows it holds modules)."""
    return {key: pair for key, pair in adapters.items() if isinstance(pair, LoraPair)}
