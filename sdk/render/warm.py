"""A warm-up render, for the zygote: it runs once before the zygote forks any app host.

Why: the first render in a process pays for fontconfig's configuration, Pango's font map, Cairo's
scaled fonts and glyphs, and the first run of every painter's code. A child forked after this
inherits all of that, which is about 30 ms of each app's first frame on a host and seconds under
emulation. Nothing app-specific is involved: the tree, the text and the theme are fixed here.
"""

from __future__ import annotations

from typing import Any

from llmos.sdk.render.renderer import Renderer
from llmos.sdk.render.theme import LIGHT, Theme
from llmos.sdk.render.tree import TEXT_SIZES

SAMPLE_TEXT = "".join(chr(code) for code in range(0x20, 0x7F))  # printable ASCII: the common glyphs


def _node(kind: str, props: dict[str, Any], *children: Any) -> dict[str, Any]:
    return {"type": kind, "props": props, "children": list(children)}


def sample_tree() -> dict[str, Any]:
    """Every widget type, and text in every size, regular and bold."""
    handler = {"$handler": 1}
    texts = [_node("Text", {"size": size, "bold": bold}, SAMPLE_TEXT)
             for size in TEXT_SIZES for bold in (False, True)]
    return _node(
        "Window", {"title": "Warm-up"},
        _node("Column", {}, *texts),
        _node("Row", {},
              _node("TextInput", {"value": "text", "placeholder": "Type here", "onChange": handler}),
              _node("Button", {"onClick": handler}, "Button"),
              _node("Button", {"onClick": handler, "disabled": True}, "Disabled")),
        _node("Checkbox", {"checked": True, "label": "Checkbox", "onChange": handler}),
        _node("Slider", {"value": 3, "min": 0, "max": 10, "onChange": handler}),
        _node("List", {"items": ["one", "two", "three"], "onSelect": handler, "height": 80}),
        _node("Canvas", {"width": 80, "height": 40, "commands": [
            ["clear", "#ffffff"], ["fillRect", 2, 2, 20, 20, "#e4572e"],
            ["circle", 40, 20, 10, "#29335c", True],
            ["line", 50, 5, 75, 35, "#333333", 2], ["strokeRect", 2, 25, 30, 10, "#29335c", 1],
            ["text", 45, 30, "Aa", "#000000", 12]]}),
    )


def warm(theme: Theme = LIGHT) -> None:
    """Render the sample tree once (its Text nodes cover every size of the theme, regular and bold)."""
    Renderer(theme=theme).render(sample_tree())

