"""A Wayland client window that shows a Renderer's pixels and feeds it pointer and keyboard
input (pywayland client side, asyncio-driven, no threads).

`create_renderer(emit=..., title=...)` is the app host's `--renderer wayland` entry point
(kernel/sandbox/renderer.py); it lives in app_window.py and is imported lazily."""

from typing import Any

from llmos.sdk.wayland.window import WaylandWindow, WindowStats

__all__ = ["WaylandWindow", "WindowStats", "create_renderer"]


def create_renderer(*, emit: Any, title: str) -> Any:
    from llmos.sdk.wayland.app_window import create_renderer as create

    return create(emit=emit, title=title)
