"""The shell's two layers on screen: the central panel (launcher, welcome, settings, flow dialogs)
and the dock. `refresh()` rebuilds their trees from the state (views.py), places them, dims the
screen behind a modal dialog, and takes the keyboard while a panel is open. Toasts are not here:
they are the compositor's (toasts.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from llmos.compositor.scene import Rect
from llmos.compositor.shell import views
from llmos.compositor.shell.layer import Layer
from llmos.compositor.shell.markers import boot_marker, marker
from llmos.sdk.render import DARK, LIGHT
from llmos.sdk.render.screen import Screen

if TYPE_CHECKING:
    import cairocffi as cairo

    from llmos.compositor.shell.shell import Shell
    from llmos.compositor.shell.state import ShellState

PANEL_THEME = dataclasses.replace(LIGHT, background=LIGHT.surface)
DOCK_THEME = dataclasses.replace(DARK, background=(0.12, 0.13, 0.15, 0.96))
BACKDROP = (0.03, 0.05, 0.09, 0.55)
MODAL = ("flow:", "welcome", "untrusted")
FIRST_FOCUS = {"launcher": "prompt", "settings": "local_model", "welcome": "start",
               "untrusted": "cancel", "history": "versions"}  # Enter on the extra confirmation cancels


class Surfaces:
    def __init__(self, shell: Shell) -> None:
        self.shell = shell
        self.panel, self.dock = layers(self._on_widget_event, shell.server.scene.damage)
        self.handlers: dict[str, views.Handlers] = {"panel": views.Handlers(), "dock": views.Handlers()}
        self.backdrop = False
        self.has_keyboard = False
        self.refreshes = 0
        self._shown_kind: str | None = None

    @property
    def screen(self) -> tuple[int, int]:
        scene = self.shell.server.scene
        return scene.width, scene.height

    def refresh(self) -> None:
        self.refreshes += 1
        shell = self.shell
        state = shell.state
        kind = state.current_panel()
        focused = shell.server.wm.focused
        self.handlers = show(self.panel, self.dock, state, shell.actions, self.screen,
                             focused.title if focused else "")
        backdrop = kind is not None and kind.startswith(MODAL)
        if backdrop != self.backdrop:
            self.backdrop = backdrop
            shell.server.scene.damage()
        self._grab_keyboard(kind is not None)
        if kind != self._shown_kind:
            self._shown_kind = kind
            focus_first(self.panel, kind)
            if kind in ("launcher", "welcome"):  # the first screen: the welcome panel on first boot
                boot_marker("shell visible")
            if kind == "launcher":
                marker("launcher visible")
            elif kind == "flow:approval":
                marker("approval visible")
            elif kind is not None:
                marker(f"{kind.removeprefix('flow:')} visible")

    def paint(self, ctx: cairo.Context) -> Rect:
        """Scene overlay: the dock, the backdrop of a modal dialog, then the panel."""
        return paint(ctx, self.panel, self.dock, self.backdrop)

    def focused_key(self) -> str:
        """The `key` of the panel widget with the keyboard focus ("" when none)."""
        interaction = self.panel.renderer.interaction
        node = interaction.by_key.get(interaction.state.focused or "")
        return str(node.props.get("key", "")) if node is not None else ""

    def focused_button(self) -> bool:
        interaction = self.panel.renderer.interaction
        node = interaction.by_key.get(interaction.state.focused or "")
        return node is not None and node.type == "Button"

    def texts(self) -> dict[str, list[str]]:
        """The text each visible layer paints, in reading order (what a person reads there)."""
        layers = (self.panel, self.dock)
        return {layer.name: Screen(layer.renderer).texts() for layer in layers if layer.visible}

    def widgets(self) -> dict[str, dict[str, list[int]]]:
        """Screen rectangles of the keyed widgets of each visible layer (tests click them; no OCR)."""
        return {layer.name: _widgets(layer) for layer in (self.panel, self.dock) if layer.visible}

    def _on_widget_event(self, layer: str, handler: int, args: list[Any]) -> None:
        if self.handlers[layer].dispatch(handler, args):
            self.shell.invalidate()

    def _grab_keyboard(self, wanted: bool) -> None:
        """While a panel is open the shell has the keyboard: the app gets a leave, then an enter back."""
        if wanted == self.has_keyboard:
            return
        self.has_keyboard = wanted
        server = self.shell.server
        if wanted:
            server.seat.set_keyboard_focus(None)
        else:
            focused = server.wm.focused
            server.seat.set_keyboard_focus(focused.surface if focused is not None else None)
        server.flush()


def layers(on_event: Callable[[str, int, list[Any]], None],
           damage: Callable[[Rect], None]) -> tuple[Layer, Layer]:
    """The shell's two layers, the panel and the dock; `on_event(layer, handler, args)`."""
    panel = Layer("panel", PANEL_THEME, lambda n, a: on_event("panel", n, a), damage)
    dock = Layer("dock", DOCK_THEME, lambda n, a: on_event("dock", n, a), damage, radius=12)
    return panel, dock


def show(panel: Layer, dock: Layer, state: ShellState, actions: views.Actions, screen: tuple[int, int],
         focused_title: str) -> dict[str, views.Handlers]:
    """Build both layers' trees from the state and place them; returns each layer's handlers."""
    handlers = {"panel": views.Handlers(), "dock": views.Handlers()}
    launcher = state.current_panel() == "launcher"
    panel.show(views.panel(state, actions, handlers["panel"], screen),
               lambda size: _panel_origin(size, screen, launcher))
    width, height = screen
    dock.show(views.dock(state, actions, handlers["dock"], focused_title),
              lambda size: ((width - size[0]) // 2, height - size[1] - 12))
    return handlers


def _panel_origin(size: tuple[int, int], screen: tuple[int, int], launcher: bool) -> tuple[int, int]:
    width, height = screen
    x = (width - size[0]) // 2
    if size[1] >= height - 32:
        return x, 0
    y = max(16, height // 8) if launcher else (height - size[1]) // 2
    return x, max(16, min(y, height - size[1] - 16))


def focus_first(panel: Layer, kind: str | None) -> None:
    """The keyboard focus a newly shown panel starts with (its text field, its safe button)."""
    wanted = FIRST_FOCUS.get(kind or "")
    renderer = panel.renderer
    node = renderer.find(lambda n: n.props.get("key") == wanted) if wanted else None
    renderer.interaction.focus(node)
    panel.refresh()


def paint(ctx: cairo.Context, panel: Layer, dock: Layer, backdrop: bool) -> Rect:
    """The dock, the backdrop of a modal dialog, then the panel."""
    dock.paint(ctx)
    if backdrop:
        ctx.set_source_rgba(*BACKDROP)
        ctx.paint()
    panel.paint(ctx)
    return Rect(0, 0, 0, 0)


def _widgets(layer: Layer) -> dict[str, list[int]]:
    root = layer.renderer.interaction.root
    found: dict[str, list[int]] = {}
    for item in root.walk() if root is not None else []:
        if "key" in item.props:
            found[str(item.props["key"])] = [round(layer.x + item.x), round(layer.y + item.y), round(item.w),
                                             round(item.h)]
    return found
