"""The Wayland window against a REAL compositor: weston's headless backend (pixman renderer).

Our own compositor (compositor/) is developed in parallel; weston stands in until it is usable.
weston's headless backend has no input devices, so pointer/keyboard routing is tested on the
Keyboard translator with a real xkb keymap, and the widgets' behaviour in test_interaction.py.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import cairocffi as cairo
import pytest
from xkbcommon import xkb

from llmos.sdk.render import Renderer, keys
from llmos.sdk.wayland import WaylandWindow
from llmos.sdk.wayland.keyboard import Keyboard

from . import samples

pytestmark = pytest.mark.skipif(shutil.which("weston") is None, reason="weston is not installed")
WESTON_INI = """[core]
idle-time=0
[shell]
animation=none
startup-animation=none
focus-animation=none
panel-position=none
background-color=0xff202020
"""


class Weston:
    def __init__(self, tmp: Path, shell: str) -> None:
        self.runtime = tmp / "xdg"
        self.runtime.mkdir(mode=0o700)
        (tmp / "weston.ini").write_text(WESTON_INI)
        self.socket = self.runtime / "wl-test"
        self.env = {**os.environ, "XDG_RUNTIME_DIR": str(self.runtime), "WAYLAND_DISPLAY": "wl-test"}
        self.log = (tmp / "weston.log").open("w")
        self.proc = subprocess.Popen(
            ["weston", f"--config={tmp / 'weston.ini'}", "--backend=headless-backend.so", "--use-pixman",
             "--socket=wl-test", "--width=640", "--height=480", f"--shell={shell}", "--debug"],
            env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while not self.socket.exists():  # ready = its socket exists
            assert self.proc.poll() is None, f"weston exited: {(tmp / 'weston.log').read_text()[-500:]}"
            assert time.monotonic() < deadline, "weston did not create its socket in 15 s"
            time.sleep(0.02)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()


@pytest.fixture(scope="module")
def weston(tmp_path_factory):
    server = Weston(tmp_path_factory.mktemp("weston"), "desktop-shell.so")
    yield server
    server.stop()


async def until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Wait for a protocol condition while the loop dispatches Wayland events."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.005)


def test_window_maps_configures_commits_and_gets_frames_and_releases(weston) -> None:
    async def scenario() -> None:
        renderer = Renderer()
        window = WaylandWindow(renderer, title="Pomodoro Timer", app_id="llmos.test",
                               display=str(weston.socket))
        await window.start()
        window.update(samples.pomodoro())
        await asyncio.wait_for(window.configured.wait(), 10)
        await until(lambda: window.stats.commits >= 1 and window.stats.frames_done >= 1, "first frame")
        assert renderer.size() == (280, 203)  # desktop-shell lets the client choose: natural size
        window.update(samples.pomodoro(running=True))
        await until(lambda: window.stats.commits >= 2, "second commit")
        window.update(samples.pomodoro(running=False, minutes=30))
        await until(lambda: window.stats.releases >= 1 and window.stats.frames_done >= 2,
                    "a buffer release and the next frame callback")
        assert window.stats.configures == 1
        await until(lambda: not window._frame_pending, "the frame callback of the last commit")
        commits, painted = window.stats.commits, renderer.frames
        window.update()  # nothing changed: neither a repaint nor a commit
        for _ in range(3):
            await asyncio.sleep(0)
        assert (window.stats.commits, renderer.frames) == (commits, painted)
        window.close()

    asyncio.run(scenario())


def test_window_pixels_appear_on_the_compositor_output(weston, tmp_path) -> None:
    """weston --debug exposes its screenshooter; the client's pixels must be in the screenshot. The
    first frame done may be the one before the update, so screenshots are taken until the latest
    frame is on screen (or the time runs out, and the last mismatch is the failure)."""
    async def scenario() -> str:
        renderer = Renderer()
        window = WaylandWindow(renderer, title="Pomodoro Timer", display=str(weston.socket))
        await window.start()
        window.update(samples.pomodoro(minutes=42))
        await until(lambda: window.stats.frames_done >= 1, "first frame")
        deadline = asyncio.get_running_loop().time() + 20
        while True:
            for old in tmp_path.glob("wayland-screenshot-*.png"):
                old.unlink()
            shooter = await asyncio.create_subprocess_exec("weston-screenshooter", cwd=tmp_path,
                                                           env=weston.env)
            assert await asyncio.wait_for(shooter.wait(), 20) == 0
            mismatch = _on_screen(renderer, next(tmp_path.glob("wayland-screenshot-*.png")))
            if not mismatch or asyncio.get_running_loop().time() > deadline:
                window.close()
                return mismatch
            await asyncio.sleep(0.2)  # between screenshots, not a readiness wait

    mismatch = asyncio.run(scenario())
    assert not mismatch, mismatch


def _on_screen(renderer: Renderer, screenshot: Path) -> str:
    """Why the renderer's latest pixels are not in the screenshot; empty when they are."""
    shot = cairo.ImageSurface.create_from_png(str(screenshot))
    screen, stride = bytes(shot.get_data()), shot.get_stride()
    client, width, height = bytes(renderer.pixels()), *renderer.pixel_size()
    row = width * 4
    found = screen.find(client[:row])
    if found < 0:
        return "the window's first pixel row is not on screen"
    top, left = divmod(found, stride)
    for y in range(height):
        start = (top + y) * stride + left
        if screen[start:start + row] != client[y * row:(y + 1) * row]:
            return f"row {y} differs on screen"
    return ""


def test_kiosk_shell_configures_a_fullscreen_size_and_the_renderer_follows(tmp_path) -> None:
    server = Weston(tmp_path, "kiosk-shell.so")
    try:
        async def scenario() -> None:
            renderer = Renderer(title_bar=False)
            window = WaylandWindow(renderer, title="Kiosk", display=str(server.socket))
            await window.start()
            window.update(samples.pomodoro())
            await until(lambda: window.stats.commits >= 1, "first commit")
            assert window.stats.last_configure_size == (640, 480)
            assert renderer.size() == (640, 480)
            window.close()

        asyncio.run(scenario())
    finally:
        server.stop()


def test_missing_compositor_is_a_clear_error(tmp_path) -> None:
    async def scenario() -> None:
        window = WaylandWindow(Renderer(), title="x", display=str(tmp_path / "nobody-here"))
        await window.start()

    with pytest.raises(Exception, match="onnect"):
        asyncio.run(scenario())


def test_keyboard_translates_evdev_codes_with_a_real_xkb_keymap() -> None:
    """The wl_keyboard path without a seat: hand the Keyboard a keymap fd as a compositor would."""
    keymap = xkb.Context().keymap_new_from_names(layout="us")
    text = keymap.get_as_bytes()
    fd = os.memfd_create("keymap")
    os.write(fd, text + b"\0")
    got: list[tuple[int, bool, str, bool]] = []

    async def scenario() -> None:
        board = Keyboard(lambda *event: got.append(event), asyncio.get_running_loop())
        board.keymap(1, fd, len(text) + 1)
        board.repeat_info(50, 30)  # 30 ms delay, 50/s
        board.key(30, True)  # KEY_A
        board.key(30, False)
        shift = keymap.mod_get_index("Shift")
        board.modifiers(1 << shift, 0, 0, 0)
        board.key(30, True)
        await until(lambda: len(got) >= 5, "key repeat", timeout=5)
        board.key(30, False)
        board.modifiers(0, 0, 0, 0)
        board.key(15, True)  # KEY_TAB
        board.stop_repeat()

    asyncio.run(scenario())
    assert got[0] == (ord("a"), True, "a", False)
    assert got[1][:2] == (ord("a"), False)
    assert got[2] == (ord("A"), True, "A", True)
    assert got[3] == (ord("A"), True, "A", True)  # repeated
    assert got[-1][:2] == (keys.TAB, True)
    with pytest.raises(OSError):
        os.fstat(fd)  # the keymap fd was closed after reading
