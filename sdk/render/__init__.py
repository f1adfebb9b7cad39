"""The SDK renderer: lays out and paints a UI tree (docs/ui-tree.md) with Cairo and Pango, and
turns pointer and keyboard input into app events. Pure: tree in, pixels and events out."""

from llmos.sdk.render.renderer import Renderer
from llmos.sdk.render.theme import DARK, LIGHT, Theme
from llmos.sdk.render.tree import MalformedTree, Node, parse_tree

__all__ = ["DARK", "LIGHT", "MalformedTree", "Node", "Renderer", "Theme", "parse_tree"]
