"""Pango text: measuring, drawing and cursor geometry, with a small layout cache.

Layouts are built on one Pango context whose font options turn metric hinting off, so a string
measures the same at scale 1 and 2 and HiDPI output is the same picture at twice the pixels.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import cairocffi as cairo
import pangocairocffi
import pangocffi
from pangocffi import ffi as pango_ffi
from pangocffi import pango as pango_lib

from llmos.sdk.render.color import RGBA

PANGO_SCALE = 1024
CACHE_SIZE = 2048


@dataclass(frozen=True)
class TextStyle:
    size: float = 14.0
    bold: bool = False
    family: str = "DejaVu Sans"


class TextEngine:
    """Owns the Pango context; every layout is cached by (text, style, wrap width)."""

    def __init__(self, scale: float = 1.0) -> None:
        self._surface = cairo.ImageSurface(cairo.FORMAT_ARGB32, 1, 1)
        context = cairo.Context(self._surface)
        context.scale(scale, scale)
        self._pango = pangocairocffi.create_context(context)
        options = cairo.FontOptions()
        options.set_hint_metrics(cairo.HINT_METRICS_OFF)
        options.set_hint_style(cairo.HINT_STYLE_SLIGHT)
        options.set_antialias(cairo.ANTIALIAS_GRAY)
        pangocairocffi.set_font_options(self._pango, options._pointer)
        pangocairocffi.set_resolution(self._pango, 96.0)
        self._options = options  # keep alive: Pango copies, but be safe with cffi lifetimes
        self._fonts: dict[TextStyle, pangocffi.FontDescription] = {}
        self._layouts: OrderedDict[tuple[str, TextStyle, int | None], pangocffi.Layout] = OrderedDict()

    def _font(self, style: TextStyle) -> pangocffi.FontDescription:
        font = self._fonts.get(style)
        if font is None:
            font = pangocffi.FontDescription()
            font.family = style.family
            font.set_absolute_size(style.size * PANGO_SCALE)
            font.weight = pangocffi.Weight.BOLD if style.bold else pangocffi.Weight.NORMAL
            self._fonts[style] = font
        return font

    def layout(self, text: str, style: TextStyle, wrap_width: float | None = None) -> pangocffi.Layout:
        key = (text, style, None if wrap_width is None else round(wrap_width))
        layout = self._layouts.get(key)
        if layout is not None:
            self._layouts.move_to_end(key)
            return layout
        layout = pangocffi.Layout(self._pango)
        layout.font_description = self._font(style)
        layout.text = text
        if wrap_width is not None:
            layout.width = max(1, round(wrap_width)) * PANGO_SCALE
            layout.wrap = pangocffi.WrapMode.WORD_CHAR
        self._layouts[key] = layout
        if len(self._layouts) > CACHE_SIZE:
            self._layouts.popitem(last=False)
        return layout

    def size(self, text: str, style: TextStyle, wrap_width: float | None = None) -> tuple[float, float]:
        """Logical (width, height) in px; an empty string still has one line's height."""
        layout = self.layout(text or " ", style, wrap_width)
        _ink, logical = layout.get_extents()
        width = 0.0 if not text else logical.width / PANGO_SCALE
        return width, logical.height / PANGO_SCALE

    def fits(self, text: str, style: TextStyle, width: float) -> bool:
        return self.size(text, style)[0] <= width

    def draw(self, ctx: cairo.Context, text: str, style: TextStyle, x: float, y: float,
             color: RGBA, wrap_width: float | None = None) -> None:
        if not text:
            return
        layout = self.layout(text, style, wrap_width)
        ctx.set_source_rgba(*color)
        ctx.move_to(x, y)
        pangocairocffi.show_layout(ctx, layout)

    def cursor_x(self, text: str, style: TextStyle, index: int) -> float:
        """x of the caret before character `index` (a str index, converted to UTF-8 bytes)."""
        if not text or index <= 0:
            return 0.0
        layout = self.layout(text, style)
        rect = pango_ffi.new("PangoRectangle *")
        byte_index = len(text[:index].encode("utf-8"))
        pango_lib.pango_layout_index_to_pos(layout.pointer, byte_index, rect)
        return int(rect.x) / PANGO_SCALE

    def index_at(self, text: str, style: TextStyle, x: float) -> int:
        """Character index whose caret position is nearest to x (for click-to-place)."""
        if not text:
            return 0
        layout = self.layout(text, style)
        index = pango_ffi.new("int *")
        trailing = pango_ffi.new("int *")
        pango_lib.pango_layout_xy_to_index(layout.pointer, round(x * PANGO_SCALE), 0, index, trailing)
        encoded = text.encode("utf-8")
        chars = len(encoded[:index[0]].decode("utf-8", errors="ignore"))
        return min(len(text), chars + int(trailing[0]))
