"""Window policy: where windows go, who has focus, what size they are asked to be.

Modes: "desktop" (stacking, click to focus and raise, Alt+Tab, interactive move, optional tiling) and
"kiosk" (every toplevel full screen, newest on top). Protocol handlers report facts (created, mapped,
unmapped, title changed); every decision is made here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmos.compositor.scene import Rect, Window

if TYPE_CHECKING:
    from llmos.compositor.server import Compositor


class WindowManager:
    def __init__(self, server: Compositor, mode: str = "desktop", tiling: bool = False) -> None:
        self.server = server
        self.mode = mode
        self.tiling = tiling
        self.known: list[Window] = []
        self.focused: Window | None = None
        self._next_id = 1
        self._grab: tuple[Window, float, float, int, int] | None = None

    @property
    def scene(self) -> Any:
        return self.server.scene

    # facts from the protocol
    def created(self, window: Window) -> None:
        window.id = self._next_id
        self._next_id += 1
        self.known.append(window)

    def destroyed(self, window: Window) -> None:
        if window in self.known:
            self.known.remove(window)

    def initial_size(self, window: Window) -> tuple[int, int]:
        if self.mode == "kiosk":
            window.fullscreen = True
            return self.scene.width, self.scene.height
        if window.fullscreen:
            return self.scene.width, self.scene.height
        if self.tiling and window.layer == "normal":
            tiles = self._tiles(len(self._tiled()) + 1)
            return tiles[-1].w, tiles[-1].h
        return 0, 0

    def map(self, window: Window) -> None:
        scene = self.scene
        if window.popup:
            parent = window.parent
            index = scene.windows.index(parent) + 1 if parent in scene.windows else len(scene.windows)
            scene.windows.insert(index, window)
            scene.damage(window.bounds())
            return
        if self.mode == "kiosk" or window.fullscreen:
            window.x, window.y = 0, 0
        else:
            count = len([w for w in scene.windows if not w.popup])
            width, height = window.size()
            window.x = max(0, min(40 + 32 * (count % 8), scene.width - width))
            window.y = max(0, min(40 + 32 * (count % 8), scene.height - height))
        scene.windows.append(window)
        scene.damage(window.bounds())
        self.focus(window)
        if self.tiling and self.mode == "desktop":
            self.retile()
        self.server.emit("window", {"change": "mapped", **self.describe(window)})

    def unmap(self, window: Window) -> None:
        scene = self.scene
        for popup in [w for w in scene.windows if w.parent is window]:
            popup.shell.close()
            self.unmap(popup)
        if window in scene.windows:
            scene.damage(window.bounds())
            scene.windows.remove(window)
        if self._grab and self._grab[0] is window:
            self._grab = None
        if window.popup:
            return
        if self.focused is window:
            self.focused = None
            remaining = [w for w in scene.windows if not w.popup and w.layer == "normal"]
            self.focus(remaining[-1] if remaining else None)
        if self.tiling and self.mode == "desktop":
            self.retile()
        self.server.emit("window", {"change": "unmapped", "id": window.id})

    def changed(self, window: Window) -> None:
        if window in self.scene.windows:
            self.server.emit("window", {"change": "changed", **self.describe(window)})

    # decisions
    def focus(self, window: Window | None) -> None:
        old = self.focused
        self.focused = window
        if window is not None:
            self.raise_window(window)
        self.server.seat.set_keyboard_focus(window.surface if window else None)
        if old is window:
            return
        for changed in (old, window):
            if changed is not None and changed.shell is not None:
                changed.shell.reconfigure()
        if window is not None:
            self.server.emit("window", {"change": "focused", "id": window.id})

    def raise_window(self, window: Window) -> None:
        windows = self.scene.windows
        group = [window] + [w for w in windows if w.parent is window]
        if windows[-len(group):] == group:
            return
        for item in group:
            windows.remove(item)
        windows.extend(group)
        self.scene.damage(window.bounds())

    def cycle(self) -> None:
        """Alt+Tab: bring the bottom-most window to the top."""
        candidates = [w for w in self.scene.windows if not w.popup and w.layer == "normal"]
        if len(candidates) > 1:
            self.focus(candidates[0])

    def close(self, window: Window | None) -> None:
        if window is not None:
            window.shell.close()

    def move(self, window: Window, x: int, y: int) -> None:
        if (window.x, window.y) == (x, y):
            return
        self.scene.damage(window.bounds())
        dx, dy = x - window.x, y - window.y
        window.x, window.y = x, y
        for popup in self.scene.windows:
            if popup.parent is window:
                popup.x += dx
                popup.y += dy
        self.scene.damage(window.bounds())
        for popup in self.scene.windows:
            if popup.parent is window:
                self.scene.damage(popup.bounds())

    def set_fullscreen(self, window: Window, on: bool) -> None:
        if self.mode == "kiosk":
            on = True
        window.fullscreen = on
        self._fill_screen(window, on)

    def set_maximized(self, window: Window, on: bool) -> None:
        window.maximized = on
        if self.mode != "kiosk":
            self._fill_screen(window, on)

    def _fill_screen(self, window: Window, on: bool) -> None:
        """Fullscreen and maximised look the same here: the whole output, and back to where it was."""
        if on:
            window.saved = window.saved or (window.x, window.y)
            self.move(window, 0, 0)
            window.shell.configure(self.scene.width, self.scene.height)
        else:
            if window.saved is not None:
                self.move(window, *window.saved)
                window.saved = None
            window.shell.configure(0, 0)

    def set_mode(self, mode: str | None = None, tiling: bool | None = None) -> None:
        if mode is not None:
            self.mode = mode
        if tiling is not None:
            self.tiling = tiling
        for window in [w for w in self.scene.windows if not w.popup]:
            if self.mode == "kiosk":
                self.set_fullscreen(window, True)
            elif window.fullscreen and mode == "desktop":
                self.set_fullscreen(window, False)
        if self.tiling and self.mode == "desktop":
            self.retile()
        self.server.cursor_changed()

    def _tiled(self) -> list[Window]:
        return [w for w in self.scene.windows if not w.popup and w.layer == "normal" and not w.fullscreen]

    def _tiles(self, count: int) -> list[Rect]:
        """Master and stack: the first window takes the left half, the rest share the right half."""
        width, height = self.scene.width, self.scene.height
        if count <= 1:
            return [Rect(0, 0, width, height)]
        half = width // 2
        rows = count - 1
        tiles = [Rect(0, 0, half, height)]
        for index in range(rows):
            top = height * index // rows
            tiles.append(Rect(half, top, width - half, height * (index + 1) // rows - top))
        return tiles

    def retile(self) -> None:
        windows = self._tiled()
        for window, tile in zip(windows, self._tiles(len(windows)), strict=True):
            self.move(window, tile.x, tile.y)
            window.shell.configure(*_clamp(window, tile.w, tile.h))

    # pointer policy
    def start_move(self, window: Window) -> None:
        if self.mode == "desktop" and not self.tiling and not window.fullscreen:
            x, y = self.server.seat.pointer_xy
            self._grab = (window, x, y, window.x, window.y)

    def pointer_motion(self, x: float, y: float) -> bool:
        """True when the motion belongs to a move grab (not sent to clients)."""
        if self._grab is None:
            return False
        window, gx, gy, wx, wy = self._grab
        self.move(window, wx + round(x - gx), wy + round(y - gy))
        return True

    def pointer_button(self, pressed: bool) -> bool:
        """Click to focus and raise; True when the button belongs to a move grab."""
        if self._grab is not None:
            if not pressed:
                self._grab = None
            return True
        if pressed:
            surface = self.server.seat.pointer_focus
            window = self.scene.window_of(surface) if surface is not None else None
            while window is not None and window.popup:
                window = window.parent
            if window is not None and window is not self.focused:
                self.focus(window)
        return False

    def describe(self, window: Window) -> dict[str, Any]:
        width, height = window.size()
        pid = 0
        try:
            from llmos.compositor.compat import client_credentials
            pid = client_credentials(window.surface.client)[0]
        except Exception:
            pass
        return {"id": window.id, "title": window.title, "app_id": window.app_id, "x": window.x,
                "y": window.y, "width": width, "height": height, "focused": window is self.focused,
                "fullscreen": window.fullscreen, "layer": window.layer, "pid": pid}

    def window(self, window_id: int) -> Window | None:
        return next((w for w in self.scene.windows if w.id == window_id and not w.popup), None)


def _clamp(window: Window, width: int, height: int) -> tuple[int, int]:
    min_w, min_h = window.min_size
    max_w, max_h = window.max_size
    width = max(width, min_w)
    height = max(height, min_h)
    if max_w:
        width = min(width, max_w)
    if max_h:
        height = min(height, max_h)
    return width, height
