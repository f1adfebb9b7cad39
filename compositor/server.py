"""The compositor: one asyncio loop runs libwayland's event loop (through its epoll fd), the ipc
control socket, HAL input and frame pacing. Nothing polls: an idle compositor sleeps in epoll.

Flow (as in tinywl): client requests -> protocol handlers -> scene damage -> schedule_repaint (paced to
the refresh rate) -> render damaged rectangles into the shadow image -> output.present -> on flip (or
at once for timer-paced outputs) frame callbacks are sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cairocffi as cairo
from pywayland.protocol.wayland import WlCallbackResource
from pywayland.server.display import Display

from llmos import ipc, paths
from llmos.compositor import compat
from llmos.compositor.input import InputRouter, follow_hal, now_ms
from llmos.compositor.outputs import Output
from llmos.compositor.protocol.core import CompositorGlobal, SubcompositorGlobal
from llmos.compositor.protocol.data import DataDeviceManager
from llmos.compositor.protocol.output import OutputGlobal
from llmos.compositor.protocol.seat import Keymap, Seat
from llmos.compositor.protocol.xdg import WmBaseGlobal
from llmos.compositor.scene import Rect, Scene, Surface, Window
from llmos.compositor.settings import CompositorOptions
from llmos.compositor.shell.toasts import Toasts
from llmos.compositor.wm import WindowManager

if TYPE_CHECKING:
    from llmos.compositor.shell.shell import Shell

CURSOR_SIZE = 16


class Compositor:
    def __init__(self, settings: CompositorOptions, output: Output) -> None:
        self.settings = settings
        self.output = output
        self.display = Display()
        compat.set_max_buffer_size(self.display, 1 << 20)
        self.display.init_shm()
        self.event_loop = self.display.get_event_loop()
        width, height = output.transform.logical_size
        self.scene = Scene(width, height, self.schedule_repaint)
        self.scene.background = settings.background
        self.scene.cursor = self._draw_cursor
        self.shadow = cairo.ImageSurface(cairo.FORMAT_RGB24, width, height)
        self.wm = WindowManager(self, settings.mode, settings.tiling)
        self.globals = [CompositorGlobal(self), SubcompositorGlobal(self), WmBaseGlobal(self),
                        OutputGlobal(self)]
        self.seat = Seat(self, Keymap(settings.layout, settings.variant, settings.options))
        self.data = DataDeviceManager(self)
        self.router = InputRouter(self, settings.launcher_keys)
        self.ipc = ipc.Server(ipc.handlers(self))
        self.toasts = Toasts(self.scene)  # the one toast system, shell or not
        self.shell: Shell | None = None
        if settings.shell is not None and settings.shell.enabled:
            # imported here: Pango and the SDK renderer load only when there is a shell
            from llmos.compositor.shell.shell import Shell

            self.shell = Shell(self, settings.shell, paths.socket_path("kernel"))
        self.frames_presented = 0
        self._callbacks: list[WlCallbackResource] = []  # committed, waiting for the next repaint
        self._in_flight: list[WlCallbackResource] = []  # waiting for the frame being presented
        self._repaint_handle: asyncio.Handle | None = None
        self._flip_pending = False
        self._last_frame = 0.0
        self._cursor_rect = Rect(0, 0, 0, 0)
        self._tasks: set[asyncio.Task[object]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.scene.damage()

    # lifecycle
    async def run(self, stop: asyncio.Event) -> None:
        loop = self._loop = asyncio.get_running_loop()
        runtime = self.settings.runtime_dir
        runtime.mkdir(parents=True, exist_ok=True)
        os.chmod(runtime, 0o755)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)
        with contextlib.suppress(FileNotFoundError):
            (runtime / self.settings.socket_name).unlink()
        self.display.add_socket(self.settings.socket_name)
        os.chmod(runtime / self.settings.socket_name, 0o666)  # app hosts run as unprivileged users
        loop.add_reader(compat.event_loop_fd(self.display), self._dispatch)
        if self.output.flip_fd is not None:
            loop.add_reader(self.output.flip_fd, self._on_flip)
        await self.ipc.start(self.settings.control_socket)
        self.schedule_repaint()
        transform = self.output.transform
        size = f"{transform.physical_width}x{transform.physical_height}"
        print(f"llmos: compositor output {self.output.kind} {size}", flush=True)
        if self.shell is not None:
            self.shell.start(stop)
        if self.settings.hal_socket is not None:
            self._spawn(follow_hal(self.router, self.settings.hal_socket, stop))
        try:
            await stop.wait()
        finally:
            self._loop = None  # no more repaints or events
            if self.shell is not None:
                self.shell.close()
            self.toasts.close()
            loop.remove_reader(compat.event_loop_fd(self.display))
            if self.output.flip_fd is not None:
                loop.remove_reader(self.output.flip_fd)
            if self._repaint_handle is not None:
                self._repaint_handle.cancel()
            await self.ipc.close()
            for task in list(self._tasks):
                task.cancel()
            self.display.destroy()
            self.output.close()
            self.seat.keymap.close()

    def _spawn(self, coroutine: Coroutine[object, object, object]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _dispatch(self) -> None:
        self.event_loop.dispatch(0)
        self.display.flush_clients()

    def flush(self) -> None:
        self.display.flush_clients()

    def next_serial(self) -> int:
        return self.display.next_serial()

    def emit(self, event: str, data: Any) -> None:
        if event == "window" and self.shell is not None:
            self.shell.window_event(data)
        if self._loop is not None and self.ipc.connections:
            self._spawn(self.ipc.broadcast(event, data))

    # frames
    def queue_frame_callbacks(self, callbacks: list[WlCallbackResource]) -> None:
        self._callbacks += callbacks
        self.schedule_repaint()

    def schedule_repaint(self) -> None:
        if self._repaint_handle is not None or self._flip_pending or self._loop is None:
            return
        delay = self._last_frame + 1.0 / self.output.refresh_hz - time.monotonic()
        if delay > 0:
            self._repaint_handle = self._loop.call_later(delay, self._repaint)
        else:
            self._repaint_handle = self._loop.call_soon(self._repaint)

    def _repaint(self) -> None:
        self._repaint_handle = None
        if self._loop is None:
            return
        rects = self.scene.damage_list.take()
        self._in_flight += self._callbacks
        self._callbacks = []
        flipping = False
        if rects:
            self.scene.render(cairo.Context(self.shadow), rects)
            self.shadow.flush()
            flipping = self.output.present(self.shadow, rects)
            self.frames_presented += 1
        self._last_frame = time.monotonic()
        if flipping:
            self._flip_pending = True
        else:
            self._frame_done()

    def _on_flip(self) -> None:
        if self.output.handle_flip():
            self._flip_pending = False
            self._frame_done()

    def _frame_done(self) -> None:
        callbacks, self._in_flight = self._in_flight, []
        stamp = now_ms()
        for callback in callbacks:
            if compat.alive(callback):
                callback.done(stamp)
                callback.destroy()
        self.flush()
        if self.scene.damage_list or self._callbacks:
            self.schedule_repaint()

    def render_now(self) -> None:
        """Bring the screen up to date immediately (for screenshots), unless a flip is in flight."""
        if self._flip_pending:
            return
        if self._repaint_handle is not None:
            self._repaint_handle.cancel()
        self._repaint()

    # cursor
    def _cursor_image(self) -> tuple[cairo.ImageSurface | None, Rect]:
        seat = self.seat
        hidden = (self.settings.hide_cursor and self.wm.mode == "kiosk") or seat.cursor_hidden_by_client
        if hidden:
            return None, Rect(0, 0, 0, 0)
        x, y = int(seat.pointer_xy[0]), int(seat.pointer_xy[1])
        surface = seat.cursor_surface
        if surface is not None and surface.image is not None:
            hx, hy = seat.cursor_hotspot
            width, height = surface.size
            return surface.image.surface, Rect(x - hx, y - hy, width, height)
        return None, Rect(x, y, CURSOR_SIZE, CURSOR_SIZE)

    def _draw_cursor(self, ctx: cairo.Context) -> None:
        seat = self.seat
        image, rect = self._cursor_image()
        self._cursor_rect = rect
        if rect.empty:
            return
        if image is not None and seat.cursor_surface is not None:
            ctx.save()
            ctx.translate(rect.x, rect.y)
            scale = seat.cursor_surface.scale
            ctx.scale(1 / scale, 1 / scale)
            ctx.set_source_surface(image, 0, 0)
            ctx.paint()
            ctx.restore()
            return
        ctx.move_to(rect.x, rect.y)
        ctx.line_to(rect.x, rect.y + 14)
        ctx.line_to(rect.x + 4, rect.y + 10)
        ctx.line_to(rect.x + 10, rect.y + 10)
        ctx.close_path()
        ctx.set_source_rgb(1, 1, 1)
        ctx.fill_preserve()
        ctx.set_source_rgb(0, 0, 0)
        ctx.set_line_width(1)
        ctx.stroke()

    def cursor_moved(self, old: tuple[float, float]) -> None:
        self.cursor_changed()

    def cursor_changed(self) -> None:
        _, rect = self._cursor_image()
        self.scene.damage(Rect(rect.x - 1, rect.y - 1, rect.w + 2, rect.h + 2))
        self.scene.damage(Rect(self._cursor_rect.x - 1, self._cursor_rect.y - 1, self._cursor_rect.w + 2,
                               self._cursor_rect.h + 2))

    # events from the protocol
    def surface_destroyed(self, surface: Surface) -> None:
        self.seat.surface_destroyed(surface)
        self.cursor_changed()

    def shortcut(self, name: str) -> None:
        if name == "switcher":
            self.wm.cycle()
        elif name == "close":
            self.wm.close(self.wm.focused)
        elif name == "launcher" and self.shell is not None:
            self.shell.shortcut(name)
        self.emit("shortcut", {"name": name})

    # ipc methods (@ipc.rpc)
    @ipc.rpc("status")
    async def rpc_status(self, conn: ipc.Connection, params: dict[str, Any]) -> dict[str, Any]:
        transform = self.output.transform
        return {"backend": self.output.kind, "output": self.output.name, "width": transform.physical_width,
                "height": transform.physical_height, "rotation": transform.rotation, "mode": self.wm.mode,
                "tiling": self.wm.tiling, "windows": len(self.wm.known), "frames": self.frames_presented,
                "wayland_socket": str(self.settings.runtime_dir / self.settings.socket_name)}

    @ipc.rpc("windows")
    async def rpc_windows(self, conn: ipc.Connection, params: dict[str, Any]) -> list[dict[str, Any]]:
        return [self.wm.describe(w) for w in self.scene.windows if not w.popup]

    def _window(self, params: dict[str, Any]) -> Window:
        window = self.wm.window(int(params.get("id", -1)))
        if window is None:
            raise ipc.RpcError(ipc.ErrorCode.NO_SUCH_WINDOW, f"no window with id {params.get('id')!r}")
        return window

    @ipc.rpc("focus")
    async def rpc_focus(self, conn: ipc.Connection, params: dict[str, Any]) -> bool:
        self.wm.focus(self._window(params))
        self.flush()
        return True

    @ipc.rpc("close")
    async def rpc_close(self, conn: ipc.Connection, params: dict[str, Any]) -> bool:
        self.wm.close(self._window(params))
        self.flush()
        return True

    @ipc.rpc("move")
    async def rpc_move(self, conn: ipc.Connection, params: dict[str, Any]) -> bool:
        self.wm.move(self._window(params), int(params["x"]), int(params["y"]))
        return True

    @ipc.rpc("set_layer")
    async def rpc_set_layer(self, conn: ipc.Connection, params: dict[str, Any]) -> bool:
        """Make a window part of the OS shell (drawn above apps, not in Alt+Tab) or a normal app."""
        window = self._window(params)
        layer = params.get("layer")
        if layer not in ("normal", "overlay"):
            raise ipc.RpcError(ipc.ErrorCode.BAD_REQUEST, "layer is 'normal' or 'overlay'")
        window.layer = layer
        self.scene.damage(window.bounds())
        return True

    @ipc.rpc("set_mode")
    async def rpc_set_mode(self, conn: ipc.Connection, params: dict[str, Any]) -> dict[str, Any]:
        mode = params.get("mode")
        if mode not in (None, "desktop", "kiosk"):
            raise ipc.RpcError(ipc.ErrorCode.BAD_REQUEST, "mode is 'desktop' or 'kiosk'")
        tiling = params.get("tiling")
        self.wm.set_mode(mode, None if tiling is None else bool(tiling))
        self.flush()
        return {"mode": self.wm.mode, "tiling": self.wm.tiling}

    @ipc.rpc("screenshot")
    async def rpc_screenshot(self, conn: ipc.Connection, params: dict[str, Any]) -> dict[str, Any]:
        """Write what is on screen to a PNG (atomically): not in the hot path, ~40 ms per megapixel."""
        path = Path(params.get("file") or paths.run_dir() / "compositor-screenshot.png")
        self.render_now()
        image = self.output.screen()
        temporary = path.with_name(f".{path.name}.tmp")
        image.write_to_png(str(temporary))
        os.replace(temporary, path)
        return {"path": str(path), "width": image.get_width(), "height": image.get_height()}

    @ipc.rpc("pixels")
    async def rpc_pixels(self, conn: ipc.Connection, params: dict[str, Any]) -> list[list[int]]:
        """[r, g, b] at each requested physical point: a cheap probe for tests and health checks."""
        self.render_now()
        image = self.output.screen()
        image.flush()
        data, stride = memoryview(image.get_data()).cast("B"), image.get_stride()
        result = []
        for x, y in params.get("points", []):
            if not (0 <= x < image.get_width() and 0 <= y < image.get_height()):
                raise ipc.RpcError(ipc.ErrorCode.BAD_REQUEST, f"point ({x}, {y}) is off screen")
            offset = y * stride + x * 4
            b, g, r = data[offset], data[offset + 1], data[offset + 2]
            result.append([r, g, b])
        return result

    @ipc.rpc("inject")
    async def rpc_inject(self, conn: ipc.Connection, params: dict[str, Any]) -> int:
        """Inject evdev-like events ({"events": [{"type", "code", "value"}...]}) or warp the pointer."""
        count = 0
        if "pointer" in params:
            x, y = params["pointer"]
            self.router.warp(float(x), float(y))
            count += 1
        events = params.get("events", [])
        if not isinstance(events, list):
            raise ipc.RpcError(ipc.ErrorCode.BAD_REQUEST, "events is a list of {type, code, value}")
        count += self.router.handle_batch(events)
        self.flush()
        return count

    @ipc.rpc("notify")
    async def rpc_notify(self, conn: ipc.Connection, params: dict[str, Any]) -> bool:
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ipc.RpcError(ipc.ErrorCode.BAD_REQUEST, "notify needs a non-empty 'text'")
        self.toasts.notify(str(params.get("title") or ""), text, int(params.get("timeout_ms", 4000)))
        return True

    @ipc.rpc("shell")
    async def rpc_shell(self, conn: ipc.Connection, params: dict[str, Any]) -> dict[str, Any]:
        """What the OS shell shows (panel, suggestions, flow stage, toasts): for tests and `llmos` tools."""
        if self.shell is None:
            raise ipc.RpcError(ipc.ErrorCode.NO_SHELL, "the OS shell is off ([shell] enabled = false)")
        return self.shell.describe()

    @ipc.rpc("subscribe")
    async def rpc_subscribe(self, conn: ipc.Connection, params: dict[str, Any]) -> list[str]:
        """Receive pushed events: "shortcut" (launcher/switcher/close), "window" (mapped, focused...)."""
        events = params.get("events") or ["*"]
        conn.subscriptions.update(str(e) for e in events)
        return sorted(conn.subscriptions)


def serve(settings: CompositorOptions, output: Output) -> int:
    """Run the compositor on an open output until SIGTERM or SIGINT."""

    async def run() -> int:
        compositor = Compositor(settings, output)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await compositor.run(stop)
        return 0

    return asyncio.run(run())
