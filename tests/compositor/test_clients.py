"""Third-party Debian clients (weston-simple-shm, foot) and misbehaving clients.

A misbehaving client must be disconnected with a protocol error while the compositor keeps serving
everyone else; each test ends by checking that a well-behaved client still gets its pixels on screen.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from .conftest import BACKGROUND, pixel, wait_for
from .wlclient import solid

pytestmark = pytest.mark.timeout(60)
EV_KEY = 1


def window_named(compositor, title: str) -> dict | None:
    return next((w for w in compositor.call("windows") if w["title"] == title), None)


def distinct_colours(compositor, window: dict) -> set:
    data, stride = compositor.screenshot()
    colours = set()
    for y in range(window["y"], min(window["y"] + window["height"], 240), 3):
        for x in range(window["x"], min(window["x"] + window["width"], 320), 3):
            colours.add(pixel(data, stride, x, y))
    return colours


def still_serving(compositor, connect) -> None:
    client = connect()
    window = client.toplevel("healthy")
    window.draw(30, 30, solid((250, 250, 0)))
    client.roundtrip()
    info = wait_for(lambda: window_named(compositor, "healthy"), what="healthy window")
    compositor.call("move", id=info["id"], x=200, y=150)
    data, stride = compositor.screenshot()
    assert pixel(data, stride, 210, 160) == (250, 250, 0)
    assert compositor.alive()


@pytest.mark.skipif(shutil.which("weston-simple-shm") is None, reason="weston is not installed")
def test_weston_simple_shm_pixels_appear(compositor, connect) -> None:
    proc = subprocess.Popen(["weston-simple-shm"], env=compositor.env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        window = wait_for(lambda: window_named(compositor, "simple-shm"), what="simple-shm window")
        compositor.call("move", id=window["id"], x=0, y=0)
        window = window_named(compositor, "simple-shm")
        assert len(distinct_colours(compositor, window) - {BACKGROUND}) > 20, "its animated pattern is shown"
    finally:
        proc.terminate()
        proc.wait(10)
    wait_for(lambda: compositor.call("windows") == [], what="simple-shm to go away")


@pytest.mark.skipif(shutil.which("foot") is None, reason="foot is not installed")
def test_foot_renders_and_receives_typed_keys(compositor, connect, tmp_path: Path) -> None:
    out = tmp_path / "typed"
    script = f'read line; printf %s "$line" > {out}.tmp; mv {out}.tmp {out}'
    env = {**compositor.env, "HOME": str(tmp_path)}
    proc = subprocess.Popen(["foot", "-o", "font=monospace:size=8", "sh", "-c", script], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        window = wait_for(lambda: window_named(compositor, "foot"), what="foot window")
        assert window["focused"]
        compositor.call("move", id=window["id"], x=0, y=0)
        window = window_named(compositor, "foot")
        assert len(distinct_colours(compositor, window)) > 1, "foot drew its title bar and terminal"
        keys = [35, 23, 28]  # h, i, Enter
        compositor.call("inject", events=[{"type": EV_KEY, "code": code, "value": value}
                                          for code in keys for value in (1, 0)])
        wait_for(out.exists, what="foot's shell to read the typed line")
        assert out.read_text() == "hi"
    finally:
        proc.terminate()
        proc.wait(10)
    wait_for(lambda: compositor.call("windows") == [], what="foot to go away")


def test_buffer_beyond_its_pool_is_a_protocol_error(compositor, connect) -> None:
    bad = connect()
    bad.buffer(100, 100, b"", pool_size=4096)  # 40000 bytes from a 4096-byte pool
    assert bad.roundtrip() == -1 and bad.error() != 0
    still_serving(compositor, connect)


def test_a_buffer_over_the_size_limit_is_a_protocol_error(compositor, connect) -> None:
    """The compositor copies every window; a 9000-pixel-wide buffer would make it allocate without bound."""
    bad = connect()
    window = bad.toplevel("huge")
    window.surface.attach(bad.buffer(9000, 4, b""), 0, 0)
    window.surface.commit()
    assert bad.roundtrip() == -1 and bad.error() != 0
    still_serving(compositor, connect)


def test_ack_of_unknown_serial_is_a_protocol_error(compositor, connect) -> None:
    bad = connect()
    window = bad.toplevel("liar")
    window.xdg_surface.ack_configure(123456)
    assert bad.roundtrip() == -1 and bad.error() != 0
    still_serving(compositor, connect)


def test_buffer_before_configure_ack_is_a_protocol_error(compositor, connect) -> None:
    bad = connect()
    surface = bad.compositor.create_surface()
    xdg_surface = bad.wm_base.get_xdg_surface(surface)
    xdg_surface.get_toplevel()
    surface.attach(bad.buffer(10, 10, b"\0" * 400), 0, 0)
    surface.commit()
    assert bad.roundtrip() == -1 and bad.error() != 0
    still_serving(compositor, connect)


def test_client_vanishing_mid_frame(compositor, connect) -> None:
    half = connect()
    window = half.toplevel("half")
    window.draw(40, 40, solid((1, 1, 1)))
    half.roundtrip()
    wait_for(lambda: window_named(compositor, "half"), what="window mapped")
    window.surface.attach(half.buffer(40, 40, b"\xff" * 6400), 0, 0)
    window.surface.damage_buffer(0, 0, 40, 40)
    half.display.flush()
    gone = socket.socket(fileno=os.dup(half.display.get_fd()))
    gone.shutdown(socket.SHUT_RDWR)  # gone between attach and commit, without a goodbye
    gone.close()
    wait_for(lambda: window_named(compositor, "half") is None, what="the vanished client's window to go")
    # a raw connection that sends half a message header, then hangs up
    raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    raw.connect(os.path.join(compositor.env["XDG_RUNTIME_DIR"], compositor.env["WAYLAND_DISPLAY"]))
    raw.sendall(b"\x01\x00\x00\x00\x0c\x00")
    raw.close()
    still_serving(compositor, connect)


def test_request_flood_disconnects_the_client(compositor, connect) -> None:
    flood = connect()
    for _ in range(25_000):  # objects without bound
        flood.compositor.create_region()
    assert flood.roundtrip() == -1 and flood.error() != 0
    still_serving(compositor, connect)
