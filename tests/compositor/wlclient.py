"""A small pywayland *client* for tests: xdg toplevels filled with known pixels, plus a keyboard log.

Pixels are XRGB8888 (opaque) so that the expected composite is exact; `pattern(x, y)` gives each
window a gradient so that an offset or a wrong stride shows up as a mismatch, not as a coincidence.
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pywayland.client import Display
from pywayland.protocol.wayland import WlCompositor, WlDataDeviceManager, WlOutput, WlSeat, WlShm
from pywayland.protocol.xdg_shell import XdgWmBase

XRGB8888 = 1

Pattern = Callable[[int, int], tuple[int, int, int]]


def solid(rgb: tuple[int, int, int]) -> Pattern:
    return lambda x, y: rgb


def gradient(base: tuple[int, int, int]) -> Pattern:
    return lambda x, y: ((base[0] + x) & 0xFF, (base[1] + y) & 0xFF, (base[2] + x + y) & 0xFF)


def render(width: int, height: int, pattern: Pattern) -> bytes:
    """Rows of XRGB8888 little-endian pixels (B, G, R, X in memory)."""
    rows = []
    for y in range(height):
        rows.append(b"".join(struct.pack("<I", (r << 16) | (g << 8) | b) for r, g, b in
                             (pattern(x, y) for x in range(width))))
    return b"".join(rows)


@dataclass
class Window:
    client: Client
    surface: Any
    xdg_surface: Any
    toplevel: Any
    width: int = 0
    height: int = 0
    configures: list[tuple[int, int, bytes]] = field(default_factory=list)
    closed: bool = False
    frames_done: int = 0
    pixels: bytes = b""

    def draw(self, width: int, height: int, pattern: Pattern, damage: tuple[int, int, int, int] | None = None,
             pixels: bytes | None = None) -> None:
        """Attach a fresh buffer with the pattern and commit (damage: buffer rectangle, None = all)."""
        self.width, self.height = width, height
        self.pixels = pixels if pixels is not None else render(width, height, pattern)
        buffer = self.client.buffer(width, height, self.pixels)
        self.surface.attach(buffer, 0, 0)
        x, y, w, h = damage or (0, 0, width, height)
        self.surface.damage_buffer(x, y, w, h)
        self.surface.commit()

    def request_frame(self) -> None:
        callback = self.surface.frame()

        def done(_callback: Any, _data: int) -> None:
            self.frames_done += 1

        callback.dispatcher["done"] = done
        self.client._keep.append(callback)


class Client:
    """One connection to the compositor with the globals bound."""

    def __init__(self, env: dict[str, str]) -> None:
        self.display = Display(os.path.join(env["XDG_RUNTIME_DIR"], env["WAYLAND_DISPLAY"]))
        self.display.connect()
        self.globals: dict[str, Any] = {}
        self.keys: list[tuple[int, int]] = []  # (evdev code, state)
        self.modifiers: list[tuple[int, int, int, int]] = []
        self.keyboard_entered: list[Any] = []
        self.pointer_events: list[tuple[str, Any]] = []
        self.keymap_size = 0
        registry = self.display.get_registry()
        registry.dispatcher["global"] = self._global
        self.display.roundtrip()
        self.compositor = self.globals["wl_compositor"]
        self.shm = self.globals["wl_shm"]
        self.wm_base = self.globals["xdg_wm_base"]
        self.wm_base.dispatcher["ping"] = lambda base, serial: base.pong(serial)
        self._buffers: list[Any] = []
        self._keep: list[Any] = [registry]

    def _global(self, registry: Any, name: int, interface: str, version: int) -> None:
        classes = {"wl_compositor": (WlCompositor, 5), "wl_shm": (WlShm, 1), "xdg_wm_base": (XdgWmBase, 2),
                   "wl_seat": (WlSeat, 5), "wl_output": (WlOutput, 2),
                   "wl_data_device_manager": (WlDataDeviceManager, 3)}
        if interface in classes:
            cls, wanted = classes[interface]
            self.globals[interface] = registry.bind(name, cls, min(version, wanted))

    def buffer(self, width: int, height: int, pixels: bytes, stride: int | None = None,
               pool_size: int | None = None) -> Any:
        stride = stride or width * 4
        size = pool_size or stride * height
        fd = os.memfd_create("test-buffer")
        os.ftruncate(fd, size)
        with mmap.mmap(fd, size) as memory:
            memory[:len(pixels)] = pixels
        pool = self.shm.create_pool(fd, size)
        buffer = pool.create_buffer(0, width, height, stride, XRGB8888)
        pool.destroy()
        os.close(fd)
        buffer.dispatcher["release"] = lambda b: None
        self._keep.append(pool)
        self._buffers.append(buffer)
        return buffer

    def toplevel(self, title: str = "test", app_id: str = "test.client") -> Window:
        """An xdg toplevel that has done its configure/ack handshake (not mapped yet)."""
        surface = self.compositor.create_surface()
        xdg_surface = self.wm_base.get_xdg_surface(surface)
        toplevel = xdg_surface.get_toplevel()
        window = Window(self, surface, xdg_surface, toplevel)
        self._keep.append(window)
        toplevel.dispatcher["configure"] = lambda t, w, h, states: window.configures.append((w, h, states))
        toplevel.dispatcher["close"] = lambda t: setattr(window, "closed", True)
        xdg_surface.dispatcher["configure"] = lambda xs, serial: xs.ack_configure(serial)
        toplevel.set_title(title)
        toplevel.set_app_id(app_id)
        surface.commit()
        self.display.roundtrip()
        return window

    def keyboard(self) -> Any:
        keyboard = self.globals["wl_seat"].get_keyboard()
        keyboard.dispatcher["keymap"] = self._keymap
        keyboard.dispatcher["enter"] = lambda k, serial, surface, keys: self.keyboard_entered.append(surface)
        keyboard.dispatcher["leave"] = lambda k, serial, surface: None
        keyboard.dispatcher["key"] = lambda k, serial, time, key, state: self.keys.append((key, state))
        keyboard.dispatcher["modifiers"] = lambda k, s, d, la, lo, g: self.modifiers.append((d, la, lo, g))
        keyboard.dispatcher["repeat_info"] = lambda k, rate, delay: None
        self._keep.append(keyboard)  # pywayland proxies only live through a collectable cycle
        return keyboard

    def _keymap(self, _keyboard: Any, keymap_format: int, fd: int, size: int) -> None:
        with mmap.mmap(fd, size, mmap.MAP_PRIVATE, mmap.PROT_READ) as memory:
            if memory[:18] == b"xkb_keymap {"[:18] or memory.find(b"xkb_keycodes") >= 0:
                self.keymap_size = size
        os.close(fd)

    def pointer(self) -> Any:
        pointer = self.globals["wl_seat"].get_pointer()
        for name in ("enter", "leave", "motion", "button", "axis", "frame"):
            pointer.dispatcher[name] = (lambda event: lambda p, *args: self.pointer_events.append(
                (event, args)))(name)
        self._keep.append(pointer)
        return pointer

    def roundtrip(self) -> int:
        return self.display.roundtrip()

    def error(self) -> int:
        from pywayland import lib
        return lib.wl_display_get_error(self.display._ptr)

    def close(self) -> None:
        self.display.disconnect()
