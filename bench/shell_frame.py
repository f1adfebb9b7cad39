"""OS shell figures: (1) building and drawing the launcher with 8 suggestions through the SDK
renderer, in process (cold, changed prompt, unchanged), plus compositing it into a 1280x800 frame;
(2) keypress -> launcher pixels on screen through a real headless compositor (ipc inject, then an
ipc `pixels` probe that forces the repaint), with the stub kernel supplying suggestions.

Run: .venv/bin/python bench/shell_frame.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import cairocffi as cairo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from llmos.compositor.shell import views
from llmos.compositor.shell.layer import Layer
from llmos.compositor.shell.state import ShellState, Suggestion
from llmos.compositor.shell.surfaces import PANEL_THEME

SCREEN = (1280, 800)


class NoActions:
    def __getattr__(self, name: str):  # every action is a no-op for drawing
        return lambda *args: None


def ms(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1000:.2f} ms (min {min(values) * 1000:.2f})"


def launcher_tree(state: ShellState) -> dict:
    return views.launcher(state, NoActions(), views.Handlers(), SCREEN)  # type: ignore[arg-type]


def in_process() -> None:
    state = ShellState(connected=True, panel="launcher", prompt="a timer")
    state.suggestions = [Suggestion(f"{i:064x}", f"App number {i}", f"an app that does thing {i} well")
                         for i in range(8)]
    frame = cairo.ImageSurface(cairo.FORMAT_RGB24, *SCREEN)
    cold, changed, same, composite = [], [], [], []
    for _ in range(5):
        layer = Layer("panel", PANEL_THEME, lambda n, a: None, lambda rect: None)
        start = time.perf_counter()
        layer.show(launcher_tree(state), lambda size: (320, 100))
        cold.append(time.perf_counter() - start)
    for i in range(60):
        state.prompt = f"a timer {i}"
        start = time.perf_counter()
        layer.show(launcher_tree(state), lambda size: (320, 100))
        changed.append(time.perf_counter() - start)
        start = time.perf_counter()
        layer.show(launcher_tree(state), lambda size: (320, 100))
        same.append(time.perf_counter() - start)
        start = time.perf_counter()
        layer.paint(cairo.Context(frame))
        frame.flush()
        composite.append(time.perf_counter() - start)
    w, h = layer.size
    print(f"launcher with 8 suggestions ({w}x{h} logical px), build tree + render:")
    print(f"  first draw (new renderer, text caches warm after the first): {ms(cold)}")
    print(f"  prompt changed (tree built, laid out, painted): {ms(changed)}")
    print(f"  unchanged state (tree built and compared, nothing painted): {ms(same)}")
    print(f"  composite the panel (shadow + rounded clip) into a 1280x800 frame: {ms(composite)}")


def keypress_latency() -> None:
    from shell.harness import CODES, EV_KEY, Desktop, wait_for

    root = Path(tempfile.mkdtemp(prefix="shellbench"))
    desktop = Desktop(root)
    try:
        desktop.start_kernel()
        desktop.type("timer")
        wait_for(lambda: desktop.shell()["suggestions"], what="suggestions")
        field = desktop.shell()["widgets"]["panel"]["prompt"]
        y = field[1] + field[3] // 2
        points = [[x, y + dy] for x in range(field[0] + 8, field[0] + 260, 2) for dy in (-3, 0, 3)]
        samples = []
        before = desktop.call("pixels", points=points)
        for i in range(30):
            char = "abcdefghij"[i % 10] if i % 2 == 0 else None
            code = CODES[char][0] if char else 14  # a letter, then Backspace
            start = time.perf_counter()
            desktop.call("inject", events=[{"type": EV_KEY, "code": code, "value": 1},
                                           {"type": EV_KEY, "code": code, "value": 0}])
            while True:
                now = desktop.call("pixels", points=points)
                if now != before:
                    break
            samples.append(time.perf_counter() - start)
            before = now
        print("keypress -> launcher pixels changed on the headless screen (inject ipc + probe ipc):")
        print(f"  {ms(samples)} over {len(samples)} keys")
    finally:
        desktop.close()


if __name__ == "__main__":
    print(f"{time.strftime('%Y-%m-%d')}, host: {len(__import__('os').sched_getaffinity(0))} cores")
    in_process()
    keypress_latency()
