"""The exported GGUF LoRA: llama.cpp loads it with lora_path and computes what our forward computes
with the same adapter (so names, shapes and the alpha/rank scale are llama.cpp's), and the manifest
beside it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from llmos.host.adapter.errors import AdapterError

from .conftest import PROMPT
from .test_model import agreement, llama_log_probs, ours

torch = pytest.importorskip("torch")
gguf = pytest.importorskip("gguf")


def random_adapter(base: Any) -> Any:
    """A model whose adapters are far from zero, so they visibly change every answer."""
    from llmos.host.adapter.lora import LoraSpec
    from llmos.host.adapter.model import Gemma3

    model = Gemma3(base, LoraSpec(rank=4, alpha=8.0), seed=1)
    generator = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for pair in model.adapters.values():
            pair.b.copy_(torch.randn(pair.b.shape, generator=generator) * 0.05)
    return model


def test_llama_cpp_loads_the_adapter_and_agrees_with_our_forward(base: Any, base_path: Path,
                                                                  tokenizer: Any, tmp_path: Path) -> None:
    from llmos.host.adapter.export import write_adapter
    from llmos.host.adapter.lora import name_of, pairs_of

    model = random_adapter(base)
    adapters = {name_of(key): (pair.a.detach().numpy(), pair.b.detach().numpy())
                for key, pair in pairs_of(model.adapters).items()}
    path = tmp_path / "random.gguf"
    digest = write_adapter(path, adapters, alpha=8.0, name="test")
    assert len(digest) == 64 and [p.name for p in tmp_path.iterdir()] == ["random.gguf"]  # no temp left

    reader = gguf.GGUFReader(path)
    assert reader.fields["general.type"].contents() == "adapter"
    assert reader.fields["adapter.type"].contents() == "lora"
    assert reader.fields["general.architecture"].contents() == "gemma3"
    assert reader.fields["adapter.lora.alpha"].contents() == 8.0
    shapes = {tensor.name: tuple(int(n) for n in tensor.shape) for tensor in reader.tensors}
    assert shapes["blk.0.attn_q.weight.lora_a"] == (640, 4)  # ggml order: [in, rank]
    assert shapes["blk.0.attn_q.weight.lora_b"] == (4, 1024)  # [rank, out]
    assert len(shapes) == 18 * 4 * 2

    tokens = list(tokenizer.encode(PROMPT, bos=True))
    adapted = llama_log_probs(base_path, tokens, lora=path)
    top1, gap = agreement(ours(model, tokens), adapted, tokens)
    assert top1 >= 0.8 and gap <= 0.2, (top1, gap)
    model.enabled = False
    top1, gap = agreement(ours(model, tokens), adapted, tokens)
    assert gap > 0.3, "the adapter made no visible difference in llama.cpp"

    def generate(lora: Path | None) -> str:
        import llama_cpp

        llm = llama_cpp.Llama(model_path=str(base_path), lora_path=str(lora) if lora else None, n_ctx=256,
                              n_threads=2, verbose=False)
        out = llm.create_completion("Request: a dice roller\nApp: ", max_tokens=12, temperature=0.0)
        return str(out["choices"][0]["text"])

    assert generate(path) != generate(None)


def test_pairs_that_do_not_fit_are_refused(tmp_path: Path) -> None:
    from llmos.host.adapter.export import write_adapter

    bad = {"blk.0.attn_q.weight": (np.zeros((4, 640), np.float32), np.zeros((1024, 8), np.float32))}
    with pytest.raises(AdapterError, match=r"bad\.gguf: blk\.0\.attn_q\.weight: A \(4, 640\) and B"):
        write_adapter(tmp_path / "bad.gguf", bad, alpha=8.0)
    assert list(tmp_path.iterdir()) == []


def test_the_manifest_has_the_format_keys(tmp_path: Path) -> None:
    from llmos.host.adapter.export import Manifest, manifest_path, write_manifest

    adapter = tmp_path / "a.gguf"
    write_manifest(manifest_path(adapter), Manifest(
        base_sha256="ab" * 32, base_name="gemma.gguf", data_sha256="cd" * 32, examples=3,
        hyperparameters={"rank": 8}, loss=[2.0, 1.5], cpu_seconds=12.5, extra={"wall_seconds": 7.0}))
    data = json.loads((tmp_path / "a.json").read_text())
    assert {"format", "base_sha256", "base_name", "data_sha256", "examples", "hyperparameters", "loss",
            "prompt", "trained_at", "cpu_seconds"} <= set(data)
    assert (data["format"], data["prompt"], data["wall_seconds"]) == ("llmos-lora/1", "bare", 7.0)
    assert "extra" not in data and data["trained_at"].endswith("+00:00")
