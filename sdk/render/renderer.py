"""Renderer: UI tree in, ARGB32 pixels and (handler_id, args) events out.

It knows nothing of Wayland or of the app runtime, so the app host, the OS shell and the tests
drive the same object. Work is skipped when nothing changed: the last tree is kept, and input
that changes hover/focus/edit state only marks the affected widget boxes as damaged; the next
render() repaints just those (clipped) or nothing at all.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import cairocffi as cairo

from llmos.sdk.render.interaction import EventSink, Interaction, Rect
from llmos.sdk.render.layout import Layout
from llmos.sdk.render.paint import Painter
from llmos.sdk.render.text import TextEngine
from llmos.sdk.render.theme import LIGHT, Theme
from llmos.sdk.render.tree import Node, parse_tree


class Renderer:
    def __init__(self, scale: int = 1, on_event: EventSink | None = None, theme: Theme = LIGHT,
                 title_bar: bool = True) -> None:
        if scale not in (1, 2, 3):
            raise ValueError(f"scale must be 1, 2 or 3, got {scale!r}")
        self.scale = scale
        self.theme = theme
        self.title_bar = title_bar
        self.text = TextEngine(scale)
        self._layout = Layout(self.text, theme)
        self._painter = Painter(self.text, theme)
        self.interaction = Interaction(self.text, theme, on_event, self._add_damage)
        self._raw: Any = None
        self._root: Node | None = None
        self._forced: tuple[int, int] | None = None
        self._size = (0, 0)
        self._surface: cairo.ImageSurface | None = None
        self._full = True
        self._damage: list[Rect] = []
        self._frame_damage: list[tuple[int, int, int, int]] = []
        self._relayout = False
        self.frames = 0  # how many times pixels were actually painted

    # -- inputs --------------------------------------------------------------------------------
    def set_size(self, size: tuple[int, int] | None) -> None:
        """Force the window size (an xdg_toplevel configure); None returns to the natural size."""
        size = (max(1, int(size[0])), max(1, int(size[1]))) if size else None
        if size != self._forced:
            self._forced = size
            self._relayout = True

    def adopt(self, tree: Any = None) -> None:
        """Take `tree` (decoded JSON; None keeps the last one) now, without painting: input from here
        on acts on its widgets, handler ids and values. A window that paints at its next frame slot
        adopts the app's newest tree before each input event, since the app forgets the handler ids
        of its older trees. Raises MalformedTree for a malformed tree, keeping the previous one."""
        if tree is not None and tree != self._raw:
            root = parse_tree(tree)
            self._raw, self._root = tree, root
            self._relayout = True
        if self._root is not None and self._relayout:
            self._relayout = False
            self._size = self._layout.window(self._root, self._forced, self.title_bar)
            self.interaction.adopt(self._root)
            self._full = True

    def settle(self) -> None:
        """The app has answered every event sent so far and its newest tree is adopted: controlled
        fields show the app's values (Interaction.settle)."""
        self.interaction.settle()

    def render(self, tree: Any = None) -> bool:
        """Adopt `tree` (decoded JSON; None keeps the last one) and repaint what changed.
        Returns True when pixels changed. Raises MalformedTree for a malformed tree, keeping the
        previous picture."""
        self.adopt(tree)
        if self._root is None:
            return False
        if not self._full and not self._damage:
            return False
        self._paint(self._root)
        return True

    @property
    def needs_redraw(self) -> bool:
        return self._root is not None and (self._full or bool(self._damage) or self._relayout)

    def pointer_motion(self, x: float, y: float) -> None:
        self.interaction.pointer_motion(x, y)

    def pointer_leave(self) -> None:
        self.interaction.pointer_leave()

    def pointer_button(self, button: int, pressed: bool) -> None:
        self.interaction.pointer_button(button, pressed)

    def axis(self, dx: float, dy: float) -> None:
        self.interaction.axis(dx, dy)

    def key(self, keysym: int, pressed: bool, text: str = "", shift: bool = False) -> None:
        self.interaction.key(keysym, pressed, text, shift)

    # -- outputs -------------------------------------------------------------------------------
    def size(self) -> tuple[int, int]:
        """Window size in logical px."""
        return self._size

    def pixel_size(self) -> tuple[int, int]:
        return self._size[0] * self.scale, self._size[1] * self.scale

    def surface(self) -> cairo.ImageSurface:
        if self._surface is None:
            raise RuntimeError("nothing rendered yet: call render(tree) first")
        return self._surface

    def pixels(self) -> memoryview:
        """The ARGB32 (premultiplied, native-endian = wl_shm ARGB8888) bytes, stride = 4 * width."""
        surface = self.surface()
        surface.flush()
        return memoryview(surface.get_data())

    def stride(self) -> int:
        return int(self.surface().get_stride())

    def take_damage(self) -> list[tuple[int, int, int, int]]:
        """Buffer-pixel rects painted since the last call (for wl_surface.damage_buffer)."""
        damage, self._frame_damage = self._frame_damage, []
        return damage

    def hit(self, x: float, y: float) -> Node | None:
        """The widget a click at (x, y) would act on (for tests and the shell)."""
        return self.interaction.hit(x, y)

    def find(self, predicate: Callable[[Node], bool]) -> Node | None:
        return next((n for n in self._root.walk() if predicate(n)), None) if self._root else None

    # -- painting ------------------------------------------------------------------------------
    def _add_damage(self, rect: Rect | None) -> None:
        if rect is None:
            self._full = True
        elif rect not in self._damage:
            self._damage.append(rect)
            if len(self._damage) > 16:  # many small rects: one bounding box is cheaper to clip
                x0 = min(r[0] for r in self._damage)
                y0 = min(r[1] for r in self._damage)
                x1 = max(r[0] + r[2] for r in self._damage)
                y1 = max(r[1] + r[3] for r in self._damage)
                self._damage = [(x0, y0, x1 - x0, y1 - y0)]

    def _paint(self, root: Node) -> None:
        width, height = self.pixel_size()
        surface = self._surface
        if surface is None or (surface.get_width(), surface.get_height()) != (width, height):
            surface = self._surface = cairo.ImageSurface(cairo.FORMAT_ARGB32, max(1, width), max(1, height))
            self._full = True
        ctx = cairo.Context(surface)
        ctx.scale(self.scale, self.scale)
        if self._full:
            rects = [(0.0, 0.0, float(self._size[0]), float(self._size[1]))]
        else:
            rects = self._damage
            for x, y, w, h in rects:
                ctx.rectangle(x, y, w, h)
            ctx.clip()
        self._painter.paint(ctx, root, self.interaction.state, self.title_bar)
        surface.flush()
        for x, y, w, h in rects:
            x0, y0 = max(0, math.floor(x * self.scale)), max(0, math.floor(y * self.scale))
            x1, y1 = min(width, math.ceil((x + w) * self.scale)), min(height, math.ceil((y + h) * self.scale))
            if x1 > x0 and y1 > y0:
                self._frame_damage.append((x0, y0, x1 - x0, y1 - y0))
        self._full = False
        self._damage = []
        self.frames += 1
