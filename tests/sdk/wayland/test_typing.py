"""Typing fast into a controlled TextInput of a real app (issue 16, item 9).

A real headless compositor (`python -m llmos.compositor`), a real kernel side (HeadlessKernel) and a real
app host with `--renderer wayland`: the keys are injected into the compositor as evdev events at 30 keys a
second and more, travel wl_keyboard -> the app's window -> the renderer's TextInput -> QuickJS onChange ->
re-render, exactly as a person's keys do. The apps are written as a capable model writes them: `useState`
and `ui.TextInput({ value, onChange })`.

Checked: every key arrives in the app's state, the field shows exactly the app's value (the window's pixels
on the compositor's screen are compared with the field painted from the app's own tree), and a value the
app refuses never stays in the field.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cairocffi as cairo
import pytest
from waiting import next_line

from llmos import ipc
from llmos.kernel.sandbox.headless import HeadlessApp, HeadlessKernel
from llmos.sdk.render import Renderer
from llmos.sdk.render.tree import Node

pytestmark = pytest.mark.timeout(180)

EV_KEY = 1
KEY_TAB, KEY_BACKSPACE = 15, 14
DIGIT_KEYS = {"1": 2, "2": 3, "3": 4, "4": 5, "5": 6, "6": 7, "7": 8, "8": 9, "9": 10, "0": 11}
LETTER_KEYS = {c: code for c, code in zip("qwertyuiop", range(16, 26), strict=True)} | \
    {c: code for c, code in zip("asdfghjkl", range(30, 39), strict=True)} | \
    {c: code for c, code in zip("zxcvbnm", range(44, 51), strict=True)} | {" ": 57, ".": 52}
KEYCODES = DIGIT_KEYS | LETTER_KEYS

TIP = """
import { ui, useState } from '@llm-os/sdk';

export default function App() {
  const [bill, setBill] = useState<string>('');
  const [percent, setPercent] = useState<number>(15);
  const amount = parseFloat(bill) || 0;
  const tip = (amount * percent) / 100;
  return ui.Window({ title: 'Tip Calculator' }, [
    ui.Text({ size: 'lg' }, 'Tip Calculator'),
    ui.TextInput({ value: bill, placeholder: 'Bill amount', onChange: (v: string) => setBill(v) }),
    ui.Slider({ min: 0, max: 30, value: percent, onChange: setPercent }),
    ui.Text({}, `Tip: $${tip.toFixed(2)}`),
    ui.Text({}, `Total: $${(amount + tip).toFixed(2)}`),
    ui.Text({}, `state=[${bill}]`),
  ]);
}
"""

WORDS = """
import { ui, useState } from '@llm-os/sdk';

export default function App() {
  const [text, setText] = useState('');
  const words = text.trim() === '' ? 0 : text.trim().split(/\\s+/).length;
  return ui.Window({ title: 'Word Counter' }, [
    ui.TextInput({ value: text, placeholder: 'Type something...', onChange: setText }),
    ui.Row([
      ui.Text({}, `Words: ${words}`),
      ui.Text({}, `Characters: ${text.length}`),
    ]),
    ui.Text({}, `state=[${text}]`),
  ]);
}
"""

# Digits only: the app refuses any other key, so the field must never keep one.
DIGITS_ONLY = """
import { ui, useState } from '@llm-os/sdk';

export default function App() {
  const [code, setCode] = useState('');
  return ui.Window({ title: 'PIN' }, [
    ui.TextInput({ value: code, onChange: (v: string) => { if (/^[0-9]*$/.test(v)) setCode(v); } }),
    ui.Text({}, `state=[${code}]`),
  ]);
}
"""


class Compositor:
    """The real compositor, headless, with its ipc socket for input injection and screenshots."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for name in ("wl", "run", "state"):
            (root / name).mkdir()
        self.config = root / "llmos.toml"
        self.config.write_text(f"""
[display]
backend = "headless"
[compositor]
runtime_dir = "{root / 'wl'}"
headless_width = 640
headless_height = 480
[shell]
enabled = false
""")
        env = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY", "WAYLAND_SOCKET")}
        self.env = {**env, "LLMOS_CONFIG": str(self.config), "LLMOS_RUN_DIR": str(root / "run"),
                    "LLMOS_STATE_DIR": str(root / "state"), "PYTHONUNBUFFERED": "1"}
        self.log = root / "compositor.log"
        self.proc = subprocess.Popen([sys.executable, "-m", "llmos.compositor"], env=self.env,
                                     stdout=subprocess.PIPE, stderr=self.log.open("w"), text=True)
        assert self.proc.stdout is not None
        line = next_line(self.proc.stdout, 30)
        if not line.startswith("llmos: compositor output headless"):
            self.stop()
            raise AssertionError(f"compositor did not start: {line!r}\n{self.log.read_text()[-2000:]}")

    async def call(self, method: str, **params: Any) -> Any:
        client = await ipc.Client.connect(self.root / "run" / "compositor.sock", 10)
        try:
            return await client.call(method, timeout=20, **params)
        finally:
            await client.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def compositor() -> Iterator[Compositor]:
    root = Path(tempfile.mkdtemp(prefix="lty"))  # Unix socket paths are limited to 108 bytes
    server = Compositor(root)
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def wasm_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("wasm")


@pytest.fixture
def app_env(compositor: Compositor, monkeypatch: pytest.MonkeyPatch) -> Compositor:
    """App hosts inherit this process's environment: point them at the compositor."""
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(compositor.root / "wl"))
    monkeypatch.setenv("LLMOS_CONFIG", str(compositor.config))
    return compositor


def press(code: int) -> list[dict[str, int]]:
    return [{"type": EV_KEY, "code": code, "value": 1}]


def release(code: int) -> list[dict[str, int]]:
    return [{"type": EV_KEY, "code": code, "value": 0}]


async def tree_of(app: HeadlessApp) -> dict[str, Any]:
    answer = await app.process.client.call("tree", timeout=10)  # type: ignore[union-attr]
    return answer["tree"]


def field_value(tree: dict[str, Any]) -> str:
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("type") == "TextInput":
                return str(node["props"].get("value", ""))
            stack.extend(node.get("children", []))
    raise AssertionError("no TextInput in the tree")


async def until(condition: Any, what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def start_app(kernel: HeadlessKernel, compositor: Compositor, source: str, app_id: str,
                    ) -> tuple[HeadlessApp, dict[str, Any]]:
    app = await kernel.launch(source, ["ui:window"], app_id=app_id, test_clock=False)
    pid = app.process.process.pid

    async def window() -> dict[str, Any] | None:
        return next((w for w in await compositor.call("windows") if w["pid"] == pid and w["width"] > 0
                     and w["focused"]), None)
    info = await until(window, "the app's window to show and take keyboard focus")
    await compositor.call("inject", events=press(KEY_TAB) + release(KEY_TAB))  # focus the text field
    await asyncio.sleep(0.3)
    return app, info


async def type_text(compositor: Compositor, text: str, keys_per_second: float, rolled: bool = False,
                    batch: int = 1) -> None:
    """Press and release each key at `keys_per_second`. `rolled` presses the next key before the last one
    is released, as a fast typist does; `batch` keys reach the app in one read, as they do when the app
    was busy (painting, under an emulated CPU) while they were typed."""
    period = batch / keys_per_second
    start = time.monotonic()
    previous: int | None = None
    for index in range(0, len(text), batch):
        events: list[dict[str, int]] = []
        for char in text[index:index + batch]:
            code = KEYCODES[char]
            events += press(code)
            if rolled and previous is not None:
                events += release(previous)
            elif not rolled:
                events += release(code)
            previous = code
        await compositor.call("inject", events=events)
        await asyncio.sleep(max(0.0, start + (index // batch + 1) * period - time.monotonic()))
    if rolled and previous is not None:
        await compositor.call("inject", events=release(previous))


def painted_field(tree: dict[str, Any], size: tuple[int, int]) -> tuple[bytes, int, int]:
    """The focused field as the app's own tree paints it: RGB rows, width, height."""
    renderer = Renderer()
    renderer.set_size(size)
    renderer.render(tree)
    node = renderer.find(lambda n: n.type == "TextInput")
    assert node is not None
    renderer.interaction.focus(node)
    renderer.render()
    return crop(renderer.surface(), node)


def crop(surface: cairo.ImageSurface, node: Node) -> tuple[bytes, int, int]:
    surface.flush()
    data, stride = bytes(surface.get_data()), surface.get_stride()
    x0, y0, w, h = int(node.x) + 2, int(node.y) + 2, int(node.w) - 4, int(node.h) - 4
    rows = [rgb(data[(y0 + y) * stride + x0 * 4:(y0 + y) * stride + (x0 + w) * 4]) for y in range(h)]
    return b"".join(rows), w, h


def rgb(row: bytes) -> bytes:
    return bytes(b for i, b in enumerate(row) if i % 4 != 3)


async def on_screen(compositor: Compositor, field: tuple[bytes, int, int]) -> bool:
    """Whether the field's pixels appear, row for row, on the compositor's screen."""
    shot = await compositor.call("screenshot", file=str(compositor.root / "shot.png"))
    image = cairo.ImageSurface.create_from_png(shot["path"])
    data, stride = bytes(image.get_data()), image.get_stride()
    screen = [rgb(data[y * stride:(y + 1) * stride]) for y in range(image.get_height())]
    pixels, width, height = field
    row = width * 3
    first = pixels[:row]
    for top, line in enumerate(screen[:len(screen) - height + 1]):
        at = line.find(first)
        while at >= 0:
            if at % 3 == 0 and all(screen[top + y][at:at + row] == pixels[y * row:(y + 1) * row]
                                   for y in range(height)):
                return True
            at = line.find(first, at + 1)
    return False


async def settled_value(app: HeadlessApp, expected: str, timeout: float = 5.0) -> str:
    """The app's value once it stops changing (or equals what was typed)."""
    deadline = time.monotonic() + timeout
    value = field_value(await tree_of(app))
    while value != expected and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        value = field_value(await tree_of(app))
    return value


async def type_into_app(compositor: Compositor, wasm_cache: Path, source: str, text: str, rate: float,
                        rolled: bool = False, batch: int = 1, expected: str | None = None) -> None:
    """Launch `source` in a window, type `text` into its field through the compositor, then check the
    app's state holds `expected` (what was typed, by default) and the window's field shows exactly it."""
    expected = text if expected is None else expected
    async with HeadlessKernel(wasm_cache=wasm_cache, confine=False) as kernel:
        assert kernel.manager is not None
        kernel.manager.renderer = "wayland"
        app, info = await start_app(kernel, compositor, source, "typing")
        try:
            await type_text(compositor, text, rate, rolled, batch)
            value = await settled_value(app, expected)
            assert value == expected, f"typed {text!r} into the app: it has {value!r}, not {expected!r}"
            tree = await tree_of(app)
            assert f"state=[{expected}]" in str(tree)
            field = painted_field(tree, (info["width"], info["height"]))
            await until(lambda: on_screen(compositor, field), "the window's field to show the app's value")
        finally:
            await app.stop()


@pytest.mark.parametrize(("source", "text", "rate", "rolled", "batch"), [
    (TIP, "1234.56", 30, False, 1),
    (TIP, "98765.43", 40, True, 1),
    (TIP, "12", 30, False, 2),
    (TIP, "4471.09", 30, False, 2),
    (WORDS, "the quick brown fox jumps", 30, False, 1),
    (WORDS, "pack my box with jugs", 45, True, 3),
], ids=["tip-30", "tip-40-rolled", "tip-12-together", "tip-30-pairs", "words-30", "words-45-threes"])
def test_every_key_typed_fast_reaches_the_app_and_the_field_shows_its_value(
        app_env: Compositor, wasm_cache: Path, source: str, text: str, rate: float, rolled: bool,
        batch: int) -> None:
    asyncio.run(type_into_app(app_env, wasm_cache, source, text, rate, rolled, batch))


def test_a_key_the_app_refuses_never_stays_in_the_field(app_env: Compositor, wasm_cache: Path) -> None:
    asyncio.run(type_into_app(app_env, wasm_cache, DIGITS_ONLY, "12a3b4", 30, expected="1234"))
