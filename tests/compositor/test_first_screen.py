"""The shell's first screen (compositor/first_screen.py): painted before the server's code loads, and
the same pixels as the shell's first frame once the server runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cairocffi as cairo
import pytest

from llmos import config
from llmos.compositor import first_screen
from llmos.compositor import settings as compositor_settings
from llmos.compositor.outputs.headless import HeadlessOutput
from llmos.compositor.scene import Rect
from llmos.compositor.server import CURSOR_SIZE
from llmos.compositor.shell import markers

from .shell.harness import HEIGHT, WIDTH, Desktop


def pixels(image: cairo.ImageSurface) -> list[bytes]:
    """Rows of RGB, without the padding byte, so the two images compare by what they show."""
    data, stride = bytes(image.get_data()), image.get_stride()
    return [bytes(b for i, b in enumerate(data[y * stride:y * stride + 4 * image.get_width()]) if i % 4 != 3)
            for y in range(image.get_height())]


def differing(a: list[bytes], b: list[bytes]) -> Rect:
    """The bounding box of the pixels that differ."""
    box = Rect(0, 0, 0, 0)
    for y, (row_a, row_b) in enumerate(zip(a, b, strict=True)):
        if row_a != row_b:
            xs = [i // 3 for i in range(len(row_a)) if row_a[i] != row_b[i]]
            box = box.union(Rect(min(xs), y, max(xs) - min(xs) + 1, 1))
    return box


def painted(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list[bytes], str]:
    monkeypatch.setenv("LLMOS_CONFIG", str(config_file))
    options, _, problems = compositor_settings.load(config.load(config_file))
    assert not problems
    output = HeadlessOutput(WIDTH, HEIGHT)
    assert first_screen.paint(options, output) == ""
    return pixels(output.screen()), options.mode


@pytest.mark.parametrize("mode", ["desktop", "kiosk"])
def test_the_shells_first_frame_shows_what_the_first_screen_showed(tmp_path: Path, mode: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the pointer appears when the server takes over (the shell has no kernel here, as at boot)."""
    desktop = Desktop(tmp_path, mode=mode)
    try:
        served = pixels(desktop.screenshot())
        first, _ = painted(desktop.config, monkeypatch)
        background = first[0][:3]
        drawn = sum(1 for row in first for i in range(0, len(row), 3) if row[i:i + 3] != background)
        changed = differing(first, served)
    finally:
        desktop.close()
    # where the pointer starts, with its outline's antialiasing
    cursor = Rect(WIDTH // 2 - 2, HEIGHT // 2 - 2, CURSOR_SIZE + 4, CURSOR_SIZE + 4)
    assert changed.union(cursor) == cursor, f"{changed} changed outside the pointer {cursor}"
    if mode == "kiosk":
        assert drawn == 0  # a kiosk shows its app, later: only the background until then
    else:
        assert drawn > WIDTH * HEIGHT // 20, "the launcher was not drawn"


def test_the_launcher_is_announced_on_the_console(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capfd: pytest.CaptureFixture[str]) -> None:
    """`llmos bench boot` reads "shell visible" from the first screen."""
    monkeypatch.setattr(markers, "_announced", set())  # once per process, and other tests show the shell
    painted(tmp_path / "none.toml", monkeypatch)
    assert "llmos: shell visible t=" in capfd.readouterr().out


def test_the_first_screen_loads_none_of_the_servers_code() -> None:
    """What it saves at boot: asyncio, pywayland and xkbcommon load only after it is on screen (and ssl
    never: compositor/startup.py)."""
    check = ("import sys\n"
             "import llmos.compositor.__main__\n"
             "from llmos.compositor import first_screen, settings\n"
             "from llmos.compositor.outputs.headless import HeadlessOutput\n"
             "options, _, _ = settings.load()\n"
             "assert first_screen.paint(options, HeadlessOutput(640, 480)) == ''\n"
             "server = {'asyncio', 'pywayland', 'xkbcommon', 'ssl'}\n"
             "print(sorted({m.split('.')[0] for m, v in sys.modules.items() if v is not None} & server))")
    env = {**os.environ, "LLMOS_CONFIG": "/nonexistent"}
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"


class FlippingOutput(HeadlessOutput):
    """A headless output whose presents complete as DRM's do: a flip event on a descriptor, later."""

    def __init__(self, completes: bool) -> None:
        super().__init__(64, 48)
        self.flip_fd, self._write = os.pipe()
        self.completes = completes

    def present(self, shadow: cairo.ImageSurface, rects: list[Rect]) -> bool:
        super().present(shadow, rects)
        if self.completes:
            os.write(self._write, b"flip")
        return True

    def handle_flip(self) -> bool:
        assert self.flip_fd is not None
        return bool(os.read(self.flip_fd, 64))


def test_the_first_screen_waits_for_its_flip_so_the_server_finds_none_pending(tmp_path: Path) -> None:
    output = FlippingOutput(completes=True)
    options, _, _ = compositor_settings.load(config.load(tmp_path / "none.toml"))
    assert first_screen.paint(options, output) == ""
    assert output.flip_fd is not None
    os.set_blocking(output.flip_fd, False)
    with pytest.raises(BlockingIOError):  # the flip event was taken
        os.read(output.flip_fd, 64)


def test_a_flip_that_never_completes_is_reported_not_waited_on(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(first_screen, "FLIP_WAIT_S", 0.05)
    options, _, _ = compositor_settings.load(config.load(tmp_path / "none.toml"))
    assert "did not complete within 0.05 s" in first_screen.paint(options, FlippingOutput(completes=False))
