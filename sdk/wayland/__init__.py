"""A Wayland client window that shows a Renderer's pixels and feeds it pointer and keyboard
input (pywayland client side, asyncio-driven, no threads)."""

from llmos.sdk.wayland.window import WaylandWindow, WindowStats

__all__ = ["WaylandWindow", "WindowStats"]
