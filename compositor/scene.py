"""What is on screen: surfaces with their committed pixels, windows in stacking order, damage.

Everything here is in logical output coordinates (after rotation, before scanout). The scene never
talks Wayland; protocol handlers update it and it reports damage through `damage()`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import cairocffi as cairo

if TYPE_CHECKING:  # the shell's first screen draws a scene before the Wayland server's code loads
    from llmos.compositor.shm import Image


@dataclass(frozen=True)
class Rect:
    x: int
    y: int
    w: int
    h: int

    @property
    def empty(self) -> bool:
        return self.w <= 0 or self.h <= 0

    def intersect(self, other: Rect) -> Rect:
        x0, y0 = max(self.x, other.x), max(self.y, other.y)
        x1, y1 = min(self.x + self.w, other.x + other.w), min(self.y + self.h, other.y + other.h)
        return Rect(x0, y0, max(0, x1 - x0), max(0, y1 - y0))

    def union(self, other: Rect) -> Rect:
        if self.empty:
            return other
        if other.empty:
            return self
        x0, y0 = min(self.x, other.x), min(self.y, other.y)
        x1, y1 = max(self.x + self.w, other.x + other.w), max(self.y + self.h, other.y + other.h)
        return Rect(x0, y0, x1 - x0, y1 - y0)

    def translate(self, dx: int, dy: int) -> Rect:
        return Rect(self.x + dx, self.y + dy, self.w, self.h)

    def contains(self, px: float, py: float) -> bool:
        return self.x <= px < self.x + self.w and self.y <= py < self.y + self.h

    @staticmethod
    def scaled(x: float, y: float, w: float, h: float, factor: float) -> Rect:
        """The integer rectangle covering a rectangle scaled by `factor` (buffer -> surface)."""
        x0, y0 = math.floor(x * factor), math.floor(y * factor)
        return Rect(x0, y0, math.ceil((x + w) * factor) - x0, math.ceil((y + h) * factor) - y0)


class Damage:
    """Rectangles to repaint; many small ones collapse into their bounding box (cheaper to clip)."""

    LIMIT = 32

    def __init__(self) -> None:
        self.rects: list[Rect] = []

    def add(self, rect: Rect) -> None:
        if rect.empty:
            return
        for existing in self.rects:
            if existing.intersect(rect) == rect:
                return
        self.rects.append(rect)
        if len(self.rects) > self.LIMIT:
            box = Rect(0, 0, 0, 0)
            for item in self.rects:
                box = box.union(item)
            self.rects = [box]

    def take(self) -> list[Rect]:
        rects, self.rects = self.rects, []
        return rects

    def __bool__(self) -> bool:
        return bool(self.rects)


@dataclass
class Region:
    """A wl_region: rectangles added and subtracted in order."""

    ops: list[tuple[bool, Rect]] = field(default_factory=list)

    def contains(self, px: float, py: float) -> bool:
        inside = False
        for add, rect in self.ops:
            if rect.contains(px, py):
                inside = add
        return inside


class Surface:
    """A wl_surface's committed state plus its place in a surface tree."""

    def __init__(self, resource: Any, client: int) -> None:
        self.resource = resource
        self.client = client
        self.image: Image | None = None
        self.scale = 1
        self.input_region: Region | None = None  # None: the whole surface
        self.role: str | None = None
        self.role_object: Any = None
        self.stack: list[Surface] = [self]  # subsurfaces and self, bottom to top
        self.parent: Surface | None = None
        self.offset = (0, 0)  # position relative to the parent (subsurfaces)
        self.alive = True

    @property
    def size(self) -> tuple[int, int]:
        if self.image is None:
            return 0, 0
        return self.image.width // self.scale, self.image.height // self.scale

    @property
    def mapped(self) -> bool:
        return self.image is not None

    def tree(self, x: int, y: int) -> Iterator[tuple[Surface, int, int]]:
        """Surfaces of this tree in drawing order, with their positions."""
        for item in self.stack:
            if item is self:
                if self.mapped:
                    yield self, x, y
            elif item.mapped or len(item.stack) > 1:
                yield from item.tree(x + item.offset[0], y + item.offset[1])

    def extent(self, x: int, y: int) -> Rect:
        box = Rect(0, 0, 0, 0)
        for surface, sx, sy in self.tree(x, y):
            width, height = surface.size
            box = box.union(Rect(sx, sy, width, height))
        return box

    def accepts_input(self, lx: float, ly: float) -> bool:
        width, height = self.size
        if not (0 <= lx < width and 0 <= ly < height):
            return False
        return self.input_region is None or self.input_region.contains(lx, ly)


@dataclass(eq=False)
class Window:
    """A mapped toplevel (or popup) with its place on the output."""

    surface: Surface
    x: int = 0
    y: int = 0
    geometry: Rect | None = None  # from xdg_surface.set_window_geometry
    title: str = ""
    app_id: str = ""
    layer: str = "normal"  # normal | overlay (privileged shell surfaces)
    parent: Window | None = None  # popups: drawn above their parent
    popup: bool = False
    shell: Any = None  # the xdg toplevel/popup handler
    id: int = 0
    min_size: tuple[int, int] = (0, 0)
    max_size: tuple[int, int] = (0, 0)
    fullscreen: bool = False
    maximized: bool = False
    saved: tuple[int, int] | None = None  # position before fullscreen/tiling

    @property
    def origin(self) -> tuple[int, int]:
        """Where the root surface's (0, 0) lands: geometry origin at (x, y)."""
        gx, gy = (self.geometry.x, self.geometry.y) if self.geometry else (0, 0)
        return self.x - gx, self.y - gy

    def bounds(self) -> Rect:
        ox, oy = self.origin
        return self.surface.extent(ox, oy)

    def size(self) -> tuple[int, int]:
        if self.geometry and not self.geometry.empty:
            return self.geometry.w, self.geometry.h
        return self.surface.size


class Scene:
    """Stacking order, damage, and the one function that paints it all."""

    def __init__(self, width: int, height: int, on_damage: Callable[[], None]) -> None:
        self.width = width
        self.height = height
        self.windows: list[Window] = []  # bottom to top
        self.damage_list = Damage()
        self.on_damage = on_damage
        self.background = (0.13, 0.19, 0.25)
        self.overlays: list[Callable[[cairo.Context], Rect]] = []  # toasts etc.: draw and return extent
        self.cursor: Callable[[cairo.Context], None] | None = None

    @property
    def screen(self) -> Rect:
        return Rect(0, 0, self.width, self.height)

    def damage(self, rect: Rect | None = None) -> None:
        rect = self.screen if rect is None else rect.intersect(self.screen)
        if not rect.empty:
            self.damage_list.add(rect)
            self.on_damage()

    def ordered(self) -> list[Window]:
        """Drawing order: normal windows, then overlay (shell) windows; popups right above parents."""
        normal = [w for w in self.windows if w.layer == "normal"]
        overlay = [w for w in self.windows if w.layer != "normal"]
        return normal + overlay

    def window_of(self, surface: Surface) -> Window | None:
        root = surface
        while root.parent is not None:
            root = root.parent
        for window in self.windows:
            if window.surface is root:
                return window
        return None

    def position_of(self, surface: Surface) -> tuple[int, int] | None:
        """Absolute position of a surface of some window's tree (None when not on screen)."""
        dx = dy = 0
        node = surface
        while node.parent is not None:
            dx += node.offset[0]
            dy += node.offset[1]
            node = node.parent
        window = self.window_of(node)
        if window is None:
            return None
        ox, oy = window.origin
        return ox + dx, oy + dy

    def surface_at(self, px: float, py: float) -> tuple[Surface, float, float] | None:
        """The topmost surface accepting input at a point, with surface-local coordinates."""
        for window in reversed(self.ordered()):
            ox, oy = window.origin
            for surface, sx, sy in reversed(list(window.surface.tree(ox, oy))):
                if surface.accepts_input(px - sx, py - sy):
                    return surface, px - sx, py - sy
        return None

    def render(self, ctx: cairo.Context, rects: list[Rect]) -> None:
        """Repaint `rects` only: clip to them, then background, windows, overlays, cursor."""
        if not rects:
            return
        box = Rect(0, 0, 0, 0)
        ctx.save()
        ctx.new_path()
        for rect in rects:
            ctx.rectangle(rect.x, rect.y, rect.w, rect.h)
            box = box.union(rect)
        ctx.clip()
        ctx.set_operator(cairo.OPERATOR_SOURCE)
        ctx.set_source_rgb(*self.background)
        ctx.paint()
        ctx.set_operator(cairo.OPERATOR_OVER)
        for window in self.ordered():
            ox, oy = window.origin
            for surface, sx, sy in window.surface.tree(ox, oy):
                width, height = surface.size
                if box.intersect(Rect(sx, sy, width, height)).empty:
                    continue
                self._paint_surface(ctx, surface, sx, sy)
        for overlay in self.overlays:
            overlay(ctx)
        if self.cursor is not None:
            self.cursor(ctx)
        ctx.restore()

    @staticmethod
    def _paint_surface(ctx: cairo.Context, surface: Surface, x: int, y: int) -> None:
        assert surface.image is not None
        if surface.scale == 1:
            ctx.set_source_surface(surface.image.surface, x, y)
            ctx.paint()
            return
        ctx.save()
        ctx.translate(x, y)
        ctx.scale(1 / surface.scale, 1 / surface.scale)
        ctx.set_source_surface(surface.image.surface, 0, 0)
        ctx.paint()
        ctx.restore()
