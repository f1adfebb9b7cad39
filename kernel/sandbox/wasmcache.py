"""Cache of the compiled QuickJS guest, so an app launch deserializes native code instead of
compiling 740 kB of wasm with Cranelift (about 1–2 s on these cores).

quickjs-rs compiles its guest once per process into a process-shared artifact slot; we fill that
slot from a serialized module keyed by the guest's sha256 and the wasmtime version. Deserializing is
only safe for files we wrote, so the cache directory must be owned by us and not writable by others
(the app host loads it before dropping privileges).

`python -m llmos.kernel.sandbox.wasmcache [DIR]` fills the cache: the zygote runs it when neither the
cache nor the image has a guest for this CPU (a compile leaves worker threads, and a process that forks
must have one), and so does the kernel at start when it forks no hosts (AppManager.warm). Launches wait
for either, because on a slow machine the compile alone outlasts an app host's ready timeout (36 s
under a busy TCG guest), and a host killed mid-compile never writes the cache.

The image ships the guest precompiled for a baseline x86-64 (x86-64-v2: SSE4.2 and POPCNT, no AVX), so
it loads on any such CPU, QEMU's TCG `-cpu max` included: `python -m llmos.kernel.sandbox.wasmcache
--generic DIR` writes it at image build time, and install() tries it before compiling. A module compiled
natively on the build host would carry the host's features (AVX-512 on the build machines), and
wasmtime refuses to load it on a CPU without them. On a CPU below the baseline the image's module is
refused and the guest is compiled once per machine into the data partition, as before.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import stat
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

import wasmtime
from quickjs_rs import _engine, _wasmtime

from llmos import paths

log = logging.getLogger("llmos.sandbox.wasmcache")

_ARTIFACT_KEY = "quickjs"  # the slot name quickjs_rs._engine._quickjs_artifact() uses


# The x86-64-v2 features beyond the x86-64 baseline that Cranelift can use; the image's module is
# compiled with exactly these, so every CPU that has them can load it.
GENERIC_TARGET = "x86_64-unknown-linux-gnu"
GENERIC_FEATURES = ("has_sse3", "has_ssse3", "has_sse41", "has_sse42", "has_popcnt")


def default_dir() -> Path:
    return paths.quickjs_cache_dir()


def image_dir() -> Path:
    """The read-only copy compiled at image build time (host/image.py, wasm_tree)."""
    return Path(os.environ.get("LLMOS_WASM_IMAGE_DIR", "/usr/lib/llmos/wasm"))


def _check_private(directory: Path, owners: tuple[int, ...] = ()) -> None:
    info = directory.stat()
    allowed = (os.geteuid(), *owners)
    if info.st_uid not in allowed or stat.S_IMODE(info.st_mode) & 0o022:
        raise PermissionError(f"{directory}: wasm cache must be owned by uid {os.geteuid()} and not "
                              f"group/world-writable (deserializing a foreign file runs its code)")


def cache_key(wasm: bytes) -> str:
    """The file name's key: the guest's sha256 and the wasmtime version (its serialization format)."""
    return hashlib.sha256(hashlib.sha256(wasm).digest() + version("wasmtime").encode()).hexdigest()[:24]


def file_name(key: str) -> str:
    """A compiled guest's file name, the same in this machine's cache and in the image."""
    return f"guest-{key}.cwasm"


def compiled_file(directory: Path | None = None) -> Path | None:
    """The compiled guest that install() would try first, this machine's or the image's, if there is a
    file for the bundled guest; not loaded (install() finds out a damaged or foreign one)."""
    key = cache_key(_engine._read_guest_wasm())
    for path in ((directory or default_dir()) / file_name(key), image_dir() / file_name(key)):
        if path.is_file():
            return path
    return None


def _from_image(engine: wasmtime.Engine, key: str) -> wasmtime.Module | None:
    """The image's precompiled guest, if there is one for this key and this CPU can run it."""
    path = image_dir() / file_name(key)
    if not path.is_file():
        return None
    try:
        _check_private(path.parent, owners=(0,))  # root's read-only /usr
        return wasmtime.Module.deserialize_file(engine, str(path))
    except Exception as error:  # below the baseline CPU, or a foreign file: compile for this machine
        log.warning("wasm cache: the image's %s is unusable here (%s); compiling for this machine",
                    path, error)
        return None


def compile_generic(directory: Path) -> Path:
    """Compile the guest for GENERIC_FEATURES into `directory` (the image build runs this)."""
    wasm = _engine._read_guest_wasm()
    config = wasmtime.Config()
    config.target = GENERIC_TARGET
    for feature in GENERIC_FEATURES:
        config.cranelift_flag_enable(feature)
    module = wasmtime.Module(wasmtime.Engine(config), wasm)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / file_name(cache_key(wasm))
    path.write_bytes(module.serialize())
    os.chmod(path, 0o644)
    # The file must load into the default engine the app hosts use (same wasmtime, same settings).
    wasmtime.Module.deserialize_file(_wasmtime.shared_wasmtime_engine(), str(path))
    return path


def install(directory: Path | None = None, *, compile_apart: bool = False) -> str:
    """Make the shared QuickJS artifact ready; returns 'loaded' (warm: this machine's cache or the
    image's precompiled guest), 'compiled' (cold, now cached) or 'present' (this process already had
    it). `compile_apart`: a compile runs in a child process (`main`), whose file this one then loads:
    Cranelift's worker threads stay in the process that compiled, and the zygote must fork with one."""
    if _ARTIFACT_KEY in _wasmtime._SHARED_ARTIFACTS:
        return "present"
    directory = directory or default_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o755)
    _check_private(directory)
    wasm = _engine._read_guest_wasm()
    build_id = hashlib.sha256(wasm).digest()
    key = cache_key(wasm)
    path = directory / file_name(key)
    engine = _wasmtime.shared_wasmtime_engine()
    module: wasmtime.Module | None = None
    how = "loaded"
    if path.exists():
        try:
            module = wasmtime.Module.deserialize_file(engine, str(path))
        except Exception as error:  # a stale or damaged file: recompile and replace it
            log.warning("wasm cache: %s unusable (%s); recompiling", path, error)
    if module is None:
        module = _from_image(engine, key)
    if module is None and compile_apart:
        how = "compiled"
        module = _compiled_apart(engine, directory, path)
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


def _compiled_apart(engine: wasmtime.Engine, directory: Path, path: Path) -> wasmtime.Module | None:
    """The guest compiled into `path` by a child process, or None (the caller compiles it itself)."""
    command = [sys.executable, "-m", "llmos.kernel.sandbox.wasmcache", str(directory)]
    done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    if done.returncode == 0:
        with contextlib.suppress(Exception):  # wasmtime's errors have no common base
            return wasmtime.Module.deserialize_file(engine, str(path))
    log.warning("wasm cache: compiling in a child process failed (exit %s: %s); compiling here",
                done.returncode, (done.stdout + done.stderr).strip()[-300:])
    return None


def main(argv: list[str]) -> int:
    if argv[:1] == ["--generic"] and len(argv) == 2:
        started = time.monotonic()
        path = compile_generic(Path(argv[1]))
        print(f"wasm module for {GENERIC_TARGET} (+{','.join(GENERIC_FEATURES)}): {path} in "
              f"{time.monotonic() - started:.1f} s", flush=True)
        return 0
    directory = Path(argv[0]) if argv else None
    started = time.monotonic()
    how = install(directory)
    print(f"wasm cache {how} in {time.monotonic() - started:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
