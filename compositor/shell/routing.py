"""Which part of the shell an input event goes to. compositor/input.py asks the shell before any
client: a handler returning False lets the event through to the app.

Pointer input goes to the shell layer under the pointer; a modal dialog (flow dialogs, welcome)
swallows what would reach an app. While a panel is open the shell has the keyboard: keys with a
shell meaning (Escape, Enter's default button, the launcher's arrows, the masked API key) go to the
part that owns them, every other key to the panel's focused widget."""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmos.compositor.shell.keyboard import translate
from llmos.sdk.render import keys

if TYPE_CHECKING:
    from collections.abc import Callable

    from llmos.compositor.shell.layer import Layer
    from llmos.compositor.shell.shell import Shell

WHEEL_PX = 32 / 15  # renderer scroll pixels per compositor wheel unit


class InputRouting:
    def __init__(self, shell: Shell) -> None:
        self.shell = shell
        self._pointer_layer: Layer | None = None

    # -- pointer ------------------------------------------------------------------------------------
    def on_pointer_motion(self, x: float, y: float) -> bool:
        layer = self._layer_at(x, y)
        if layer is not self._pointer_layer:
            if self._pointer_layer is not None:
                self._pointer_layer.renderer.pointer_leave()
                self._pointer_layer.refresh()
            self._pointer_layer = layer
        if layer is not None:
            layer.renderer.pointer_motion(x - layer.x, y - layer.y)
            layer.refresh()
            return True
        return self.shell.surfaces.backdrop

    def on_pointer_button(self, button: int, pressed: bool) -> bool:
        shell = self.shell
        layer = self._pointer_layer
        if layer is not None:
            layer.renderer.pointer_button(button, pressed)
            layer.refresh()
            return True
        if shell.surfaces.backdrop:
            return True
        if pressed and shell.state.panel in ("launcher", "settings") and shell.apps.present():
            shell.state.panel = None  # a click on an app dismisses the launcher and reaches the app
            shell.invalidate()
        return False

    def on_axis(self, value: float) -> bool:
        layer = self._pointer_layer
        if layer is None:
            return self.shell.surfaces.backdrop
        layer.renderer.axis(0.0, value * WHEEL_PX)
        layer.refresh()
        return True

    def _layer_at(self, x: float, y: float) -> Layer | None:
        surfaces = self.shell.surfaces
        for layer in (surfaces.panel, surfaces.dock):
            if layer.contains(x, y) and not (layer is surfaces.dock and surfaces.backdrop):
                return layer
        return None

    # -- keyboard -----------------------------------------------------------------------------------
    def on_key(self, code: int, pressed: bool) -> bool:
        """A key while the shell has the keyboard; False lets the compositor give it to the client."""
        shell = self.shell
        surfaces = shell.surfaces
        if not surfaces.has_keyboard and pressed:
            return False
        seat = shell.server.seat
        sym, text, shift = translate(seat.keymap.state, code)
        seat.update_modifiers_only(code, pressed)
        panel = surfaces.panel
        if pressed and self._on_shell_key(sym, text):
            if surfaces.focused_key() == "api_key":  # the masked field: rebuild now, caret to the end
                shell.refresh()
                panel.renderer.key(keys.END, True)
                panel.refresh()
            else:
                shell.invalidate()
            return True
        if panel.visible:
            panel.renderer.key(sym, pressed, text, shift)
            panel.refresh()
        return True

    def _on_shell_key(self, sym: int, text: str) -> bool:
        """True when the key had a shell meaning and was handled."""
        shell = self.shell
        state = shell.state
        kind = state.current_panel()
        enter = sym in keys.ENTER_KEYS
        in_key_field = kind == "settings" and shell.surfaces.focused_key() == "api_key"
        if in_key_field and shell.settings_editor.on_api_key_typed(sym, text):
            return True
        if sym == keys.ESCAPE:
            self._on_escape(kind)
            return True
        if kind == "launcher":
            rows = len(state.suggestions)
            if sym in (keys.DOWN, keys.UP) and rows:
                shell.launcher.move_highlight(1 if sym == keys.DOWN else -1)
                return True
            if enter and state.highlight >= 0 and not shell.surfaces.focused_button():
                shell.launcher.on_suggestion_chosen(state.highlight)
                return True
            return False
        if kind == "history" and sym in (keys.DOWN, keys.UP):
            shell.versions.move(1 if sym == keys.DOWN else -1)
            return True
        if not enter or shell.surfaces.focused_button():
            return False  # Enter on a focused button presses that button instead
        default = self._enter_defaults().get(kind or "")
        if default is None:
            return False
        default()
        return True

    def _enter_defaults(self) -> dict[str, Callable[[], None]]:
        """The button Enter presses in each dialog."""
        shell = self.shell
        return {"flow:approval": shell.flow.approve, "welcome": shell.launcher.open,
                "flow:failed": shell.flow.retry, "flow:offered": lambda: shell.flow.answer_cached(True),
                "settings": shell.settings_editor.save, "history": shell.versions.restore}

    def _on_escape(self, kind: str | None) -> None:
        shell = self.shell
        if (kind or "").startswith("flow:") and kind != "flow:failed":
            shell.flow.cancel()
        elif kind == "welcome":
            shell.launcher.open()
        elif kind == "flow:failed":
            shell.launcher.close_panel()
        elif kind == "untrusted":
            shell.trust.cancel()
        elif kind == "history":
            shell.versions.close()
        elif kind == "launcher" and not shell.apps.present():
            shell.launcher.clear()
        else:
            shell.launcher.close_panel()
