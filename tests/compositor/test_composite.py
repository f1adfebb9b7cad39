"""Composites checked pixel for pixel against what our own pywayland clients drew."""

from __future__ import annotations

import pytest

from .conftest import BACKGROUND, HEIGHT, WIDTH, pixel, wait_for
from .wlclient import gradient, render, solid

pytestmark = pytest.mark.timeout(60)


def expected_screen(windows: list[tuple[int, int, int, int, bytes]]) -> bytes:
    """BGRX rows: background, then each (x, y, w, h, pixels) pasted bottom to top."""
    background = bytes([BACKGROUND[2], BACKGROUND[1], BACKGROUND[0], 0]) * WIDTH
    rows = [bytearray(background) for _ in range(HEIGHT)]
    for x, y, w, h, pixels in windows:
        for row in range(h):
            rows[y + row][x * 4:(x + w) * 4] = pixels[row * w * 4:(row + 1) * w * 4]
    return b"".join(rows)


def assert_screen(compositor, windows) -> None:
    data, stride = compositor.screenshot()
    assert stride == WIDTH * 4
    expected = expected_screen(windows)
    # compare colour channels only; the cursor's antialiased tip sits in the bottom-right 3x3 corner
    got = bytearray(data)
    for y in range(HEIGHT - 3, HEIGHT):
        start = (y * WIDTH + WIDTH - 3) * 4
        got[start:start + 12] = expected[start:start + 12]
    for channel in range(3):
        if got[channel::4] != expected[channel::4]:
            bad = next(i for i in range(WIDTH * HEIGHT) if got[i * 4 + channel] != expected[i * 4 + channel])
            raise AssertionError(f"pixel ({bad % WIDTH}, {bad // WIDTH}) differs: "
                                 f"{pixel(bytes(got), stride, bad % WIDTH, bad // WIDTH)}")


def mapped(compositor, count: int) -> list[dict]:
    return wait_for(lambda: (lambda w: w if len(w) == count else None)(compositor.call("windows")),
                    what=f"{count} windows")


def test_two_overlapping_windows_and_raise(compositor, connect) -> None:
    compositor.call("inject", pointer=[WIDTH - 1, HEIGHT - 1])
    a, b = connect(), connect()
    first = a.toplevel("first")
    first.draw(100, 80, gradient((10, 20, 30)))
    a.roundtrip()
    second = b.toplevel("second")
    second.draw(90, 70, gradient((200, 100, 50)))
    b.roundtrip()
    windows = {w["title"]: w for w in mapped(compositor, 2)}
    assert windows["second"]["focused"] and not windows["first"]["focused"]
    compositor.call("move", id=windows["first"]["id"], x=20, y=30)
    compositor.call("move", id=windows["second"]["id"], x=70, y=60)
    assert_screen(compositor, [(20, 30, 100, 80, first.pixels), (70, 60, 90, 70, second.pixels)])

    compositor.call("focus", id=windows["first"]["id"])  # raises it above the other
    assert_screen(compositor, [(70, 60, 90, 70, second.pixels), (20, 30, 100, 80, first.pixels)])
    a.roundtrip()
    assert 4 in _states(first.configures[-1][2]), "the focused toplevel is configured activated"


def _states(raw: bytes) -> list[int]:
    import struct
    return list(struct.unpack(f"={len(raw) // 4}I", raw))


def test_only_damaged_rows_are_taken(compositor, connect) -> None:
    compositor.call("inject", pointer=[WIDTH - 1, HEIGHT - 1])
    client = connect()
    window = client.toplevel("damage")
    window.draw(60, 40, solid((255, 0, 0)))
    client.roundtrip()
    (info,) = mapped(compositor, 1)
    compositor.call("move", id=info["id"], x=10, y=10)
    before = window.pixels
    top = render(60, 20, solid((0, 255, 0)))
    bottom = render(60, 20, solid((0, 0, 255)))
    window.draw(60, 40, solid((0, 0, 0)), damage=(0, 0, 60, 20), pixels=top + bottom)
    client.roundtrip()
    # the undamaged bottom half keeps the old content: the compositor copied only damaged rows
    assert_screen(compositor, [(10, 10, 60, 40, top + before[len(top):])])


def test_frame_callback_after_commit(compositor, connect) -> None:
    client = connect()
    window = client.toplevel("frames")
    window.request_frame()
    window.draw(20, 20, solid((1, 2, 3)))
    wait_for(lambda: client.roundtrip() >= 0 and window.frames_done == 1, what="frame done")
    window.request_frame()
    window.surface.commit()  # a commit with only a frame callback still gets one
    wait_for(lambda: client.roundtrip() >= 0 and window.frames_done == 2, what="second frame done")


def test_close_request_reaches_client(compositor, connect) -> None:
    client = connect()
    window = client.toplevel("closable")
    window.draw(20, 20, solid((9, 9, 9)))
    client.roundtrip()
    (info,) = mapped(compositor, 1)
    compositor.call("close", id=info["id"])
    wait_for(lambda: client.roundtrip() >= 0 and window.closed, what="xdg_toplevel.close")


def test_notify_draws_a_toast(compositor, connect) -> None:
    compositor.call("inject", pointer=[0, HEIGHT - 1])
    compositor.call("notify", text="hello", timeout_ms=60000)
    data, stride = compositor.screenshot()
    assert max(pixel(data, stride, WIDTH - 40, 30)) < 40, "inside the toast's dark card, top right"
    with pytest.raises(Exception, match="bad-request"):
        compositor.call("notify", text="")
