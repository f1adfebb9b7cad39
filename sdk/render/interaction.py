"""Pointer, wheel and keyboard behaviour of the widgets: hit-testing, hover/pressed, focus,
text editing, slider dragging, list selection and scrolling. Produces (handler_id, args)
events and tells the renderer which widget boxes need repainting."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from llmos.sdk.render import keys
from llmos.sdk.render.layout import text_style
from llmos.sdk.render.paint import slider_fraction, slider_track
from llmos.sdk.render.state import EditState, ViewState
from llmos.sdk.render.text import TextEngine
from llmos.sdk.render.theme import Theme
from llmos.sdk.render.tree import Node

Rect = tuple[float, float, float, float]
EventSink = Callable[[int, list[Any]], None]
ACTIVE = frozenset({"Button", "TextInput", "Checkbox", "Slider"})


def is_focusable(node: Node) -> bool:
    if node.type == "Button":
        return not node.props.get("disabled")
    if node.type == "List":
        return node.handler("onSelect") is not None
    return node.type in ("TextInput", "Checkbox", "Slider")


def is_drawable(node: Node) -> bool:
    """A Canvas that asked for pointer events (onPointer)."""
    return node.type == "Canvas" and node.handler("onPointer") is not None


def slider_step(node: Node) -> float:
    step = node.props.get("step")
    if step:
        return float(step)
    values = (node.props.get("min", 0), node.props.get("max", 100), node.props.get("value", 0))
    if all(isinstance(v, int) or float(v).is_integer() for v in values):
        return 1.0
    return (float(node.props.get("max", 100)) - float(node.props.get("min", 0))) / 100


def snap_slider(node: Node, value: float) -> float | int:
    low, high = float(node.props.get("min", 0)), float(node.props.get("max", 100))
    step = slider_step(node)
    snapped = low + round((value - low) / step) * step
    snapped = round(min(high, max(low, snapped)), 9)
    return int(snapped) if step.is_integer() and snapped.is_integer() else snapped


class Interaction:
    def __init__(self, text: TextEngine, theme: Theme, on_event: EventSink | None,
                 damage: Callable[[Rect | None], None]) -> None:
        self.text = text
        self.theme = theme
        self.on_event = on_event
        self._damage = damage  # None means "everything"
        self.state = ViewState()
        self.root: Node | None = None
        self.by_key: dict[str, Node] = {}
        self.parent: dict[str, Node] = {}
        self.pointer: tuple[float, float] | None = None

    # -- tree changes --------------------------------------------------------------------------
    def adopt(self, root: Node) -> None:
        """Switch to a new laid-out tree, keeping state whose widgets still exist."""
        self.root = root
        self.by_key = {}
        self.parent = {}
        for node in root.walk():
            self.by_key[node.key] = node
            for child in node.children:
                self.parent[child.key] = node
        s = self.state
        for name in ("hovered", "pressed", "focused"):
            if getattr(s, name) not in self.by_key:
                setattr(s, name, None)
        for key in list(s.edits):
            field = self.by_key.get(key)
            if field is None or field.type != "TextInput" or key != s.focused:
                del s.edits[key]
                continue
            if "value" not in field.props:  # uncontrolled: the text is the field's own
                continue
            edit, value = s.edits[key], str(field.props.get("value") or "")
            if value in edit.echoes:
                del edit.echoes[:edit.echoes.index(value) + 1]
            elif value != edit.text:
                edit.text, edit.cursor, edit.echoes = value, min(edit.cursor, len(value)), []
        for key in list(s.drag_values):
            if key != s.pressed:
                del s.drag_values[key]
        for mapping in (s.scroll, s.selected):
            for key in list(mapping):
                if key not in self.by_key:
                    del mapping[key]
        for key in list(s.scroll):
            s.scroll[key] = self._clamp_scroll(self.by_key[key], s.scroll[key])
        if self.pointer is not None:
            s.hovered = self._hover_key(*self.pointer)

    def settle(self) -> None:
        """The app has answered every event sent so far (its window hands each event to it in line
        and adopts its newest tree first), so a controlled field shows exactly the app's value: a key
        the app refused or rewrote does not stay on screen, and no guess from echoes is needed."""
        for key, edit in self.state.edits.items():
            field = self.by_key.get(key)
            if field is None or "value" not in field.props:
                continue
            value = str(field.props.get("value") or "")
            edit.echoes.clear()
            if value != edit.text:
                edit.text, edit.cursor = value, min(edit.cursor, len(value))
                self._keep_caret_visible(field, edit)
                self._dirty(key)

    # -- geometry ------------------------------------------------------------------------------
    def hit_path(self, x: float, y: float) -> list[Node]:
        """Nodes under (x, y) from the root down; List contents are shifted by their scroll."""
        path: list[Node] = []
        node = self.root
        while node is not None and node.contains(x, y):
            path.append(node)
            if node.type == "List":
                y += self.state.scroll.get(node.key, 0.0)
            node = next((c for c in reversed(node.children) if c.contains(x, y)), None)
        return path

    def target(self, path: list[Node]) -> Node | None:
        """The widget a pointer press acts on: an active widget, else a List row."""
        for node in reversed(path):
            if node.type in ACTIVE or is_drawable(node):
                return node
            parent = self.parent.get(node.key)
            if parent is not None and parent.type == "List":
                return node
        return None

    def hit(self, x: float, y: float) -> Node | None:
        return self.target(self.hit_path(x, y))

    def _hover_key(self, x: float, y: float) -> str | None:
        node = self.hit(x, y)
        return node.key if node is not None else None

    def screen_rect(self, node: Node) -> Rect:
        """Where a node shows on screen, including its focus ring; rows inside a List repaint
        the List box, since their position depends on the scroll."""
        owner = node
        parent = self.parent.get(node.key)
        while parent is not None:
            if parent.type == "List":
                owner = parent
            parent = self.parent.get(parent.key)
        grow = self.theme.focus_width + 2
        return (owner.x - grow, owner.y - grow, owner.w + 2 * grow, owner.h + 2 * grow)

    def _dirty(self, *node_keys: str | None) -> None:
        for key in node_keys:
            node = self.by_key.get(key) if key else None
            if node is not None:
                self._damage(self.screen_rect(node))

    # -- events --------------------------------------------------------------------------------
    def _emit(self, node: Node, prop: str, args: list[Any]) -> None:
        handler = node.handler(prop)
        if handler is not None and self.on_event is not None:
            self.on_event(handler, args)

    def _set(self, name: str, key: str | None) -> None:
        old = getattr(self.state, name)
        if old != key:
            setattr(self.state, name, key)
            self._dirty(old, key)

    def focus(self, node: Node | None) -> None:
        key = node.key if node is not None and is_focusable(node) else None
        if key == self.state.focused:
            return
        old = self.state.focused
        self.state.edits.pop(old or "", None)
        if node is not None and key is not None and node.type == "TextInput":
            value = str(node.props.get("value") or "")
            self.state.edits[key] = EditState(value, len(value))
        self._set("focused", key)

    def pointer_motion(self, x: float, y: float) -> None:
        self.pointer = (x, y)
        if self.root is None:
            return
        self._set("hovered", self._hover_key(x, y))
        pressed = self.by_key.get(self.state.pressed or "")
        if pressed is not None and pressed.type == "Slider":
            self._drag_slider(pressed, x)
        elif pressed is not None and is_drawable(pressed):
            self._pointer(pressed, "move", x, y)

    def pointer_leave(self) -> None:
        self.pointer = None
        self._set("hovered", None)

    def pointer_button(self, button: int, pressed: bool) -> None:
        if button != keys.BTN_LEFT or self.root is None or self.pointer is None:
            return
        x, y = self.pointer
        node = self.hit(x, y)
        if pressed:
            self._set("pressed", node.key if node is not None else None)
            if node is None:
                return
            parent = self.parent.get(node.key)
            self.focus(parent if parent is not None and parent.type == "List" else node)
            if node.type == "Slider":
                self._drag_slider(node, x)
            elif is_drawable(node):
                self._pointer(node, "down", x, y)
            elif node.type == "TextInput":
                self._place_caret(node, x)
            return
        was = self.by_key.get(self.state.pressed or "")
        self._set("pressed", None)
        if was is None:
            return
        if was.type == "Slider":
            self._dirty(was.key)  # drag value stays until the app's next tree replaces it
        elif is_drawable(was):
            self._pointer(was, "up", x, y)
        elif node is was:
            self.activate(was)

    def activate(self, node: Node) -> None:
        """Click, Enter or Space on a widget."""
        parent = self.parent.get(node.key)
        if node.type == "Button" and not node.props.get("disabled"):
            self._emit(node, "onClick", [])
        elif node.type == "Checkbox":
            self._emit(node, "onChange", [not node.props.get("checked")])
        elif parent is not None and parent.type == "List":
            self._select(parent, node.index)

    def axis(self, dx: float, dy: float) -> None:
        if self.root is None or self.pointer is None or not dy:
            return
        lists = [n for n in self.hit_path(*self.pointer) if n.type == "List"]
        for node in reversed(lists):
            before = self.state.scroll.get(node.key, 0.0)
            after = self._clamp_scroll(node, before + dy)
            if after != before:
                self.state.scroll[node.key] = after
                self._dirty(node.key)
                self._set("hovered", self._hover_key(*self.pointer))
                return

    def _clamp_scroll(self, node: Node, value: float) -> float:
        return max(0.0, min(value, node.extra.get("content_h", 0.0) - node.h))

    def _select(self, node: Node, index: int) -> None:
        rows = node.children
        if not rows:
            return
        index = max(0, min(index, len(rows) - 1))
        self.state.selected[node.key] = index
        row = rows[index]
        top, bottom = row.y - node.y, row.y - node.y + row.h
        scroll = self.state.scroll.get(node.key, 0.0)
        if top < scroll:
            self.state.scroll[node.key] = self._clamp_scroll(node, top)
        elif bottom > scroll + node.h:
            self.state.scroll[node.key] = self._clamp_scroll(node, bottom - node.h)
        self._dirty(node.key)
        self._emit(node, "onSelect", [index])

    def _pointer(self, node: Node, kind: str, x: float, y: float) -> None:
        """onPointer({type, x, y}) in canvas coordinates (its top-left is 0, 0), clamped to the canvas,
        for a press on it, each motion while pressed (also outside it) and the release."""
        shift = 0.0
        parent = self.parent.get(node.key)
        while parent is not None:  # a canvas inside a List moves up with the list's scroll
            if parent.type == "List":
                shift += self.state.scroll.get(parent.key, 0.0)
            parent = self.parent.get(parent.key)
        local_x = min(max(x - node.x, 0.0), node.w)
        local_y = min(max(y + shift - node.y, 0.0), node.h)
        self._emit(node, "onPointer", [{"type": kind, "x": round(local_x, 2), "y": round(local_y, 2)}])

    def _drag_slider(self, node: Node, x: float) -> None:
        x0, x1 = slider_track(node, self.theme)
        low, high = float(node.props.get("min", 0)), float(node.props.get("max", 100))
        fraction = min(1.0, max(0.0, (x - x0) / (x1 - x0))) if x1 > x0 else 0.0
        self._set_slider(node, low + fraction * (high - low))

    def _set_slider(self, node: Node, raw: float) -> None:
        value = snap_slider(node, raw)
        current = self.state.drag_values.get(node.key, float(node.props.get("value", 0)))
        self.state.drag_values[node.key] = float(value)
        if value != current:
            self._dirty(node.key)
            self._emit(node, "onChange", [value])

    def _place_caret(self, node: Node, x: float) -> None:
        edit = self.state.edits.get(node.key)
        if edit is not None:
            local = x - node.x - self.theme.input_pad_x + edit.offset
            edit.cursor = self.text.index_at(edit.text, text_style(node, self.theme), local)
            self._dirty(node.key)

    # -- keyboard ------------------------------------------------------------------------------
    def key(self, keysym: int, pressed: bool, text: str = "", shift: bool = False) -> None:
        if not pressed or self.root is None:
            return
        if keysym in (keys.TAB, keys.ISO_LEFT_TAB):
            self.move_focus(-1 if shift or keysym == keys.ISO_LEFT_TAB else 1)
            return
        node = self.by_key.get(self.state.focused or "")
        if node is None:
            return
        if keysym == keys.ESCAPE:
            self.focus(None)
        elif node.type == "TextInput":
            self._edit_key(node, keysym, text)
        elif node.type == "Slider":
            self._slider_key(node, keysym)
        elif node.type == "List":
            self._list_key(node, keysym)
        elif keysym in (*keys.ENTER_KEYS, keys.SPACE):
            self.activate(node)

    def move_focus(self, direction: int) -> None:
        order = [n for n in self.root.walk() if is_focusable(n)] if self.root else []
        if not order:
            return
        keys_in_order = [n.key for n in order]
        current = self.state.focused
        if current in keys_in_order:
            index = (keys_in_order.index(current) + direction) % len(order)
        else:
            index = 0 if direction > 0 else len(order) - 1
        self.focus(order[index])

    def _edit_key(self, node: Node, keysym: int, text: str) -> None:
        edit = self.state.edits.get(node.key)
        if edit is None:
            return
        before = edit.text
        if keysym in keys.ENTER_KEYS:
            self._emit(node, "onSubmit", [edit.text])
            return
        if keysym == keys.BACKSPACE and edit.cursor > 0:
            edit.text = edit.text[:edit.cursor - 1] + edit.text[edit.cursor:]
            edit.cursor -= 1
        elif keysym == keys.DELETE:
            edit.text = edit.text[:edit.cursor] + edit.text[edit.cursor + 1:]
        elif keysym == keys.LEFT:
            edit.cursor = max(0, edit.cursor - 1)
        elif keysym == keys.RIGHT:
            edit.cursor = min(len(edit.text), edit.cursor + 1)
        elif keysym == keys.HOME:
            edit.cursor = 0
        elif keysym == keys.END:
            edit.cursor = len(edit.text)
        elif text and text.isprintable():
            edit.text = edit.text[:edit.cursor] + text + edit.text[edit.cursor:]
            edit.cursor += len(text)
        else:
            return
        self._keep_caret_visible(node, edit)
        self._dirty(node.key)
        if edit.text != before:
            edit.echoes.append(edit.text)
            del edit.echoes[:-64]
            self._emit(node, "onChange", [edit.text])

    def _keep_caret_visible(self, node: Node, edit: EditState) -> None:
        room = node.w - 2 * self.theme.input_pad_x
        caret = self.text.cursor_x(edit.text, text_style(node, self.theme), edit.cursor)
        if caret - edit.offset > room:
            edit.offset = caret - room
        elif caret < edit.offset:
            edit.offset = caret
        edit.offset = max(0.0, edit.offset)

    def _slider_key(self, node: Node, keysym: int) -> None:
        step = slider_step(node)
        low, high = float(node.props.get("min", 0)), float(node.props.get("max", 100))
        current = self.state.drag_values.get(node.key, float(node.props.get("value", low)))
        moves = {keys.LEFT: -step, keys.DOWN: -step, keys.RIGHT: step, keys.UP: step,
                 keys.PAGE_DOWN: -10 * step, keys.PAGE_UP: 10 * step}
        if keysym in moves:
            self._set_slider(node, current + moves[keysym])
        elif keysym == keys.HOME:
            self._set_slider(node, low)
        elif keysym == keys.END:
            self._set_slider(node, high)

    def _list_key(self, node: Node, keysym: int) -> None:
        current = self.state.selected.get(node.key, node.props.get("selected", -1))
        current = current if isinstance(current, int) else -1
        page = max(1, int(node.h // self.theme.list_row_height))
        target = {keys.UP: current - 1, keys.DOWN: current + 1, keys.HOME: 0,
                  keys.END: len(node.children) - 1, keys.PAGE_UP: current - page,
                  keys.PAGE_DOWN: current + page}.get(keysym)
        if target is not None:
            self._select(node, max(0, target))
        elif keysym in keys.ENTER_KEYS and current >= 0:
            self._emit(node, "onSelect", [current])


__all__ = ["Interaction", "is_drawable", "is_focusable", "slider_fraction", "snap_slider"]
