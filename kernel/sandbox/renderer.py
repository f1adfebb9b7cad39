"""The renderer seam. The app host hands every new UI tree to a renderer and receives events back;
the Cairo/Wayland window lives in llmos.sdk.wayland and is imported only when asked for, so
headless hosts (tests, CI) never load Cairo or Wayland."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Protocol

Emit = Callable[[int, list[Any]], None]  # (handler_id, args)


class RenderBackend(Protocol):
    def render(self, tree: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


class NullRenderer:
    """Headless: remembers the last tree. Events come in through the host's control socket."""

    def __init__(self, emit: Emit, title: str = "") -> None:
        self.emit = emit
        self.title = title
        self.trees: list[dict[str, Any]] = []

    def render(self, tree: dict[str, Any]) -> None:
        self.trees.append(tree)
        del self.trees[:-2]

    def close(self) -> None:
        self.trees.clear()


def load_renderer(name: str, emit: Emit, title: str) -> RenderBackend:
    """'null' or a module path; 'wayland' means llmos.sdk.wayland. The module must offer
    create_renderer(emit=..., title=...) -> RenderBackend."""
    if name == "null":
        return NullRenderer(emit, title)
    module = importlib.import_module("llmos.sdk.wayland" if name == "wayland" else name)
    create: Callable[..., RenderBackend] = module.create_renderer  # the contract stated above
    return create(emit=emit, title=title)
