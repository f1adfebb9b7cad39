"""Cairo painters, one per widget type. They read geometry from the laid-out Node, looks from
the Theme and hover/focus/edit state from ViewState; they never change state."""

from __future__ import annotations

import math
from typing import Any

import cairocffi as cairo

from llmos.sdk.render.color import RGBA, parse_color
from llmos.sdk.render.layout import text_style
from llmos.sdk.render.state import ViewState
from llmos.sdk.render.text import TextEngine, TextStyle
from llmos.sdk.render.theme import Theme
from llmos.sdk.render.tree import Node


def rounded_rect(ctx: cairo.Context, x: float, y: float, w: float, h: float, r: float) -> None:
    r = max(0.0, min(r, w / 2, h / 2))
    ctx.new_sub_path()
    ctx.arc(x + w - r, y + r, r, -math.pi / 2, 0)
    ctx.arc(x + w - r, y + h - r, r, 0, math.pi / 2)
    ctx.arc(x + r, y + h - r, r, math.pi / 2, math.pi)
    ctx.arc(x + r, y + r, r, math.pi, 3 * math.pi / 2)
    ctx.close_path()


def slider_fraction(node: Node, value: float) -> float:
    low = float(node.props.get("min", 0))
    high = float(node.props.get("max", 100))
    return min(1.0, max(0.0, (value - low) / (high - low)))


def slider_track(node: Node, theme: Theme) -> tuple[float, float]:
    """(x0, x1) of the track: inset by the thumb radius so the thumb stays inside the box."""
    inset = theme.slider_thumb + 1
    return node.x + inset, node.x + node.w - inset


class Painter:
    def __init__(self, text: TextEngine, theme: Theme) -> None:
        self.text = text
        self.theme = theme

    def paint(self, ctx: cairo.Context, root: Node, state: ViewState, title_bar: bool) -> None:
        t = self.theme
        ctx.set_source_rgba(*t.background)
        ctx.paint()
        if title_bar:
            self._title_bar(ctx, root)
        for child in root.children:
            self.node(ctx, child, state)

    def _title_bar(self, ctx: cairo.Context, root: Node) -> None:
        t = self.theme
        width = root.w
        ctx.set_source_rgba(*t.title_bar)
        ctx.rectangle(0, 0, width, t.title_height)
        ctx.fill()
        ctx.set_source_rgba(*t.border)
        ctx.rectangle(0, t.title_height - 1, width, 1)
        ctx.fill()
        style = TextStyle(t.font_size("md"), True, t.font_family)
        title = str(root.props.get("title") or "")
        tw, th = self.text.size(title, style)
        tw = min(tw, width - 24)
        ctx.save()
        ctx.rectangle(12, 0, width - 24, t.title_height)
        ctx.clip()
        self.text.draw(ctx, title, style, max(12.0, (width - tw) / 2), (t.title_height - th) / 2, t.text)
        ctx.restore()

    def node(self, ctx: cairo.Context, node: Node, state: ViewState) -> None:
        painter = getattr(self, f"_{node.type.lstrip('_').lower()}", None)
        if painter is not None:
            painter(ctx, node, state)
        if node.type in ("Row", "Column"):
            for child in node.children:
                self.node(ctx, child, state)
        if state.focused == node.key:
            self._focus_ring(ctx, node)

    def _focus_ring(self, ctx: cairo.Context, node: Node) -> None:
        t = self.theme
        if node.type in ("TextInput",):
            return  # the input's accent border already shows focus
        ctx.set_source_rgba(*t.focus_ring)
        ctx.set_line_width(t.focus_width)
        grow = t.focus_width / 2 + 1
        if node.type == "Checkbox":
            box = self._checkbox_box(node)
            rounded_rect(ctx, box[0] - grow, box[1] - grow, box[2] + 2 * grow, box[2] + 2 * grow,
                         t.small_radius + grow)
        elif node.type == "Slider":
            cx = self._thumb_x(node, state_value=node.extra.get("shown_value", 0.0))
            ctx.arc(cx, node.y + node.h / 2, t.slider_thumb + grow, 0, 2 * math.pi)
        else:
            rounded_rect(ctx, node.x - grow, node.y - grow, node.w + 2 * grow, node.h + 2 * grow,
                         t.radius + grow)
        ctx.stroke()

    # -- widgets -------------------------------------------------------------------------------
    def _text(self, ctx: cairo.Context, node: Node, state: ViewState) -> None:
        color = parse_color(node.props["color"]) if node.props.get("color") else self.theme.text
        self.text.draw(ctx, node.text, text_style(node, self.theme), node.x, node.y, color,
                       node.extra.get("wrap"))

    def _button(self, ctx: cairo.Context, node: Node, state: ViewState) -> None:
        t = self.theme
        disabled = bool(node.props.get("disabled"))
        if disabled:
            fill, ink = t.disabled, t.disabled_text
        elif state.pressed == node.key and state.hovered == node.key:
            fill, ink = t.accent_pressed, t.on_accent
        elif state.hovered == node.key:
            fill, ink = t.accent_hover, t.on_accent
        else:
            fill, ink = t.accent, t.on_accent
        rounded_rect(ctx, node.x, node.y, node.w, node.h, t.radius)
        ctx.set_source_rgba(*fill)
        ctx.fill()
        style = text_style(node, t)
        tw, th = self.text.size(node.text, style)
        ctx.save()
        ctx.rectangle(node.x, node.y, node.w, node.h)
        ctx.clip()
        self.text.draw(ctx, node.text, style, node.x + (node.w - tw) / 2, node.y + (node.h - th) / 2, ink)
        ctx.restore()

    def _textinput(self, ctx: cairo.Context, node: Node, state: ViewState) -> None:
        t = self.theme
        focused = state.focused == node.key
        rounded_rect(ctx, node.x + 0.5, node.y + 0.5, node.w - 1, node.h - 1, t.radius)
        ctx.set_source_rgba(*t.surface)
        ctx.fill_preserve()
        if focused:
            ctx.set_source_rgba(*t.accent)
            ctx.set_line_width(2)
        else:
            ctx.set_source_rgba(*(t.border_hover if state.hovered == node.key else t.border))
            ctx.set_line_width(1)
        ctx.stroke()
        edit = state.edits.get(node.key) if focused else None
        value = edit.text if edit else str(node.props.get("value") or "")
        style = text_style(node, t)
        _, th = self.text.size(value, style)
        tx = node.x + t.input_pad_x - (edit.offset if edit else 0.0)
        ty = node.y + (node.h - th) / 2
        ctx.save()
        ctx.rectangle(node.x + 2, node.y + 2, node.w - 4, node.h - 4)
        ctx.clip()
        if value:
            self.text.draw(ctx, value, style, tx, ty, t.text)
        elif node.props.get("placeholder"):
            self.text.draw(ctx, str(node.props["placeholder"]), style, tx, ty, t.muted)
        if edit is not None:
            cx = round(tx + self.text.cursor_x(value, style, edit.cursor)) + 0.5
            ctx.set_source_rgba(*t.text)
            ctx.set_line_width(1.5)
            ctx.move_to(cx, ty + 1)
            ctx.line_to(cx, ty + th - 1)
            ctx.stroke()
        ctx.restore()

    def _checkbox_box(self, node: Node) -> tuple[float, float, float]:
        size = self.theme.checkbox_size
        return node.x, node.y + (node.h - size) / 2, size

    def _checkbox(self, ctx: cairo.Context, node: Node, state: ViewState) -> None:
        t = self.theme
        x, y, size = self._checkbox_box(node)
        checked = bool(node.props.get("checked"))
        rounded_rect(ctx, x + 0.5, y + 0.5, size - 1, size - 1, t.small_radius)
        if checked:
            ctx.set_source_rgba(*(t.accent_hover if state.hovered == node.key else t.accent))
            ctx.fill()
            ctx.set_source_rgba(*t.on_accent)
            ctx.set_line_width(2)
            ctx.set_line_cap(cairo.LINE_CAP_ROUND)
            ctx.set_line_join(cairo.LINE_JOIN_ROUND)
            ctx.move_to(x + size * 0.25, y + size * 0.52)
            ctx.line_to(x + size * 0.43, y + size * 0.70)
            ctx.line_to(x + size * 0.76, y + size * 0.32)
            ctx.stroke()
        else:
            ctx.set_source_rgba(*t.surface)
            ctx.fill_preserve()
            ctx.set_source_rgba(*(t.border_hover if state.hovered == node.key else t.border))
            ctx.set_line_width(1)
            ctx.stroke()
        if node.text:
            style = text_style(node, t)
            _, th = self.text.size(node.text, style)
            self.text.draw(ctx, node.text, style, x + size + 8, node.y + (node.h - th) / 2, t.text)

    def _thumb_x(self, node: Node, state_value: float) -> float:
        x0, x1 = slider_track(node, self.theme)
        return x0 + (x1 - x0) * slider_fraction(node, state_value)

    def _slider(self, ctx: cairo.Context, node: Node, state: ViewState) -> None:
        t = self.theme
        value = state.drag_values.get(node.key, float(node.props.get("value", node.props.get("min", 0))))
        node.extra["shown_value"] = value
        x0, x1 = slider_track(node, t)
        cy = node.y + node.h / 2
        cx = self._thumb_x(node, value)
        half = t.slider_track / 2
        rounded_rect(ctx, x0, cy - half, x1 - x0, t.slider_track, half)
        ctx.set_source_rgba(*t.border)
        ctx.fill()
        rounded_rect(ctx, x0, cy - half, max(0.0, cx - x0), t.slider_track, half)
        ctx.set_source_rgba(*t.accent)
        ctx.fill()
        active = state.hovered == node.key or state.pressed == node.key
        radius = t.slider_thumb + (1 if active else 0)
        ctx.arc(cx, cy, radius, 0, 2 * math.pi)
        ctx.set_source_rgba(*t.surface)
        ctx.fill_preserve()
        ctx.set_source_rgba(*(t.accent_pressed if state.pressed == node.key else t.accent))
        ctx.set_line_width(2)
        ctx.stroke()

    def _list(self, ctx: cairo.Context, node: Node, state: ViewState) -> None:
        t = self.theme
        rounded_rect(ctx, node.x + 0.5, node.y + 0.5, node.w - 1, node.h - 1, t.radius)
        ctx.set_source_rgba(*t.surface)
        ctx.fill_preserve()
        ctx.set_source_rgba(*t.border)
        ctx.set_line_width(1)
        ctx.stroke()
        scroll = state.scroll.get(node.key, 0.0)
        ctx.save()
        rounded_rect(ctx, node.x + 1, node.y + 1, node.w - 2, node.h - 2, t.radius - 1)
        ctx.clip()
        ctx.translate(0, -scroll)
        selected = state.selected.get(node.key, node.props.get("selected"))
        for row in node.children:
            if row.y + row.h < node.y + scroll or row.y > node.y + scroll + node.h:
                continue  # outside the viewport
            if row.index == selected or state.hovered == row.key:
                ctx.rectangle(row.x, row.y, row.w, row.h)
                ctx.set_source_rgba(*(t.selection if row.index == selected else t.hover))
                ctx.fill()
            self.node(ctx, row, state)
        ctx.restore()
        content = node.extra.get("content_h", 0.0)
        if content > node.h:
            track = node.h - 8
            bar = max(24.0, track * node.h / content)
            top = node.y + 4 + (track - bar) * scroll / (content - node.h)
            rounded_rect(ctx, node.x + node.w - t.scrollbar_width - 3, top, t.scrollbar_width, bar,
                         t.scrollbar_width / 2)
            ctx.set_source_rgba(*t.scrollbar)
            ctx.fill()

    def _item(self, ctx: cairo.Context, node: Node, state: ViewState) -> None:
        t = self.theme
        style = text_style(node, t)
        _, th = self.text.size(node.text, style)
        self.text.draw(ctx, node.text, style, node.x + t.list_pad_x, node.y + (node.h - th) / 2, t.text)

    def _canvas(self, ctx: cairo.Context, node: Node, state: ViewState) -> None:
        ctx.save()
        ctx.rectangle(node.x, node.y, node.w, node.h)
        ctx.clip()
        ctx.translate(node.x, node.y)
        for command in node.props.get("commands") or []:
            self._canvas_command(ctx, command, node)
        ctx.restore()

    def _canvas_command(self, ctx: cairo.Context, command: list[Any], node: Node) -> None:
        name, args = command[0], command[1:]
        color: RGBA
        if name == "clear":
            ctx.set_source_rgba(*parse_color(args[0]))
            ctx.rectangle(0, 0, node.w, node.h)
            ctx.fill()
        elif name in ("fillRect", "strokeRect"):
            x, y, w, h, color = args[0], args[1], args[2], args[3], parse_color(args[4])
            ctx.set_source_rgba(*color)
            ctx.rectangle(x, y, w, h)
            if name == "fillRect":
                ctx.fill()
            else:
                ctx.set_line_width(args[5] if len(args) > 5 else 1)
                ctx.stroke()
        elif name == "line":
            ctx.set_source_rgba(*parse_color(args[4]))
            ctx.set_line_width(args[5] if len(args) > 5 else 1)
            ctx.move_to(args[0], args[1])
            ctx.line_to(args[2], args[3])
            ctx.stroke()
        elif name == "circle":
            ctx.set_source_rgba(*parse_color(args[3]))
            ctx.new_sub_path()
            ctx.arc(args[0], args[1], max(0.0, args[2]), 0, 2 * math.pi)
            if len(args) > 4 and args[4]:
                ctx.fill()
            else:
                ctx.set_line_width(1)
                ctx.stroke()
        elif name == "text":
            size = args[4] if len(args) > 4 else self.theme.font_size("md")
            style = TextStyle(float(size), False, self.theme.font_family)
            self.text.draw(ctx, str(args[2]), style, args[0], args[1], parse_color(args[3]))
