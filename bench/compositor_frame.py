"""Compositor figures: composite time per frame at 1280x800 with 1, 4 and 16 windows (full repaint
and a small damaged region), commit->pixels latency through a real headless compositor, and the
CPU an idle compositor uses (getrusage of the child over a few seconds).

Run: .venv/bin/python bench/compositor_frame.py
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cairocffi as cairo

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "compositor"))

from llmos.compositor.scene import Rect, Scene, Surface, Window
from llmos.compositor.shm import Image

WIDTH, HEIGHT = 1280, 800


def fake_window(x: int, y: int, w: int, h: int, shade: float) -> Window:
    """A window whose pixels are already in compositor memory (what a commit leaves behind)."""
    data = bytearray(w * h * 4)
    image = cairo.ImageSurface.create_for_data(data, cairo.FORMAT_RGB24, w, h, w * 4)
    ctx = cairo.Context(image)
    ctx.set_source_rgb(shade, 0.5, 1 - shade)
    ctx.paint()
    surface = Surface(None, 0)
    surface.image = Image(image, data, w, h, w * 4, 1)
    return Window(surface, x=x, y=y)


def composite(count: int, damage: Rect | None, frames: int = 40) -> float:
    scene = Scene(WIDTH, HEIGHT, lambda: None)
    for i in range(count):
        scene.windows.append(fake_window(20 + 40 * (i % 8), 20 + 30 * (i // 2), 640, 480, i / max(count, 1)))
    shadow = cairo.ImageSurface(cairo.FORMAT_RGB24, WIDTH, HEIGHT)
    times = []
    for _ in range(frames):
        start = time.perf_counter()
        scene.render(cairo.Context(shadow), [damage or scene.screen])
        shadow.flush()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def latency_and_idle() -> tuple[float, float, float]:
    from conftest import start, stop, wait_for
    from wlclient import Client, solid

    root = Path(tempfile.mkdtemp(prefix="compositor-bench-"))
    running = start(root, size=(WIDTH, HEIGHT))
    try:
        client = Client(running.env)
        window = client.toplevel("bench")
        window.draw(800, 600, solid((10, 10, 10)), pixels=bytes([10, 10, 10, 0]) * 800 * 600)
        client.roundtrip()
        info = wait_for(lambda: running.call("windows"), what="window")[0]
        running.call("move", id=info["id"], x=0, y=0)
        colours = [(200, 0, 0), (0, 200, 0)]
        buffers = [client.buffer(800, 600, bytes([b, g, r, 0]) * 800 * 600) for r, g, b in colours]
        latencies, commits = [], []
        for i in range(30):
            colour = colours[i % 2]
            start_time = time.perf_counter()
            window.surface.attach(buffers[i % 2], 0, 0)
            window.surface.damage_buffer(0, 0, 800, 600)
            window.surface.commit()
            client.roundtrip()  # the commit has been processed: the pixels are copied
            commits.append(time.perf_counter() - start_time)
            got = running.call("pixels", points=[[400, 300]])[0]
            latencies.append(time.perf_counter() - start_time)
            assert tuple(got) == colour, got
        # idle: nothing changes, the compositor should sleep in epoll
        before = _cpu(running.proc.pid)
        time.sleep(3.0)  # measuring idle CPU over wall-clock time is the point here
        idle = (_cpu(running.proc.pid) - before) / 3.0 * 100
        client.close()
    finally:
        stop(running)
        print((root / "stderr.log").read_text()[-3000:], file=sys.stderr)
        shutil.rmtree(root, ignore_errors=True)
    return statistics.median(commits) * 1000, statistics.median(latencies) * 1000, idle


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime + stime
    import os
    return ticks / os.sysconf("SC_CLK_TCK")


def main() -> None:
    print(f"composite at {WIDTH}x{HEIGHT} (640x480 windows), median ms per frame:")
    for count in (1, 4, 16):
        full = composite(count, None)
        small = composite(count, Rect(300, 200, 64, 64))
        print(f"  {count:2d} windows: full repaint {full:6.2f} ms   64x64 damage {small:5.2f} ms")
    commit, probe, idle = latency_and_idle()
    print(f"commit -> compositor holds the pixels (800x600, client roundtrip): median {commit:.2f} ms")
    print(f"commit -> pixels on the headless screen (plus one ipc 'pixels' probe): median {probe:.2f} ms")
    print(f"idle compositor CPU: {idle:.2f} % of one core over 3 s")


if __name__ == "__main__":
    main()
