"""The compositor's one toast system: short notices stacked in the top right corner, at most
MAX_TOASTS, each fading out over its last FADE_S seconds. Kernel `notify` events (through the shell)
and the compositor's ipc `notify` both land here, with the OS shell on or off.

A toast is a shell Layer drawn by the SDK renderer. The renderer (and Pango) load with the first
toast, so a compositor without the shell pays for them only when something notifies."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import TYPE_CHECKING

from llmos.compositor.scene import Rect
from llmos.compositor.shell import views
from llmos.compositor.shell.markers import marker

if TYPE_CHECKING:
    import cairocffi as cairo

    from llmos.compositor.scene import Scene
    from llmos.compositor.shell.layer import Layer

BACKGROUND = (0.10, 0.11, 0.13, 1.0)
FADE_S = 0.5
MAX_TOASTS = 5
WIDTH = 340   # px, narrower only on a screen too small for it
MARGIN = 16   # px from the screen's top and right edges
GAP = 10      # px between stacked toasts


@dataclasses.dataclass(eq=False)
class Toast:
    layer: Layer
    text: str
    expires: float
    timer: asyncio.TimerHandle | None = None


class Toasts:
    def __init__(self, scene: Scene) -> None:
        self.scene = scene
        self.shown: list[Toast] = []
        self._closed = False
        scene.overlays.append(self.paint)

    def notify(self, title: str, body: str, timeout_ms: int) -> None:
        """Show a toast for timeout_ms (0 or less: until newer toasts push it out)."""
        timeout = timeout_ms / 1000
        text = " ".join(body.split())[:300]
        width = min(WIDTH, self.scene.width - 2 * MARGIN)
        layer = _card(self.scene)
        toast = Toast(layer, text, time.monotonic() + max(timeout, FADE_S))
        self.shown.append(toast)
        while len(self.shown) > MAX_TOASTS:
            self._drop(self.shown[0])
        layer.show(views.toast(" ".join(title.split())[:80], text, width), lambda size: (0, 0))
        self._stack()
        marker(f"toast {text[:80]}")
        loop = _running_loop()
        if loop is not None and not self._closed and timeout > 0:
            toast.timer = loop.call_later(max(0.0, timeout - FADE_S), self._on_fade_tick, toast)

    def texts(self) -> list[str]:
        """The bodies on screen, oldest first (the compositor's `shell` ipc reports them)."""
        return [toast.text for toast in self.shown]

    def paint(self, ctx: cairo.Context) -> Rect:
        """Scene overlay, after the shell's panel: toasts are on top of everything but the cursor."""
        for toast in self.shown:
            toast.layer.paint(ctx)
        return Rect(0, 0, 0, 0)

    def close(self) -> None:
        self._closed = True
        for toast in self.shown:
            if toast.timer is not None:
                toast.timer.cancel()

    def _on_fade_tick(self, toast: Toast) -> None:
        if toast not in self.shown or self._closed:
            return
        left = toast.expires - time.monotonic()
        if left <= 0:
            self._drop(toast)
            self._stack()
            return
        toast.layer.alpha = left / FADE_S
        self.scene.damage(toast.layer.bounds())
        toast.timer = asyncio.get_running_loop().call_later(1 / 30, self._on_fade_tick, toast)

    def _drop(self, toast: Toast) -> None:
        if toast.timer is not None:
            toast.timer.cancel()
        self.shown.remove(toast)
        toast.layer.show(None, lambda size: (0, 0))

    def _stack(self) -> None:
        top = MARGIN
        for toast in self.shown:
            layer = toast.layer
            w, h = layer.size
            place = (self.scene.width - w - MARGIN, top)
            if (layer.x, layer.y) != place:
                self.scene.damage(layer.bounds())
                layer.x, layer.y = place
                self.scene.damage(layer.bounds())
            top += h + GAP


def _card(scene: Scene) -> Layer:
    # imported here, not at the top: see the module docstring
    from llmos.compositor.shell.layer import Layer
    from llmos.sdk.render import DARK

    theme = dataclasses.replace(DARK, background=BACKGROUND)
    return Layer("toast", theme, lambda handler, args: None, scene.damage, radius=10)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:  # a toast before the compositor's loop runs stays until pushed out
        return None
