"""The trained adapter as a GGUF LoRA that llama.cpp loads, and the manifest beside it.

llama.cpp (src/llama-adapter.cpp) wants general.type "adapter", adapter.type "lora", the base's
general.architecture and adapter.lora.alpha, and for each adapted weight W (ggml shape [in, out]) a
pair "<W>.lora_a" of ggml shape [in, rank] and "<W>.lora_b" of [rank, out]. ggml lists dimensions
innermost first, so these are numpy arrays A (rank × in) and B (out × rank): PyTorch's own layout.
It scales B·A by alpha / rank. Both files are written to a temporary name and renamed, so a reader
never sees half a file; the GGUF first, so a manifest always describes a complete adapter.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from llmos.host.adapter.errors import AdapterError
from llmos.host.adapter.weights import ARCHITECTURE

FORMAT = "llmos-lora/1"
PROMPT = "bare"  # the adapter answers `Request: …\nApp: ` with no header or few-shot block


@dataclass(frozen=True)
class Manifest:
    """What the gateway reads before it loads an adapter: which base it fits, what it was trained on
    and how, and the measured cost."""

    base_sha256: str
    base_name: str
    data_sha256: str
    examples: int  # training pairs (written and paraphrased)
    hyperparameters: dict[str, object]
    loss: list[float]
    cpu_seconds: float
    adapter_sha256: str = ""
    format: str = FORMAT
    prompt: str = PROMPT
    trained_at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    extra: dict[str, object] = field(default_factory=dict)  # measurements beyond the format's keys

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data.update(data.pop("extra"))
        return data


@contextmanager
def _atomic(target: Path) -> Iterator[Path]:
    """A temporary path beside `target`, renamed onto it when the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(handle)
    try:
        yield Path(temp)
        with open(temp, "rb") as file:
            os.fsync(file.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, target)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


def write_adapter(path: Path, adapters: dict[str, tuple[np.ndarray, np.ndarray]], alpha: float,
                  name: str = "") -> str:
    """Write the GGUF LoRA; returns its sha256."""
    import gguf

    if not adapters:
        raise AdapterError(f"{path}: no adapter tensors to write")
    with _atomic(path) as temp:
        writer = gguf.GGUFWriter(temp, arch=ARCHITECTURE)
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(alpha))
        if name:
            writer.add_name(name)
        for weight, (a, b) in sorted(adapters.items()):
            if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[1]:
                raise AdapterError(f"{path}: {weight}: A {a.shape} and B {b.shape} do not pair "
                                   "(A is rank × in, B out × rank)")
            writer.add_tensor(f"{weight}.lora_a", np.ascontiguousarray(a, dtype=np.float32))
            writer.add_tensor(f"{weight}.lora_b", np.ascontiguousarray(b, dtype=np.float32))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
    return file_sha256(path)


def write_manifest(path: Path, manifest: Manifest) -> None:
    with _atomic(path) as temp:
        temp.write_text(json.dumps(manifest.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def manifest_path(adapter: Path) -> Path:
    return adapter.with_suffix(".json")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(4 << 20):
            digest.update(block)
    return digest.hexdigest()
