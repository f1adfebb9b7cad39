"""One xdg_toplevel showing a Renderer. Pacing follows the compositor: draw after a configure
is acked, then at most one frame per wl_surface.frame callback; a buffer is reused only after
wl_buffer.release. The display fd sits in the asyncio loop (add_reader), so input, app events
and redraws share one thread."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pywayland.client.display import Display
from pywayland.protocol.wayland import WlCompositor, WlRegistryProxy, WlSeat, WlSeatProxy, WlShm
from pywayland.protocol.xdg_shell import XdgSurfaceProxy, XdgWmBase

from llmos.sdk.render import MalformedTree, Renderer, keys
from llmos.sdk.wayland.keyboard import Keyboard
from llmos.sdk.wayland.shm import BufferPool, ShmBuffer

log = logging.getLogger(__name__)
SCROLL_PX_PER_UNIT = 3.2  # wl_pointer.axis gives ~10 units per wheel notch; one notch = one list row
SEAT_CAP_POINTER, SEAT_CAP_KEYBOARD = 1, 2


@dataclass
class WindowStats:
    """Protocol milestones, for tests and diagnostics."""

    configures: int = 0
    commits: int = 0
    frames_done: int = 0
    releases: int = 0
    last_configure_size: tuple[int, int] = (0, 0)


class WaylandWindow:
    def __init__(self, renderer: Renderer, *, title: str, app_id: str = "llmos.app",
                 on_close: Callable[[], None] | None = None,
                 on_error: Callable[[Exception], None] | None = None,
                 display: str | None = None, answers_in_line: bool = False) -> None:
        self.renderer = renderer
        self.title = title
        self.app_id = app_id
        self.on_close = on_close
        self.on_error = on_error
        self.stats = WindowStats()
        self.configured = asyncio.Event()
        self._display_name = display or os.environ.get("WAYLAND_DISPLAY", "wayland-0")
        self._display: Display | None = None
        self._globals: dict[str, Any] = {}  # interface name -> proxy (registry.bind is untyped)
        self._tree: object = None
        self._frame_pending = False
        self._need_commit = False
        self._scheduled = False
        self._serial = 0
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        # The renderer's event sink hands each event to the app and returns after the app answered
        # (the app host runs the handler and re-renders in line; a new tree arrives through update()
        # before the sink returns). Then after each input the app's tree is the truth for its fields.
        self.answers_in_line = answers_in_line

    # -- setup ---------------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect, bind globals and map the toplevel. The first drawing happens on configure."""
        self._loop = asyncio.get_running_loop()
        display = self._display = Display(self._display_name)
        display.connect()
        registry = display.get_registry()
        registry.dispatcher["global"] = self._on_global
        display.roundtrip()
        missing = [name for name in ("wl_compositor", "wl_shm", "xdg_wm_base") if name not in self._globals]
        if missing:
            display.disconnect()
            raise RuntimeError(f"compositor {self._display_name!r} lacks {', '.join(missing)}")
        wm_base = self._globals["xdg_wm_base"]
        wm_base.dispatcher["ping"] = lambda proxy, serial: proxy.pong(serial)
        self._pool = BufferPool(self._globals["wl_shm"], self._on_release)
        self._keyboard = Keyboard(self._on_key, self._loop)
        self.surface = self._globals["wl_compositor"].create_surface()
        self.xdg_surface = wm_base.get_xdg_surface(self.surface)
        self.xdg_surface.dispatcher["configure"] = self._on_xdg_configure
        self.toplevel = self.xdg_surface.get_toplevel()
        self.toplevel.dispatcher["configure"] = self._on_toplevel_configure
        self.toplevel.dispatcher["close"] = self._on_close
        self.toplevel.set_title(self.title)
        self.toplevel.set_app_id(self.app_id)
        if self.renderer.scale > 1:
            self.surface.set_buffer_scale(self.renderer.scale)
        self.surface.commit()  # the initial empty commit asks for the first configure
        display.flush()
        self._loop.add_reader(display.get_fd(), self._on_readable)

    def _on_global(self, registry: WlRegistryProxy, name: int, interface: str, version: int) -> None:
        wanted = {"wl_compositor": (WlCompositor, 4), "wl_shm": (WlShm, 1),
                  "xdg_wm_base": (XdgWmBase, 2), "wl_seat": (WlSeat, 5)}
        if interface in wanted and interface not in self._globals:
            iface, most = wanted[interface]
            self._globals[interface] = proxy = registry.bind(name, iface, min(version, most))
            if interface == "wl_seat":
                proxy.dispatcher["capabilities"] = self._on_seat_capabilities

    # -- public --------------------------------------------------------------------------------
    def update(self, tree: object = None) -> None:
        """Show a new UI tree (or just repaint after input); drawn at the next frame slot."""
        if tree is not None:
            self._tree = tree
        self._schedule()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._display is not None:
            if self._loop is not None:
                self._loop.remove_reader(self._display.get_fd())
            self._keyboard.stop_repeat()
            self.toplevel.destroy()
            self.xdg_surface.destroy()
            self.surface.destroy()
            self._pool.destroy()
            self._display.flush()
            self._display.disconnect()
            self._display = None

    # -- event loop ----------------------------------------------------------------------------
    def _on_readable(self) -> None:
        display = self._display
        if display is None:
            return
        try:
            display.read()
            display.dispatch(block=False)
            display.flush()
        except RuntimeError as error:
            log.warning("wayland connection lost: %s", error)
            self._closed_by_compositor()

    def _closed_by_compositor(self) -> None:
        if self._display is not None and self._loop is not None:
            self._loop.remove_reader(self._display.get_fd())
        if self.on_close is not None:
            self.on_close()

    def _schedule(self) -> None:
        if self._scheduled or self._closed or self._loop is None:
            return
        self._scheduled = True
        self._loop.call_soon(self._draw)  # coalesce a burst of input events into one frame

    # -- protocol handlers ---------------------------------------------------------------------
    def _on_toplevel_configure(self, _toplevel: object, width: int, height: int, _states: object) -> None:
        self.stats.last_configure_size = (width, height)
        self.renderer.set_size((width, height) if width > 0 and height > 0 else None)

    def _on_xdg_configure(self, xdg_surface: XdgSurfaceProxy, serial: int) -> None:
        xdg_surface.ack_configure(serial)
        self.stats.configures += 1
        self._need_commit = True  # an acked configure must be followed by a commit
        self.configured.set()
        self._draw()

    def _on_close(self, _toplevel: object) -> None:
        if self.on_close is not None:
            self.on_close()

    def _on_frame_done(self, _callback: object, _time: int) -> None:
        self._frame_pending = False
        self.stats.frames_done += 1
        if self.renderer.needs_redraw or self._tree is not None or self._need_commit:
            self._draw()

    def _on_release(self, _buffer: ShmBuffer) -> None:
        self.stats.releases += 1
        if self._need_commit and not self._frame_pending:
            self._schedule()

    # -- drawing -------------------------------------------------------------------------------
    def _take_tree(self) -> None:
        """Adopt a tree that waits for the next frame slot now; it is painted in that slot."""
        if self._tree is None:
            return
        tree, self._tree = self._tree, None
        try:
            self.renderer.adopt(tree)
        except MalformedTree as error:
            if self.on_error is None:
                raise
            self.on_error(error)

    def _draw(self) -> None:
        self._scheduled = False
        display = self._display
        if self._closed or display is None or not self.configured.is_set() or self._frame_pending:
            return
        tree, self._tree = self._tree, None
        try:
            changed = self.renderer.render(tree)
        except MalformedTree as error:
            if self.on_error is None:
                raise
            self.on_error(error)
            changed = False
        if not changed and not self._need_commit:
            return
        width, height = self.renderer.pixel_size()
        if width <= 0 or height <= 0:
            return  # configured before the app's first tree: that tree's frame commits the ack
        buffer = self._pool.acquire(width, height)
        if buffer is None:
            self._need_commit = True  # all buffers busy: retry on release
            self.renderer.take_damage()
            return
        pixels = self.renderer.pixels()
        buffer.memory.seek(0)
        buffer.memory.write(pixels)
        buffer.busy = True
        damage = self.renderer.take_damage() if changed else []
        self.surface.attach(buffer.wl_buffer, 0, 0)
        if self._need_commit or not damage:
            self.surface.damage_buffer(0, 0, width, height)
        for x, y, w, h in damage:
            self.surface.damage_buffer(x, y, w, h)
        callback = self.surface.frame()
        callback.dispatcher["done"] = self._on_frame_done
        self._frame_pending = True
        self.surface.commit()
        self._need_commit = False
        self.stats.commits += 1
        display.flush()

    # -- input ---------------------------------------------------------------------------------
    def _on_seat_capabilities(self, seat: WlSeatProxy, caps: int) -> None:
        if caps & SEAT_CAP_POINTER and "pointer" not in self._globals:
            pointer = self._globals["pointer"] = seat.get_pointer()
            pointer.dispatcher["enter"] = self._on_pointer_enter
            pointer.dispatcher["leave"] = lambda *_: self._input(self.renderer.pointer_leave)
            pointer.dispatcher["motion"] = (
                lambda _p, _t, x, y: self._input(self.renderer.pointer_motion, x, y))
            pointer.dispatcher["button"] = self._on_button
            pointer.dispatcher["axis"] = self._on_axis
        if caps & SEAT_CAP_KEYBOARD and "keyboard" not in self._globals:
            keyboard = self._globals["keyboard"] = seat.get_keyboard()
            keyboard.dispatcher["keymap"] = lambda _k, fmt, fd, size: self._keyboard.keymap(fmt, fd, size)
            keyboard.dispatcher["modifiers"] = (
                lambda _k, _s, dep, lat, lock, group: self._keyboard.modifiers(dep, lat, lock, group))
            keyboard.dispatcher["repeat_info"] = (
                lambda _k, rate, delay: self._keyboard.repeat_info(rate, delay))
            keyboard.dispatcher["key"] = (
                lambda _k, serial, _t, key, state: self._keyboard.key(key, state == 1))
            keyboard.dispatcher["leave"] = lambda *_: self._keyboard.stop_repeat()

    def _input(self, method: Callable[..., object], *args: object) -> None:
        """One input event. The app's newest tree is adopted first, even if it is not painted yet: the
        app forgets the handler ids of its older trees, and a key sent to one of those is lost (two
        keys in one read, or a key while a frame is pending, issue 16 item 9)."""
        self._take_tree()
        method(*args)
        if self.answers_in_line:
            self._take_tree()
            self.renderer.settle()  # a refused or rewritten key does not stay in the field
        if self.renderer.needs_redraw:
            self._schedule()

    def _on_pointer_enter(self, _pointer: object, serial: int, _surface: object, x: float, y: float) -> None:
        self._serial = serial
        self._input(self.renderer.pointer_motion, x, y)

    def _on_button(self, _pointer: object, serial: int, _time: int, button: int, state: int) -> None:
        self._serial = serial
        pressed = state == 1
        pointer = self.renderer.interaction.pointer
        if (pressed and button == keys.BTN_LEFT and pointer is not None and self.renderer.title_bar
                and pointer[1] < self.renderer.theme.title_height and "wl_seat" in self._globals):
            self.toplevel.move(self._globals["wl_seat"], serial)  # drag the window by its title bar
            return
        self._input(self.renderer.pointer_button, button, pressed)

    def _on_axis(self, _pointer: object, _time: int, axis: int, value: float) -> None:
        if axis == 0:
            self._input(self.renderer.axis, 0.0, value * SCROLL_PX_PER_UNIT)
        else:
            self._input(self.renderer.axis, value * SCROLL_PX_PER_UNIT, 0.0)

    def _on_key(self, keysym: int, pressed: bool, text: str, shift: bool) -> None:
        self._input(self.renderer.key, keysym, pressed, text, shift)
