"""The one-time QuickJS compile happens in the kernel's warm-up, never inside an app's start.

On a slow machine (a busy TCG guest) compiling the guest takes ~36 s, longer than an app host may take
to report ready (30 s): the host was killed mid-compile, the cache stayed empty, and no app could ever
start there (issue 16, item 10: the approval dialog's Enter "did nothing"). A host that starts on a cold
cache after `AppManager.warm()` must load the compiled guest, not compile it within its ready clock.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from .conftest import app_source

SCOPES = ["storage:local", "timer", "notify", "ui:window"]


def test_the_first_launch_on_a_cold_cache_waits_for_the_warm_up_instead_of_compiling(make_kernel, tmp_path):
    async def scenario() -> None:
        async with make_kernel() as kernel:
            cold = Path(tempfile.mkdtemp(dir=tmp_path))  # 0700, ours: what the cache check wants
            kernel.manager.cache_dir = cold
            warming = kernel.manager.warm()
            assert not warming.done()  # the launch below starts while the compile runs
            app = await kernel.manager.launch(app_source("pomodoro.ts"),
                                              kernel.authority.mint("pomodoro", SCOPES))
            assert warming.done()
            assert app.ready is not None and app.ready["cache"] == "loaded", app.ready
            assert [p.name for p in cold.glob("guest-*.cwasm")], "the warm-up wrote the compiled guest"
            assert kernel.manager.warm() is warming  # once per manager
    asyncio.run(asyncio.wait_for(scenario(), 120))


def test_a_launch_without_a_warm_up_still_compiles_for_itself(make_kernel, tmp_path):
    async def scenario() -> None:
        async with make_kernel() as kernel:
            kernel.manager.cache_dir = Path(tempfile.mkdtemp(dir=tmp_path))
            app = await kernel.manager.launch(app_source("pomodoro.ts"),
                                              kernel.authority.mint("pomodoro", SCOPES))
            assert app.ready is not None and app.ready["cache"] == "compiled", app.ready
    asyncio.run(asyncio.wait_for(scenario(), 120))


def _install_in_a_fresh_process(cache: Path, image_dir: Path) -> str:
    """install() keeps the module per process, so each case runs in a process of its own."""
    import os
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "llmos.kernel.sandbox.wasmcache", str(cache)],
                         env={**os.environ, "LLMOS_WASM_IMAGE_DIR": str(image_dir)},
                         capture_output=True, text=True, check=True)
    return out.stdout + out.stderr


def test_the_images_generic_module_loads_without_compiling_and_a_bad_one_is_compiled_over(tmp_path):
    """The image ships the guest compiled for x86-64-v2 (no AVX: QEMU's TCG and old PCs lack the build
    machine's AVX-512, and wasmtime refuses a module that uses features the CPU lacks)."""
    from llmos.kernel.sandbox import wasmcache

    image_dir = Path(tempfile.mkdtemp(dir=tmp_path))
    module = wasmcache.compile_generic(image_dir)
    assert module.name.startswith("guest-") and module.stat().st_size > 1_000_000
    cache = Path(tempfile.mkdtemp(dir=tmp_path))
    assert "wasm cache loaded" in _install_in_a_fresh_process(cache, image_dir)
    assert not list(cache.glob("guest-*.cwasm"))  # nothing compiled, nothing written on this machine

    module.write_bytes(b"\0asm-but-not-a-compiled-module")  # e.g. a CPU below the baseline refuses it
    output = _install_in_a_fresh_process(cache, image_dir)
    assert "wasm cache compiled" in output and "unusable here" in output
    assert [p.name for p in cache.glob("guest-*.cwasm")] == [module.name]  # compiled once for this machine
    assert "wasm cache loaded" in _install_in_a_fresh_process(cache, image_dir)


def test_the_compiled_guest_is_found_in_this_machines_cache_or_the_image(tmp_path, monkeypatch):
    from llmos.kernel.sandbox import wasmcache

    cache, image_dir = Path(tempfile.mkdtemp(dir=tmp_path)), Path(tempfile.mkdtemp(dir=tmp_path))
    monkeypatch.setenv("LLMOS_WASM_IMAGE_DIR", str(image_dir))
    assert wasmcache.compiled_file(cache) is None
    shipped = wasmcache.compile_generic(image_dir)
    assert wasmcache.compiled_file(cache) == shipped
    (cache / shipped.name).write_bytes(shipped.read_bytes())
    assert wasmcache.compiled_file(cache) == cache / shipped.name  # this machine's first, as install()
    (image_dir / "guest-0123456789abcdef01234567.cwasm").write_bytes(b"")  # another guest's: not ours
    shipped.unlink()
    (cache / shipped.name).unlink()
    assert wasmcache.compiled_file(cache) is None


def test_with_the_guest_compiled_the_zygote_starts_at_once_without_a_warm_up(make_kernel, wasm_cache,
                                                                             tmp_path, caplog):
    """What an image boots with (its precompiled guest): no warm-up process before the zygote's start,
    which under TCG cost a second before the first app could fork."""
    import logging

    from llmos.kernel.sandbox import wasmcache
    from llmos.kernel.sandbox.prefork import ForkedProcess

    _install_in_a_fresh_process(wasm_cache, Path(tempfile.mkdtemp(dir=tmp_path)))
    assert wasmcache.compiled_file(wasm_cache) is not None

    async def scenario() -> None:
        async with make_kernel(prefork=True) as kernel:
            assert kernel.manager.prefork is not None and kernel.manager.prefork.starts == 1
            app = await kernel.manager.launch(app_source("pomodoro.ts"),
                                              kernel.authority.mint("pomodoro", SCOPES))
            assert isinstance(app.process, ForkedProcess)
    with caplog.at_level(logging.INFO, logger="llmos.kernel.sandbox.manager"):
        asyncio.run(asyncio.wait_for(scenario(), 120))
    warm_ups = [r.getMessage() for r in caplog.records if "wasm cache" in r.getMessage()]
    assert warm_ups == [], warm_ups
