"""The compositor's one toast system (compositor/shell/toasts.py), in process on a real Scene:
stacking in the top right corner, the limit, fading out and narrow screens."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import cairocffi as cairo

from llmos.compositor.scene import Rect, Scene
from llmos.compositor.shell.toasts import FADE_S, GAP, MARGIN, MAX_TOASTS, WIDTH, Toasts


def scene(width: int = 1280, height: int = 800) -> Scene:
    return Scene(width, height, lambda: None)


def test_toasts_stack_in_the_top_right_corner_oldest_first() -> None:
    screen = scene()
    toasts = Toasts(screen)
    assert screen.overlays == [toasts.paint]
    toasts.notify("Timer", "Break   is\nover", 0)
    toasts.notify("", "Saved", 0)
    assert toasts.texts() == ["Break is over", "Saved"]
    first, second = (toast.layer.rect() for toast in toasts.shown)
    assert (first.x + first.w, first.y) == (1280 - MARGIN, MARGIN)
    assert first.w == WIDTH
    assert (second.x + second.w, second.y) == (1280 - MARGIN, first.y + first.h + GAP)


def test_at_most_max_toasts_and_the_oldest_goes() -> None:
    toasts = Toasts(scene())
    for number in range(MAX_TOASTS + 2):
        toasts.notify("", f"note {number}", 0)
    assert toasts.texts() == [f"note {n}" for n in range(2, MAX_TOASTS + 2)]
    assert toasts.shown[0].layer.rect().y == MARGIN, "the rest moved up"


def test_a_narrow_screen_gets_a_narrower_toast_that_is_painted() -> None:
    screen = scene(320, 240)
    toasts = Toasts(screen)
    toasts.notify("", "hello", 0)
    rect = toasts.shown[0].layer.rect()
    assert rect == Rect(MARGIN, MARGIN, 320 - 2 * MARGIN, rect.h)
    image = cairo.ImageSurface(cairo.FORMAT_RGB24, 320, 240)
    screen.render(cairo.Context(image), [screen.screen])
    image.flush()
    data, stride = bytes(image.get_data()), image.get_stride()
    x, y = rect.x + rect.w - 20, rect.y + rect.h // 2
    blue, green, red = data[y * stride + x * 4: y * stride + x * 4 + 3]
    assert max(red, green, blue) < 40, "the toast's dark card is drawn"


async def until(condition: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.005)


def test_a_toast_fades_and_goes_after_its_timeout() -> None:
    async def scenario() -> None:
        toasts = Toasts(scene())
        began = time.monotonic()
        toasts.notify("", "short", 600)
        toasts.notify("", "stays", 0)
        short = toasts.shown[0]
        await until(lambda: 0 < short.layer.alpha < 1, "the fade")
        assert time.monotonic() - began >= 0.6 - FADE_S, "the fade starts half a second before the end"
        await until(lambda: toasts.texts() == ["stays"], "the short toast to go")
        assert time.monotonic() - began >= 0.6
        assert toasts.shown[0].layer.rect().y == MARGIN, "the other one moved up"
        assert toasts.shown[0].timer is None, "a toast with timeout 0 stays"
        toasts.close()

    asyncio.run(scenario())


def test_close_stops_the_timers() -> None:
    async def scenario() -> None:
        toasts = Toasts(scene())
        toasts.notify("", "pending", 100)
        timer = toasts.shown[0].timer
        assert timer is not None
        toasts.close()
        assert timer.cancelled()

    asyncio.run(scenario())
