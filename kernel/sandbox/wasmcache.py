"""Cache of the compiled QuickJS guest, so an app launch deserializes native code instead of
compiling 740 kB of wasm with Cranelift (about 1–2 s on these cores).

quickjs-rs compiles its guest once per process into a process-shared artifact slot; we fill that
slot from a serialized module keyed by the guest's sha256 and the wasmtime version. Deserializing is
only safe for files we wrote, so the cache directory must be owned by us and not writable by others
(the app host loads it before dropping privileges).

`python -m llmos.kernel.sandbox.wasmcache [DIR]` fills the cache: the kernel runs it once at start
(AppManager.warm), because on a slow machine the compile alone outlasts an app host's ready timeout
(36 s under a busy TCG guest), and a host killed mid-compile never writes the cache.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import sys
import time
from importlib.metadata import version
from pathlib import Path

import wasmtime
from quickjs_rs import _engine, _wasmtime

from llmos import paths

log = logging.getLogger("llmos.sandbox.wasmcache")

_ARTIFACT_KEY = "quickjs"  # the slot name quickjs_rs._engine._quickjs_artifact() uses


def default_dir() -> Path:
    return paths.state_dir() / "cache" / "quickjs"


def _check_private(directory: Path) -> None:
    info = directory.stat()
    if info.st_uid != os.geteuid() or stat.S_IMODE(info.st_mode) & 0o022:
        raise PermissionError(f"{directory}: wasm cache must be owned by uid {os.geteuid()} and not "
                              f"group/world-writable (deserializing a foreign file runs its code)")


def install(directory: Path | None = None) -> str:
    """Make the shared QuickJS artifact ready; returns 'loaded' (warm), 'compiled' (cold, now
    cached) or 'present' (this process already had it)."""
    if _ARTIFACT_KEY in _wasmtime._SHARED_ARTIFACTS:
        return "present"
    directory = directory or default_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o755)
    _check_private(directory)
    wasm = _engine._read_guest_wasm()
    build_id = hashlib.sha256(wasm).digest()
    key = hashlib.sha256(build_id + version("wasmtime").encode()).hexdigest()[:24]
    path = directory / f"guest-{key}.cwasm"
    engine = _wasmtime.shared_wasmtime_engine()
    module: wasmtime.Module | None = None
    how = "loaded"
    if path.exists():
        try:
            module = wasmtime.Module.deserialize_file(engine, str(path))
        except Exception as error:  # a stale or damaged file: recompile and replace it
            log.warning("wasm cache: %s unusable (%s); recompiling", path, error)
    if module is None:
        how = "compiled"
        module = wasmtime.Module(engine, wasm)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(module.serialize())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    with _wasmtime._SHARED_ARTIFACTS_LOCK:
        _wasmtime._SHARED_ARTIFACTS.setdefault(_ARTIFACT_KEY, _wasmtime.SharedWasmArtifact(
            module=module, linker=_engine._build_shared_linker(engine), build_id=build_id))
    return how


def main(argv: list[str]) -> int:
    directory = Path(argv[0]) if argv else None
    started = time.monotonic()
    how = install(directory)
    print(f"wasm cache {how} in {time.monotonic() - started:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
