"""A renderer for tests that paints like the Wayland window does: with the real Cairo renderer, on
the event loop after the tree arrives (so the painting runs outside every guest deadline), with no
display. Named on the host's command line as `--renderer tests.kernel.sandbox.paint_renderer`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from llmos.sdk.render import Renderer


class PaintingRenderer:
    def __init__(self, emit: Callable[[int, list[Any]], None]) -> None:
        self.renderer = Renderer(scale=1, on_event=emit)
        self.pending: dict[str, Any] | None = None
        self.scheduled = False

    def render(self, tree: dict[str, Any]) -> None:
        self.pending = tree
        if not self.scheduled:
            self.scheduled = True
            asyncio.get_running_loop().call_soon(self._draw)

    def _draw(self) -> None:
        self.scheduled = False
        tree, self.pending = self.pending, None
        self.renderer.render(tree)

    def close(self) -> None:
        self.pending = None


def create_renderer(*, emit: Callable[[int, list[Any]], None], title: str) -> PaintingRenderer:
    return PaintingRenderer(emit)
