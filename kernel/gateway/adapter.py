"""The embedded model's LoRA adapter: which file `[gateway] adapter` names, and whether it fits the model
it would change (docs/adapter.md).

An adapter changes every answer of the model it is loaded over, so it is checked before llama.cpp sees
it: its manifest (`<name>.json` beside `<name>.gguf`) must be ours, expect the bare prompt the gateway
writes, and name the sha256 of the model being loaded; the file must be a GGUF with the digest the
manifest records. A refusal names the path and the reason, and the gateway goes on with few-shot
prompts: a bad adapter never stops the OS from making apps.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from llmos.kernel.gateway.errors import GatewayError

FORMAT = "llmos-lora/1"
PROMPT = "bare"  # the only prompt the gateway writes for an adapter: "Request: <request>\nApp: "
SHIPPED = "shipped"  # the setting's name for the adapter in kernel/gateway/adapters
SHIPPED_PATH = Path(__file__).resolve().parent / "adapters" / "gemma3-270m-applang.gguf"
MAX_BYTES = 512 << 20  # far above a rank-64 adapter of a 270M model; a bigger file is not an adapter


class AdapterRefused(GatewayError):
    """The adapter does not fit; the message names the path and why, for logs and `gateway providers`."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"adapter {path}: {reason}; the embedded model uses few-shot prompts instead")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class Adapter:
    """A checked adapter: the file llama.cpp loads and what its manifest says of it."""

    path: Path
    base_name: str
    steps: int
    sha256: str


def configured(value: str) -> Path | None:
    """The adapter file `[gateway] adapter` names: "" is none, "shipped" the repository's own."""
    value = value.strip()
    if not value:
        return None
    return SHIPPED_PATH if value == SHIPPED else Path(value).expanduser()


def _manifest(path: Path) -> dict[str, object]:
    manifest = path.with_suffix(".json")
    try:
        text = manifest.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AdapterRefused(path, f"no manifest beside it ({manifest.name})") from None
    except (OSError, UnicodeDecodeError) as error:
        raise AdapterRefused(path, f"its manifest {manifest.name} cannot be read: {error}") from None
    try:
        found = json.loads(text)
    except json.JSONDecodeError as error:
        raise AdapterRefused(path, f"its manifest {manifest.name} is not JSON (line {error.lineno}, "
                                   f"column {error.colno}: {error.msg})") from None
    if not isinstance(found, dict):
        raise AdapterRefused(path, f"its manifest {manifest.name} is not a JSON object")
    return found


def check(path: Path, base_sha256: str, base_name: str = "the model") -> Adapter:
    """The adapter at `path` if it fits the model whose sha256 is `base_sha256`; else AdapterRefused.
    Blocking (it hashes the file): call it in a thread."""
    manifest = _manifest(path)
    if manifest.get("format") != FORMAT:
        raise AdapterRefused(path, f"manifest format {manifest.get('format')!r}, expected {FORMAT!r}")
    if manifest.get("prompt") != PROMPT:
        raise AdapterRefused(path, f"it expects the prompt {manifest.get('prompt')!r}; the gateway writes "
                                   f"the {PROMPT!r} prompt")
    trained_on = str(manifest.get("base_sha256", "")).lower()
    if trained_on != base_sha256.lower():
        raise AdapterRefused(path, f"it was trained on {manifest.get('base_name', 'another model')} "
                                   f"(sha256 {trained_on[:12] or 'not given'}…), not on {base_name} "
                                   f"(sha256 {base_sha256[:12]}…)")
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise AdapterRefused(path, f"{size} bytes is too large for an adapter of the embedded model")
        data = path.read_bytes()
    except FileNotFoundError:
        raise AdapterRefused(path, "missing") from None
    except OSError as error:
        raise AdapterRefused(path, f"unreadable: {error.strerror}") from None
    if data[:4] != b"GGUF":
        raise AdapterRefused(path, f"not a GGUF file (header {data[:4]!r})")
    digest = hashlib.sha256(data).hexdigest()
    if digest != str(manifest.get("adapter_sha256", "")).lower():
        raise AdapterRefused(path, f"sha256 is {digest[:12]}…, the manifest says "
                                   f"{str(manifest.get('adapter_sha256', ''))[:12] or 'nothing'}… "
                                   "(corrupt, or not the file the manifest describes)")
    hyper = manifest.get("hyperparameters")
    steps = hyper.get("steps", 0) if isinstance(hyper, dict) else 0
    return Adapter(path, str(manifest.get("base_name", "")), int(steps) if isinstance(steps, int) else 0,
                   digest)
