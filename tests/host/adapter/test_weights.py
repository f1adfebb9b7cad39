"""Reading the base GGUF: the Gemma 3 configuration from its metadata, and located refusals of a file
that is not one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from llmos.host.adapter.errors import AdapterError
from llmos.host.adapter.weights import expected_shapes, load_base

gguf = pytest.importorskip("gguf")


def test_the_embedded_models_configuration_and_tensors(base: Any) -> None:
    c = base.config
    assert (c.n_layer, c.n_embd, c.n_head, c.n_head_kv, c.head_dim, c.n_ff) == (18, 640, 4, 1, 256, 2048)
    assert (c.vocab_size, c.sliding_window, c.bos_token_id) == (262_144, 512, 2)
    assert (c.rope_base_global, c.rope_base_local) == (1_000_000.0, 10_000.0)
    assert c.attention_scale == 1 / 16
    assert [layer for layer in range(c.n_layer) if c.is_global(layer)] == [5, 11, 17]
    assert set(base.tensors) == set(expected_shapes(c))
    assert all(values.dtype == np.float32 for values in base.tensors.values())
    # llama.cpp's converter stored Gemma's norms with the +1 already added: they centre near 1, not 0
    assert float(np.median(base.tensors["blk.0.attn_norm.weight"])) > 1.0


def test_a_file_that_is_not_gguf_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(b"PK\x03\x04 a zip file")
    with pytest.raises(AdapterError, match=r"model\.gguf: not a GGUF file"):
        load_base(path)
    with pytest.raises(AdapterError, match=r"missing\.gguf: cannot read"):
        load_base(tmp_path / "missing.gguf")


def test_a_truncated_gguf_is_refused_as_corrupt(tmp_path: Path, base_path: Path) -> None:
    path = tmp_path / "cut.gguf"
    with base_path.open("rb") as file:
        path.write_bytes(file.read(40_000))  # cut inside the metadata
    with pytest.raises(AdapterError, match=r"cut\.gguf: corrupt GGUF"):
        load_base(path)


def test_another_architecture_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "llama.gguf"
    writer = gguf.GGUFWriter(path, arch="llama")
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    refusal = r"llama\.gguf: general\.architecture is 'llama', expected 'gemma3'"
    with pytest.raises(AdapterError, match=refusal):
        load_base(path)


def test_a_gemma3_file_without_its_tensors_is_refused(tmp_path: Path, base: Any) -> None:
    path = tmp_path / "empty.gguf"
    writer = gguf.GGUFWriter(path, arch="gemma3")
    c = base.config
    for key, value in (("block_count", c.n_layer), ("embedding_length", c.n_embd),
                       ("attention.head_count", c.n_head), ("attention.head_count_kv", c.n_head_kv),
                       ("attention.key_length", c.head_dim), ("feed_forward_length", c.n_ff),
                       ("attention.sliding_window", c.sliding_window)):
        writer.add_uint32(f"gemma3.{key}", value)
    writer.add_float32("gemma3.rope.freq_base", c.rope_base_global)
    writer.add_float32("gemma3.attention.layer_norm_rms_epsilon", c.rms_eps)
    writer.add_uint32("tokenizer.ggml.bos_token_id", 2)
    writer.add_array("tokenizer.ggml.tokens", ["a", "b"])
    writer.add_tensor("output_norm.weight", np.ones(c.n_embd, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(AdapterError) as refused:
        load_base(path)
    assert "empty.gguf: tensor 'output_norm.weight' has shape" not in str(refused.value)
    assert "empty.gguf: tensors missing: blk.0." in str(refused.value)
