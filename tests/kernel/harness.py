"""A real headless compositor and a real kernel service, each a subprocess, sharing one llmos.toml
(as in the image) and temporary LLMOS_STATE_DIR / LLMOS_RUN_DIR. App hosts started by the kernel
are real Wayland clients of that compositor. Also used by bench/kernel_launch.py."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from waiting import next_line, wait_for

from llmos import ipc

WIDTH, HEIGHT = 640, 480
BACKGROUND = (0x21, 0x30, 0x3F)


async def next_event(client: ipc.Client, accept: Callable[[str, Any], bool], timeout: float = 20.0,
                     seen: list[tuple[str, Any]] | None = None) -> tuple[str, Any]:
    """The next pushed event that `accept`s, skipping (and recording) the others."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise AssertionError(f"no matching event in {timeout} s; saw {seen}")
        name, data = await asyncio.wait_for(client.events.get(), remaining)
        if seen is not None:
            seen.append((name, data))
        if accept(name, data):
            return name, data


@dataclass
class System:
    root: Path
    config: Path
    env: dict[str, str]
    compositor: subprocess.Popen[str] | None = None
    kernel: subprocess.Popen[bytes] | None = None
    logs: list[Path] = field(default_factory=list)

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def kernel_socket(self) -> Path:
        return self.run / "kernel.sock"

    def log_tail(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in self.logs
                         if p.exists())

    # -- processes -----------------------------------------------------------------------------
    def start_compositor(self, timeout: float = 30.0) -> None:
        log = self.root / "compositor.log"
        self.logs.append(log)
        self.compositor = subprocess.Popen(
            [sys.executable, "-m", "llmos.compositor"], env=self.env, stdout=subprocess.PIPE,
            stderr=open(log, "w"), text=True)  # noqa: SIM115
        assert self.compositor.stdout is not None
        line = next_line(self.compositor.stdout, timeout)
        assert line.startswith("llmos: compositor output headless"), \
            f"compositor: {line!r}\n{self.log_tail()}"

    def start_kernel(self, timeout: float = 40.0) -> float:
        """Start `python -m llmos.kernel`; returns seconds until its socket accepted."""
        log = self.root / "kernel.log"
        self.logs.append(log)
        started = time.monotonic()
        self.kernel = subprocess.Popen([sys.executable, "-m", "llmos.kernel"], env=self.env,
                                       stdout=open(log, "ab"), stderr=subprocess.STDOUT)  # noqa: SIM115

        def accepting() -> bool:
            assert self.kernel is not None and self.kernel.poll() is None, \
                f"kernel exited {self.kernel.returncode if self.kernel else '?'}\n{self.log_tail()}"
            try:
                self.call("status", timeout=5)
            except (OSError, ipc.RpcError):
                return False
            return True
        wait_for(accepting, timeout, "the kernel socket to accept")
        return time.monotonic() - started

    def stop_kernel(self) -> int:
        if self.kernel is None or self.kernel.poll() is not None:
            return self.kernel.returncode if self.kernel else 0
        self.kernel.send_signal(signal.SIGTERM)
        try:
            return self.kernel.wait(20)
        except subprocess.TimeoutExpired:
            self.kernel.kill()
            self.kernel.wait()
            raise AssertionError(f"kernel did not stop on SIGTERM\n{self.log_tail()}") from None

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.stop_kernel()
        if self.compositor and self.compositor.poll() is None:
            self.compositor.terminate()
            try:
                self.compositor.wait(10)
            except subprocess.TimeoutExpired:
                self.compositor.kill()
                self.compositor.wait()

    # -- talking -------------------------------------------------------------------------------
    def call(self, method: str, timeout: float = 20.0, **params: Any) -> Any:
        return ipc.call(self.kernel_socket, method, timeout=timeout, **params)

    def compositor_call(self, method: str, **params: Any) -> Any:
        return ipc.call(self.run / "compositor.sock", method, timeout=20, **params)

    def windows(self) -> list[dict[str, Any]]:
        return self.compositor_call("windows")

    def non_background_pixels(self, window: dict[str, Any], step: int = 4) -> int:
        """Pixels inside `window` that differ from the compositor's background, from a real PNG."""
        import cairocffi as cairo

        shot = self.compositor_call("screenshot", file=str(self.root / "shot.png"))
        image = cairo.ImageSurface.create_from_png(shot["path"])
        data, stride = bytes(image.get_data()), image.get_stride()
        count = 0
        for y in range(max(0, window["y"]), min(window["y"] + window["height"], image.get_height()), step):
            for x in range(max(0, window["x"]), min(window["x"] + window["width"], image.get_width()), step):
                offset = y * stride + x * 4
                if (data[offset + 2], data[offset + 1], data[offset]) != BACKGROUND:
                    count += 1
        return count


def make_system(extra_config: str = "", wasm_cache: Path | None = None) -> System:
    """A fresh short temp root (Unix socket paths are limited to 108 bytes)."""
    root = Path(tempfile.mkdtemp(prefix="lk"))
    for name in ("wl", "run", "state"):
        (root / name).mkdir()
    if wasm_cache is not None:  # share the compiled QuickJS module between systems of one test run
        (root / "state" / "cache").mkdir()
        (root / "state" / "cache" / "quickjs").symlink_to(wasm_cache)
    config = root / "llmos.toml"
    config.write_text(f"""{extra_config}
[display]
backend = "headless"
[compositor]
runtime_dir = "{root / 'wl'}"
headless_width = {WIDTH}
headless_height = {HEIGHT}
""")
    env = {key: value for key, value in os.environ.items()
           if key not in ("WAYLAND_DISPLAY", "XDG_RUNTIME_DIR", "WAYLAND_SOCKET")}
    env.update(LLMOS_CONFIG=str(config), LLMOS_RUN_DIR=str(root / "run"), LLMOS_STATE_DIR=str(root / "state"),
               PYTHONUNBUFFERED="1")
    return System(root, config, env)


def remove(system: System) -> None:
    system.stop()
    shutil.rmtree(system.root, ignore_errors=True)


@contextlib.contextmanager
def running_system(wasm_cache: Path | None = None) -> Iterator[System]:
    """A compositor and a kernel (desktop mode), started on a fresh state; on leaving, the kernel must
    stop cleanly (exit 0) and everything is removed."""
    running = make_system(wasm_cache=wasm_cache)
    try:
        running.start_compositor()
        running.start_kernel()
        yield running
        assert running.stop_kernel() == 0, running.log_tail()
    finally:
        remove(running)
