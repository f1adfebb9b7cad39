"""A real headless compositor (with its OS shell) in a subprocess, plus a kernel for it to talk to.

test_real_kernel.py runs the real kernel service (`python -m llmos.kernel`, starter apps, real app
hosts); the scripted dialogs (slow, failing, offered flows) use stub_kernel.py, a documented
stand-in speaking the same socket API (LLMOS_SHELL_TEST_KERNEL=real runs them on the real one).
Input goes through the compositor's "inject" ipc (no /dev/uinput here); what the shell shows is
checked through its stdout markers, the compositor's "shell" ipc and pixel regions of real PNG
screenshots.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cairocffi as cairo
from waiting import wait_for

from llmos import ipc

HERE = Path(__file__).parent
WIDTH, HEIGHT = 1280, 800
EV_KEY = 1
BTN_LEFT = 0x110
KEY_ESC, KEY_ENTER, KEY_BACKSPACE, KEY_TAB, KEY_SPACE = 1, 28, 14, 15, 57
KEY_UP, KEY_DOWN, KEY_LEFTSHIFT, KEY_LEFTMETA = 103, 108, 42, 125
_ROWS = {"1234567890-=": 2, "qwertyuiop[]": 16, "asdfghjkl;'": 30, "zxcvbnm,./": 44}
CODES: dict[str, tuple[int, bool]] = {" ": (KEY_SPACE, False)}
for row, first in _ROWS.items():
    for offset, char in enumerate(row):
        CODES[char] = (first + offset, False)
        if char.isalpha():
            CODES[char.upper()] = (first + offset, True)


class Log:
    """Lines of a child's stdout, read by a thread so markers can be waited for."""

    def __init__(self, stream: Any) -> None:
        self.lines: list[str] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()

    def mark(self) -> int:
        with self._cond:
            return len(self.lines)

    def wait(self, text: str, since: int = 0, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines[since:]:
                    if text in line:
                        return line
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no line with {text!r}; got {self.lines[since:][-20:]}")
                self._cond.wait(left)

    def count(self, text: str, since: int = 0) -> int:
        with self._cond:
            return sum(1 for line in self.lines[since:] if text in line)


class Desktop:
    """The compositor with its shell, and the kernel next to it, sharing one temporary system."""

    def __init__(self, root: Path, mode: str = "desktop", size: tuple[int, int] = (WIDTH, HEIGHT),
                 first_boot: bool = False, toast_ms: int = 4000) -> None:
        self.root = root
        (root / "wl").mkdir(parents=True, exist_ok=True)
        (root / "state").mkdir(exist_ok=True)
        self.config = root / "llmos.toml"
        self.config.write_text(f"""
[system]
mode = "{mode}"
[display]
backend = "headless"
[compositor]
runtime_dir = "{root / 'wl'}"
headless_width = {size[0]}
headless_height = {size[1]}
[shell]
toast_ms = {toast_ms}
""")
        self.env = {**os.environ, "LLMOS_CONFIG": str(self.config), "LLMOS_RUN_DIR": str(root / "run"),
                    "LLMOS_STATE_DIR": str(root / "state"), "PYTHONUNBUFFERED": "1",
                    "XDG_RUNTIME_DIR": str(root / "wl"), "WAYLAND_DISPLAY": "wayland-0",
                    "STUB_FIRST_BOOT": "1" if first_boot else "0"}
        self.control = root / "run" / "compositor.sock"
        self.kernel_socket = root / "run" / "kernel.sock"
        self.compositor = subprocess.Popen([sys.executable, "-m", "llmos.compositor"], env=self.env,
                                           stdout=subprocess.PIPE, stderr=open(root / "compositor.log", "w"),  # noqa: SIM115
                                           text=True)
        self.log = Log(self.compositor.stdout)
        self.log.wait("llmos: compositor output headless", timeout=30)
        self.kernel: subprocess.Popen[str] | None = None

    def start_kernel(self, real: bool = False) -> None:
        if real or os.environ.get("LLMOS_SHELL_TEST_KERNEL") == "real":
            command = [sys.executable, "-m", "llmos.kernel"]
        else:
            command = [sys.executable, str(HERE / "stub_kernel.py")]
        self.kernel = subprocess.Popen(command, env=self.env, stdout=subprocess.DEVNULL,
                                       stderr=open(self.root / "kernel.log", "w"), text=True)  # noqa: SIM115
        wait_for(lambda: self.shell()["connected"], 30, "the shell to connect to the kernel")

    def stop_kernel(self) -> None:
        if self.kernel is not None:
            self.kernel.terminate()
            try:
                self.kernel.wait(10)
            finally:
                if self.kernel.poll() is None:
                    self.kernel.kill()
            self.kernel = None

    def close(self) -> None:
        self.stop_kernel()
        self.compositor.terminate()
        try:
            code = self.compositor.wait(10)
            assert code == 0, (self.root / "compositor.log").read_text()
        finally:
            if self.compositor.poll() is None:
                self.compositor.kill()

    # -- talking to it -------------------------------------------------------------------------------
    def call(self, method: str, **params: Any) -> Any:
        return ipc.call(self.control, method, timeout=20, **params)

    def kcall(self, method: str, **params: Any) -> Any:
        return ipc.call(self.kernel_socket, method, timeout=20, **params)

    def shell(self) -> dict[str, Any]:
        return self.call("shell")

    def keys(self, *codes: int) -> None:
        events = []
        for code in codes:
            events += [{"type": EV_KEY, "code": code, "value": 1}, {"type": EV_KEY, "code": code, "value": 0}]
        self.call("inject", events=events)

    def type(self, text: str) -> None:
        events = []
        for char in text:
            code, shift = CODES[char]
            if shift:
                events.append({"type": EV_KEY, "code": KEY_LEFTSHIFT, "value": 1})
            events += [{"type": EV_KEY, "code": code, "value": 1}, {"type": EV_KEY, "code": code, "value": 0}]
            if shift:
                events.append({"type": EV_KEY, "code": KEY_LEFTSHIFT, "value": 0})
        self.call("inject", events=events)

    def click(self, x: float, y: float) -> None:
        self.call("inject", pointer=[x, y])
        self.call("inject", events=[{"type": EV_KEY, "code": BTN_LEFT, "value": 1},
                                    {"type": EV_KEY, "code": BTN_LEFT, "value": 0}])

    def screenshot(self, name: str = "shot.png") -> cairo.ImageSurface:
        result = self.call("screenshot", file=str(self.root / name))
        return cairo.ImageSurface.create_from_png(result["path"])


def region_share(image: cairo.ImageSurface, rect: tuple[int, int, int, int],
                 match: Callable[[tuple[int, int, int]], bool], step: int = 4) -> float:
    """Share of sampled pixels in rect (x, y, w, h) whose colour matches."""
    data, stride = bytes(image.get_data()), image.get_stride()
    x0, y0, w, h = rect
    hits = total = 0
    for y in range(max(0, y0), min(image.get_height(), y0 + h), step):
        for x in range(max(0, x0), min(image.get_width(), x0 + w), step):
            offset = y * stride + x * 4
            rgb = (data[offset + 2], data[offset + 1], data[offset])
            total += 1
            hits += bool(match(rgb))
    return hits / total if total else 0.0


def white(rgb: tuple[int, int, int]) -> bool:
    return min(rgb) >= 245


def accent(rgb: tuple[int, int, int]) -> bool:
    r, g, b = rgb
    return b > 180 and r < 90 and 70 < g < 140
