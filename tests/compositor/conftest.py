"""A real headless compositor in a subprocess (`python -m llmos.compositor`), shared by a module.

Readiness is its own "llmos: compositor output" line (printed once both sockets listen); tests talk
to it through its ipc socket and through real Wayland clients.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cairocffi as cairo
import pytest
from waiting import next_line, wait_for

from llmos import ipc
from llmos.init.awaited import FD_ENV

from .wlclient import Client

WIDTH, HEIGHT = 320, 240
BACKGROUND = (0x21, 0x30, 0x3F)


class Running:
    def __init__(self, proc: subprocess.Popen[str], root: Path) -> None:
        self.proc = proc
        self.root = root
        self.control = root / "run" / "compositor.sock"
        self.env = {**os.environ, "XDG_RUNTIME_DIR": str(root / "wl"), "WAYLAND_DISPLAY": "wayland-0",
                    "LLMOS_RUN_DIR": str(root / "run")}

    def call(self, method: str, **params: Any) -> Any:
        return ipc.call(self.control, method, timeout=20, **params)

    def screenshot(self) -> tuple[bytes, int]:
        """The screen as BGRX bytes and stride, through a real PNG written by the compositor."""
        result = self.call("screenshot", file=str(self.root / "shot.png"))
        image = cairo.ImageSurface.create_from_png(result["path"])
        return bytes(image.get_data()), image.get_stride()

    def alive(self) -> bool:
        return self.proc.poll() is None


def start(root: Path, extra_config: str = "", size: tuple[int, int] = (WIDTH, HEIGHT)) -> Running:
    """A compositor whose output is up (its first stdout line said so)."""
    proc = launch(root, extra_config, size)
    assert proc.stdout is not None
    line = next_line(proc.stdout, 20)
    if not line.startswith("llmos: compositor output headless"):
        proc.kill()
        raise AssertionError(f"compositor did not start: {line!r} {(root / 'stderr.log').read_text()}")
    return Running(proc, root)


def launch(root: Path, extra_config: str = "", size: tuple[int, int] = (WIDTH, HEIGHT),
           await_fd: int | None = None) -> subprocess.Popen[str]:
    """`python -m llmos.compositor` on a headless output; `await_fd` is passed as PID 1 passes the
    read end of its await pipe (init/awaited.py). Its stderr goes to ROOT/stderr.log."""
    (root / "wl").mkdir(parents=True, exist_ok=True)
    config = root / "llmos.toml"
    config.write_text(f"""
[display]
backend = "headless"
[compositor]
runtime_dir = "{root / 'wl'}"
headless_width = {size[0]}
headless_height = {size[1]}
[shell]
enabled = false
{extra_config}
""")
    env = {**os.environ, "LLMOS_CONFIG": str(config), "LLMOS_RUN_DIR": str(root / "run"),
           "LLMOS_STATE_DIR": str(root / "state"), "PYTHONUNBUFFERED": "1"}
    env.pop(FD_ENV, None)
    if await_fd is not None:
        env[FD_ENV] = str(await_fd)
    return subprocess.Popen([sys.executable, "-m", "llmos.compositor"], env=env, stdout=subprocess.PIPE,
                            stderr=open(root / "stderr.log", "w"), text=True,
                            pass_fds=() if await_fd is None else (await_fd,))


def stop(running: Running) -> None:
    running.proc.terminate()
    try:
        assert running.proc.wait(10) == 0, (running.root / "stderr.log").read_text()
    finally:
        if running.proc.poll() is None:
            running.proc.kill()


@pytest.fixture(scope="module")
def compositor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    running = start(tmp_path_factory.mktemp("compositor"))
    yield running
    stop(running)


@pytest.fixture
def connect(compositor: Running) -> Iterator[Callable[[], Client]]:
    """Open test clients; all are disconnected (and their windows gone) after the test."""
    clients: list[Client] = []

    def make() -> Client:
        client = Client(compositor.env)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
    wait_for(lambda: compositor.call("windows") == [], what="windows of the test to go away")


def pixel(data: bytes, stride: int, x: int, y: int) -> tuple[int, int, int]:
    offset = y * stride + x * 4
    return data[offset + 2], data[offset + 1], data[offset]
