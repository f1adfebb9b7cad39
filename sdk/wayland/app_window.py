"""The app host's `--renderer wayland`: a Renderer in a WaylandWindow behind the sandbox's renderer
seam (kernel/sandbox/renderer.py: `create_renderer(emit=..., title=...)` -> object with render/close).

The host calls this *before* it confines itself (empty network namespace, unprivileged uid), so the
Wayland connection must be open when this function returns: a connect deferred to a task would run
after the uid drop. WaylandWindow.start() does all its work synchronously (roundtrip, bind, map)
although it is a coroutine, so we step it once here and fail loudly if it ever starts to await.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable, Coroutine
from typing import Any

from llmos import config
from llmos.sdk.render import MalformedTree, Renderer
from llmos.sdk.wayland.window import WaylandWindow

log = logging.getLogger(__name__)


def _run_now(coroutine: Coroutine[object, None, None]) -> None:
    """Drive a coroutine that never suspends to completion, synchronously."""
    try:
        coroutine.send(None)
    except StopIteration:
        return
    coroutine.close()
    raise RuntimeError("WaylandWindow.start() suspended; the app host must connect before it confines")


def _title_of(tree: object) -> str | None:
    if isinstance(tree, dict) and tree.get("type") == "Window":
        title = (tree.get("props") or {}).get("title")
        if isinstance(title, str) and title.strip():
            return title.strip()[:200]
    return None


class AppWindow:
    """Renderer + WaylandWindow; the toplevel's title follows the root Window's `title` prop, so the
    compositor's window list and switcher show the app's own name instead of its id."""

    def __init__(self, emit: Callable[[int, list[Any]], None], app_id: str) -> None:
        cfg = config.load()
        kiosk = cfg.settings.system.mode == "kiosk"
        self.renderer = Renderer(scale=cfg.settings.display.scale, on_event=emit, title_bar=not kiosk)
        self.title = app_id
        self.window = WaylandWindow(self.renderer, title=app_id, app_id=f"llmos.{app_id}",
                                    on_close=self._on_close, on_error=self._on_error,
                                    answers_in_line=True)  # the host dispatches each event in line
        _run_now(self.window.start())

    def render(self, tree: dict[str, Any]) -> None:
        title = _title_of(tree)
        if title and title != self.title:
            self.title = title
            self.window.toplevel.set_title(title)
        self.window.update(tree)

    def close(self) -> None:
        self.window.close()

    @staticmethod
    def _on_close() -> None:
        # The compositor closed the window (Super+Q) or went away: stop the app like SIGTERM does,
        # through the host's own signal handler, so it reports 'stopped' and exits 0.
        os.kill(os.getpid(), signal.SIGTERM)

    @staticmethod
    def _on_error(error: Exception) -> None:
        level = logging.WARNING if isinstance(error, MalformedTree) else logging.ERROR
        log.log(level, "window: %s", error)


def create_renderer(*, emit: Callable[[int, list[Any]], None], title: str) -> AppWindow:
    """Entry point named by kernel/sandbox/renderer.py; `title` is the app id from its token."""
    if not os.environ.get("WAYLAND_DISPLAY") and not os.environ.get("XDG_RUNTIME_DIR"):
        raise RuntimeError("no Wayland display: WAYLAND_DISPLAY and XDG_RUNTIME_DIR are unset")
    return AppWindow(emit, title)
