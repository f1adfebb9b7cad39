"""One shell surface: an SDK Renderer placed on the screen. It turns the renderer's buffer damage
into screen damage and composites its pixels (rounded, with a soft shadow) into the compositor's
frame; the compositor never sees a Wayland client for it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cairocffi as cairo

from llmos.compositor.scene import Rect
from llmos.sdk.render import Renderer, Theme
from llmos.sdk.render.paint import rounded_rect

SHADOW = 14  # px around a layer that its shadow may cover


class Layer:
    def __init__(self, name: str, theme: Theme, on_event: Callable[[int, list[Any]], None],
                 damage: Callable[[Rect], None], radius: float = 14.0, shadow: bool = True) -> None:
        self.name = name
        self.renderer = Renderer(on_event=on_event, theme=theme, title_bar=False)
        self.damage = damage
        self.radius = radius
        self.shadow = shadow
        self.visible = False
        self.x = self.y = 0
        self.alpha = 1.0
        self.tree: Any = None

    @property
    def size(self) -> tuple[int, int]:
        return self.renderer.size()

    def rect(self) -> Rect:
        width, height = self.size
        return Rect(self.x, self.y, width, height)

    def bounds(self) -> Rect:
        """What drawing this layer may touch, shadow included."""
        r = self.rect()
        margin = SHADOW if self.shadow else 0
        return Rect(r.x - margin, r.y - margin, r.w + 2 * margin, r.h + 2 * margin + 4)

    def contains(self, x: float, y: float) -> bool:
        return self.visible and self.rect().contains(x, y)

    def show(self, tree: Any, place: Callable[[tuple[int, int]], tuple[int, int]]) -> bool:
        """Adopt a tree (None hides the layer) and a position computed from its size; damage what
        changed. Returns True when the layer became visible."""
        if tree is None:
            if self.visible:
                self.visible = False
                self.damage(self.bounds())
                self.renderer.pointer_leave()
            return False
        appeared = not self.visible
        before = None if appeared else self.bounds()
        self.tree = tree
        self.renderer.render(tree)
        self.x, self.y = place(self.size)
        if before is None or self.bounds() != before:
            if before is not None:
                self.damage(before)
            self.damage(self.bounds())
            self.renderer.take_damage()
        else:
            self.flush_damage()
        self.visible = True
        return appeared

    def refresh(self) -> None:
        """After input changed hover/focus/caret: repaint and damage just that."""
        if self.visible and self.renderer.needs_redraw:
            self.renderer.render()
            self.flush_damage()

    def flush_damage(self) -> None:
        scale = self.renderer.scale
        for x, y, w, h in self.renderer.take_damage():
            self.damage(Rect(self.x + x // scale, self.y + y // scale, w // scale + 2, h // scale + 2))

    def paint(self, ctx: cairo.Context) -> None:
        if not self.visible or self.alpha <= 0:
            return
        r = self.rect()
        if self.shadow:
            for grow, alpha in ((10, 0.05), (6, 0.07), (3, 0.10)):
                rounded_rect(ctx, r.x - grow, r.y - grow + 3, r.w + 2 * grow, r.h + 2 * grow,
                             self.radius + grow)
                ctx.set_source_rgba(0, 0, 0, alpha * self.alpha)
                ctx.fill()
        ctx.save()
        rounded_rect(ctx, r.x, r.y, r.w, r.h, self.radius)
        ctx.clip()
        ctx.translate(r.x, r.y)
        scale = self.renderer.scale
        if scale != 1:
            ctx.scale(1 / scale, 1 / scale)
        ctx.set_source_surface(self.renderer.surface(), 0, 0)
        if self.alpha >= 1:
            ctx.paint()
        else:
            ctx.paint_with_alpha(self.alpha)
        ctx.restore()
