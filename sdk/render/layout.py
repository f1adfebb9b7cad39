"""Box layout: measure every node (natural size for an available width), then place it.

Rules (kept deliberately small, documented in docs/render.md):
- Window / Column stack children vertically; Row horizontally; padding and gap in logical px.
- Cross-axis `align`: Column and Window default to "stretch", Row to "center". Under "stretch"
  fluid widgets (Text, TextInput, Slider, List, Row, Column) take the full width while Button,
  Checkbox and Canvas keep their natural width.
- In a Row, spare width is shared by its fluid input widgets (TextInput, Slider, List), so
  `Row[TextInput, Button]` gives the input the rest of the line.
- Text wraps at the available width. A List is a fixed-height viewport over its rows.
"""

from __future__ import annotations

from llmos.sdk.render.text import TextEngine, TextStyle
from llmos.sdk.render.theme import Theme
from llmos.sdk.render.tree import Node

FLUID = frozenset({"Text", "TextInput", "Slider", "List", "Row", "Column"})
ROW_GROW = frozenset({"TextInput", "Slider", "List"})
MIN_WINDOW_WIDTH = 280.0
MAX_NATURAL_WIDTH = 720.0
MAX_NATURAL_HEIGHT = 4096.0  # taller content is clipped (List scrolls); apps ask for at most this much
MAX_WINDOW_SIDE = 8192.0  # the compositor refuses larger buffers


def text_style(node: Node, theme: Theme) -> TextStyle:
    if node.type == "Text":
        return TextStyle(theme.font_size(node.props.get("size") or "md"), bool(node.props.get("bold")),
                         theme.font_family)
    return TextStyle(theme.font_size("md"), False, theme.font_family)


class Layout:
    def __init__(self, text: TextEngine, theme: Theme) -> None:
        self.text = text
        self.theme = theme

    # -- measuring ---------------------------------------------------------------------------
    def _pad_gap(self, node: Node) -> tuple[float, float]:
        t = self.theme
        if node.type == "Window":
            pad, gap = t.window_padding, t.window_gap
        elif node.type == "List":
            pad, gap = 0.0, 0.0
        else:
            pad, gap = 0.0, 8.0
        return float(node.props.get("padding", pad) or 0), float(node.props.get("gap", gap) or 0)

    def measure(self, node: Node, avail: float) -> tuple[float, float]:
        t = self.theme
        kind = node.type
        if kind == "Text":
            style = text_style(node, t)
            width, height = self.text.size(node.text, style)
            wrap = None
            if width > avail > 0:
                wrap = avail
                width, height = self.text.size(node.text, style, wrap)
            node.extra["wrap"] = wrap
            size = (width, height)
        elif kind == "Button":
            width, _ = self.text.size(node.text, text_style(node, t))
            size = (width + 2 * t.button_pad_x, t.control_height)
        elif kind == "TextInput":
            size = (t.input_min_width, t.control_height)
        elif kind == "Checkbox":
            width, height = self.text.size(node.text, text_style(node, t))
            size = (t.checkbox_size + (8 + width if node.text else 0), max(t.checkbox_size + 6, height))
        elif kind == "Slider":
            size = (t.slider_min_width, t.slider_height)
        elif kind == "Canvas":
            size = (float(node.props.get("width", 0)), float(node.props.get("height", 0)))
        elif kind == "_Item":
            width, _ = self.text.size(node.text, text_style(node, t))
            size = (width + 2 * t.list_pad_x, t.list_row_height)
        elif kind == "List":
            width, height = self._measure_stack(node, avail, vertical=True)
            node.extra["content_h"] = height
            given = node.props.get("height")
            view_h = float(given) if given is not None else min(height, t.list_default_height)
            size = (max(width, t.list_min_width), max(view_h, t.list_row_height))
        else:
            size = self._measure_stack(node, avail, vertical=kind != "Row")
        node.extra["natural"] = size
        return size

    def _measure_stack(self, node: Node, avail: float, vertical: bool) -> tuple[float, float]:
        pad, gap = self._pad_gap(node)
        inner = max(0.0, avail - 2 * pad)
        sizes = [self.measure(child, inner) for child in node.children]
        if not sizes:
            return 2 * pad, 2 * pad
        gaps = gap * (len(sizes) - 1)
        if vertical:
            return (max(w for w, _ in sizes) + 2 * pad, sum(h for _, h in sizes) + gaps + 2 * pad)
        return (sum(w for w, _ in sizes) + gaps + 2 * pad, max(h for _, h in sizes) + 2 * pad)

    # -- placing -------------------------------------------------------------------------------
    def window(self, root: Node, forced: tuple[int, int] | None, title_bar: bool) -> tuple[int, int]:
        """Lay out the whole tree; returns the window size in logical px."""
        top = self.theme.title_height if title_bar else 0.0
        if forced:
            width = float(forced[0])
        else:
            given = root.props.get("width")
            avail = float(given) if given is not None else MAX_NATURAL_WIDTH
            width = float(given) if given is not None else max(MIN_WINDOW_WIDTH, self.measure(root, avail)[0])
            width = min(width, MAX_WINDOW_SIDE)
        _, natural_h = self.measure(root, width)
        if forced:
            height = float(forced[1]) - top
        elif root.props.get("height") is not None:
            height = min(float(root.props["height"]), MAX_WINDOW_SIDE) - top
        else:
            height = min(natural_h, MAX_NATURAL_HEIGHT - top)  # a huge tree must not ask for a huge buffer
        self.place(root, 0.0, top, width, max(height, 0.0))
        return round(width), round(height + top)

    def place(self, node: Node, x: float, y: float, w: float, h: float) -> None:
        node.x, node.y, node.w, node.h = x, y, w, h
        wrap = node.extra.get("wrap")
        if node.type == "Text" and wrap is not None and w > wrap:
            node.extra["wrap"] = w
        if node.type in ("Window", "Column", "List"):
            self._place_column(node)
        elif node.type == "Row":
            self._place_row(node)

    def _place_column(self, node: Node) -> None:
        pad, gap = self._pad_gap(node)
        align = node.props.get("align") or "stretch"
        inner_w = max(0.0, node.w - 2 * pad)
        cy = node.y + pad
        for child in node.children:
            nat_w, nat_h = child.extra.get("natural") or self.measure(child, inner_w)
            if child.type == "_Item" or (align == "stretch" and child.type in FLUID):
                cw = inner_w
            else:
                cw = min(nat_w, inner_w)
            offset = {"center": (inner_w - cw) / 2, "end": inner_w - cw}.get(align, 0.0)
            self.place(child, node.x + pad + offset, cy, cw, nat_h)
            cy += nat_h + gap
        if node.type == "List":
            node.extra["content_h"] = max(0.0, cy - gap - node.y + pad) if node.children else 0.0

    def _place_row(self, node: Node) -> None:
        pad, gap = self._pad_gap(node)
        align = node.props.get("align") or "center"
        inner_w = max(0.0, node.w - 2 * pad)
        inner_h = max(0.0, node.h - 2 * pad)
        naturals = [child.extra.get("natural") or self.measure(child, inner_w) for child in node.children]
        used = sum(w for w, _ in naturals) + gap * max(0, len(naturals) - 1)
        growers = [c for c in node.children if c.type in ROW_GROW]
        extra = (inner_w - used) / len(growers) if growers and inner_w > used else 0.0
        cx = node.x + pad
        for child, (nat_w, nat_h) in zip(node.children, naturals, strict=True):
            cw = nat_w + (extra if child.type in ROW_GROW else 0.0)
            ch = inner_h if align == "stretch" else min(nat_h, inner_h) if inner_h else nat_h
            offset = {"center": (inner_h - ch) / 2, "end": inner_h - ch}.get(align, 0.0)
            self.place(child, cx, node.y + pad + offset, cw, ch)
            cx += cw + gap
