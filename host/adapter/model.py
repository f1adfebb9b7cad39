"""A hand-written Gemma 3 forward in PyTorch over the GGUF's tensors, as llama.cpp computes it.

Details that matter (each checked against llama.cpp by tests/host/adapter/test_model.py):
- the GGUF's RMSNorm weights already include Gemma's +1 (llama.cpp's converter adds it), so a norm
  is x / rms(x) · w;
- the embeddings are scaled by sqrt(n_embd), and the output projection is the embedding (tied);
- each block: norm → attention → post-attention norm → residual; norm → gated GELU-tanh MLP →
  post-MLP norm → residual;
- queries and keys get a per-head RMSNorm, then neox-style RoPE (the two halves of a head rotate
  together), with base 10,000 on the sliding-window layers and the metadata's base on every 6th
  (global) layer; the queries are scaled by 1/sqrt(head_dim) and there is no logit soft-capping.
Only the adapters are parameters; the base tensors are frozen buffers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from llmos.host.adapter.lora import LoraSpec, key_of, make_adapters
from llmos.host.adapter.weights import BaseModel, GemmaConfig, expected_shapes


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Neox-style rotation of x (tokens, heads, head_dim) by per-token angles (tokens, 1, head_dim/2)."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)


def rope_angles(positions: torch.Tensor, head_dim: int, base: float) -> tuple[torch.Tensor, torch.Tensor]:
    inverse = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    angles = positions.to(torch.float32)[:, None] * inverse[None, :]
    return angles.cos()[:, None, :], angles.sin()[:, None, :]


class Gemma3(nn.Module):
    """The model over one sequence of tokens at a time (no batch dimension: sequences differ in length
    and a step trains on one, so padding would only cost time)."""

    def __init__(self, base: BaseModel, spec: LoraSpec | None = None, seed: int = 0) -> None:
        super().__init__()
        self.config: GemmaConfig = base.config
        # F32 tensors come straight from the read-only file mapping; those are the small norms, copied
        self.weights: dict[str, torch.Tensor] = {
            name: torch.from_numpy(values if values.flags.writeable else values.copy())
            for name, values in base.tensors.items()}
        spec = spec or LoraSpec()
        self.spec = spec
        self.adapters = make_adapters(expected_shapes(base.config), base.config.n_layer, spec, seed)
        self.enabled = True  # False: the base model alone (to compare with llama.cpp)

    def _project(self, x: torch.Tensor, layer: int, target: str) -> torch.Tensor:
        out = x @ self.weights[f"blk.{layer}.{target}.weight"].T
        key = key_of(layer, target)
        if self.enabled and key in self.adapters:
            out = out + self.adapters[key](x)
        return out

    def hidden(self, tokens: torch.Tensor) -> torch.Tensor:
        """The final normed hidden states (tokens, n_embd) of a sequence that starts at position 0."""
        c, w = self.config, self.weights
        n = tokens.shape[0]
        positions = torch.arange(n)
        x = w["token_embd.weight"][tokens] * (c.n_embd ** 0.5)
        causal = positions[None, :] <= positions[:, None]
        local_mask = causal & (positions[:, None] - positions[None, :] < c.sliding_window)
        angles = {base: rope_angles(positions, c.head_dim, base)
                  for base in (c.rope_base_local, c.rope_base_global)}
        group = c.n_head // c.n_head_kv
        for layer in range(c.n_layer):
            prefix = f"blk.{layer}."
            glob = c.is_global(layer)
            cos, sin = angles[c.rope_base_global if glob else c.rope_base_local]
            h = rms_norm(x, w[prefix + "attn_norm.weight"], c.rms_eps)
            q = self._project(h, layer, "attn_q").view(n, c.n_head, c.head_dim)
            k = self._project(h, layer, "attn_k").view(n, c.n_head_kv, c.head_dim)
            v = self._project(h, layer, "attn_v").view(n, c.n_head_kv, c.head_dim)
            q = rope(rms_norm(q, w[prefix + "attn_q_norm.weight"], c.rms_eps), cos, sin)
            k = rope(rms_norm(k, w[prefix + "attn_k_norm.weight"], c.rms_eps), cos, sin)
            q, k, v = (t.transpose(0, 1) for t in (q, k, v))  # (heads, tokens, head_dim)
            if group > 1:
                k, v = k.repeat_interleave(group, dim=0), v.repeat_interleave(group, dim=0)
            attended = F.scaled_dot_product_attention(q, k, v, attn_mask=causal if glob else local_mask,
                                                      scale=c.attention_scale)
            attended = attended.transpose(0, 1).reshape(n, c.n_head * c.head_dim)
            out = self._project(attended, layer, "attn_output")
            x = x + rms_norm(out, w[prefix + "post_attention_norm.weight"], c.rms_eps)
            h = rms_norm(x, w[prefix + "ffn_norm.weight"], c.rms_eps)
            gated = F.gelu(self._project(h, layer, "ffn_gate"), approximate="tanh")
            h = self._project(gated * self._project(h, layer, "ffn_up"), layer, "ffn_down")
            x = x + rms_norm(h, w[prefix + "post_ffw_norm.weight"], c.rms_eps)
        return rms_norm(x, w["output_norm.weight"], c.rms_eps)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Next-token logits (tokens, vocab) from hidden states: the tied embedding."""
        return hidden @ self.weights["token_embd.weight"].T

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.logits(self.hidden(tokens))
