"""Reading a rendered screen the way a person does: the text runs as the renderer paints them, and
widgets found by the words on or around them (a button's label, a field's placeholder, the text in
its row or just before it).

Generated apps name things their own way, so a reference is tolerant: case-insensitive, whole words
or the start of a word, with `|` between alternatives ("add|+|plus"). Pure: it reads a laid-out
Renderer and never sends input; llmos.sdk.render.driver does that.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from llmos.sdk.render.renderer import Renderer
from llmos.sdk.render.tree import Node

# Look-alike symbols apps use on buttons, folded to what a person would type.
_SYMBOLS = str.maketrans({"−": "-", "–": "-", "—": "-", "×": "x", "✕": "x", "✖": "x", "✗": "x",
                          "＋": "+", "➕": "+", "➖": "-", "✓": "v", "✔": "v", "\u00a0": " "})

EXACT, WORDS, PREFIX, NONE = 3, 2, 1, 0
OWN, ROW, BEFORE = 3, 2, 1  # where a widget's words come from: its own label, its row, the text before it
CONTROLS = frozenset({"Button", "TextInput", "Checkbox", "Slider", "Canvas"})


def tokens(text: str) -> list[str]:
    """Lower-case words and single symbols: "Roll 2d6!" -> ["roll", "2d6", "!"]."""
    return re.findall(r"\w+|[^\w\s]", text.casefold().translate(_SYMBOLS))


def match_quality(ref: str, text: str) -> int:
    """How well one reference names a text: EXACT, WORDS (its words appear together in the text),
    PREFIX (the same, with the last word only the start of a word: "calc" names "Calculate"), or NONE."""
    want, have = tokens(ref), tokens(text)
    if not want or not have:
        return NONE
    if want == have or [t for t in want if t.isalnum()] == [t for t in have if t.isalnum()] != []:
        return EXACT
    best = NONE
    for start in range(len(have) - len(want) + 1):
        window = have[start:start + len(want)]
        if window == want:
            return WORDS
        if window[:-1] == want[:-1] and window[-1].startswith(want[-1]) and want[-1].isalnum():
            best = PREFIX
    return best


def alternatives(ref: str) -> list[str]:
    return [alt.strip() for alt in ref.split("|") if alt.strip()]


def ref_quality(ref: str, text: str) -> tuple[int, int]:
    """(quality, -index of the alternative that gave it): earlier alternatives win ties."""
    best = (NONE, 0)
    for index, alt in enumerate(alternatives(ref)):
        best = max(best, (match_quality(alt, text), -index))
    return best if best[0] else (NONE, 0)


@dataclass(frozen=True)
class TextRun:
    """One piece of text as painted. kind: title | text | button | checkbox | row (a List row) |
    input (a TextInput's value) | canvas (a Canvas "text" command)."""

    text: str
    kind: str
    node: Node


def _canvas_texts(node: Node) -> list[str]:
    return [str(c[3]) for c in node.props.get("commands") or [] if isinstance(c, list) and c[:1] == ["text"]
            and len(c) > 3]


class Screen:
    """One look at a laid-out renderer. Build a new one after every change: Nodes are replaced on
    every new tree."""

    def __init__(self, renderer: Renderer, typed: Mapping[str, str] | None = None) -> None:
        self.renderer = renderer
        self.root = renderer.interaction.root
        self.parent = renderer.interaction.parent
        self.typed = dict(typed or {})  # field key -> what the driver typed into it
        self.order: list[Node] = list(self.root.walk()) if self.root else []

    # -- text ------------------------------------------------------------------------------------
    def input_text(self, node: Node) -> str:
        """A TextInput's text as painted: the local edit while focused, else the app's value."""
        edit = self.renderer.interaction.state.edits.get(node.key)
        return edit.text if edit is not None else str(node.props.get("value") or "")

    def visible(self, node: Node) -> bool:
        """Inside the window; rows of a List count as visible (scrolling shows them)."""
        width, height = self.renderer.size()
        if any(a.type == "List" for a in self.ancestors(node)):
            return True
        return node.w > 0 and node.h > 0 and node.x < width and node.y < height \
            and node.x + node.w > 0 and node.y + node.h > 0

    def runs(self, *, title: bool = True, typed: bool = True) -> list[TextRun]:
        """Painted text in document order. Placeholders are hints, not content, so they are left out;
        `typed=False` also leaves out a field still showing just what the driver typed into it, so a
        check sees what the app shows rather than the user's own keystrokes (a value the app put
        there itself, such as converted text, still counts)."""
        found: list[TextRun] = []
        if self.root is None:
            return found
        if title and self.renderer.title_bar and str(self.root.props.get("title") or "").strip():
            found.append(TextRun(str(self.root.props["title"]), "title", self.root))
        for node in self.order[1:]:
            if not self.visible(node):
                continue
            if node.type == "TextInput":
                value = self.input_text(node)
                if value and (typed or self.typed.get(node.key) != value):
                    found.append(TextRun(value, "input", node))
            elif node.type == "Canvas":
                found.extend(TextRun(text, "canvas", node) for text in _canvas_texts(node))
            elif node.text:
                kind = {"Button": "button", "Checkbox": "checkbox", "_Item": "row"}.get(node.type, "text")
                found.append(TextRun(node.text, kind, node))
        return found

    def texts(self, **kw: bool) -> list[str]:
        return [run.text for run in self.runs(**kw)]

    # -- structure -------------------------------------------------------------------------------
    def ancestors(self, node: Node) -> list[Node]:
        chain, parent = [], self.parent.get(node.key)
        while parent is not None:
            chain.append(parent)
            parent = self.parent.get(parent.key)
        return chain

    def row_of(self, node: Node) -> Node | None:
        """The nearest enclosing Row or List row: the widgets a person reads as one line."""
        child = node
        for parent in self.ancestors(node):
            if parent.type == "List":
                return child if child is not node else None
            if parent.type == "Row":
                return parent
            child = parent
        return None

    def words_of(self, node: Node) -> list[tuple[str, int]]:
        """(text, source) pairs naming a widget, each text once at its best source: OWN label or
        placeholder, texts in its ROW, and the text just BEFORE it in reading order (a label above or
        to the left)."""
        found: list[tuple[str, int]] = []
        own = node.props.get("placeholder") if node.type == "TextInput" else node.text
        if isinstance(own, str) and own.strip():
            found.append((own, OWN))
        if node.type == "Canvas":
            found.extend((text, OWN) for text in _canvas_texts(node))
        row = self.row_of(node)
        if row is not None:
            for other in row.walk():
                if other is not node and other.type in ("Text", "Checkbox", "_Item") and other.text:
                    found.append((other.text, ROW))
        before = self._label_before(node)
        if before:
            found.append((before, BEFORE))
        unique: dict[str, int] = {}
        for text, source in found:
            unique[text] = max(source, unique.get(text, 0))
        return list(unique.items())

    def _label_before(self, node: Node) -> str:
        """The nearest Text before `node` in reading order, unless another widget of its kind comes
        between them (then that Text labels the other one) or the Text sits in a row with another
        control (then it belongs to that control)."""
        index = next((i for i, n in enumerate(self.order) if n is node), -1)
        for other in reversed(self.order[:max(index, 0)]):
            if other.type == node.type:
                return ""
            if other.type == "Text" and other.text.strip():
                row = self.row_of(other)
                if row is not None and row is not self.row_of(node) and any(
                        n.type in CONTROLS for n in row.walk()):
                    return ""
                return other.text
        return ""

    def row_texts(self, node: Node) -> list[str]:
        row = self.row_of(node)
        if row is not None:
            return [n.text for n in row.walk() if n.text]
        before = self._label_before(node)
        return [before] if before else []

    # -- finding ---------------------------------------------------------------------------------
    def widgets(self, kinds: Iterable[str]) -> list[Node]:
        wanted = set(kinds)
        return [n for n in self.order if n.type in wanted and self.visible(n)]

    def find(self, ref: str, kinds: Iterable[str], *, near: str = "", only_fallback: bool = False,
             accept: Callable[[Node], bool] | None = None) -> Node:
        """The widget of one of `kinds` that `ref` names best (own label over row over label-before,
        exact over words over prefix, first in reading order on a tie). `near` keeps only widgets whose
        row mentions it (those whose own words do, when any), `accept` only those it accepts. With
        only_fallback, a lone widget of that kind is taken when nothing matches (a single text field is
        "the" field). Raises LookupError saying what is on screen."""
        kinds = tuple(kinds)
        candidates = [n for n in self.widgets(kinds) if accept is None or accept(n)]
        if near:
            candidates = [n for n in candidates
                          if any(ref_quality(near, text)[0] >= PREFIX for text in self.row_texts(n))]
            own = [n for n in candidates
                   if any(ref_quality(near, text)[0] >= PREFIX
                          for text, source in self.words_of(n) if source == OWN)]
            candidates = own or candidates  # "Away +1" is nearer to "away" than "Home +1" in its row
        best: tuple[tuple[int, int, int], Node] | None = None
        for node in candidates:
            for text, source in self.words_of(node):
                quality, alt = ref_quality(ref, text)
                if quality and (best is None or (quality, source, alt) > best[0]):
                    best = ((quality, source, alt), node)
        if best is not None:
            return best[1]
        if only_fallback and len(candidates) == 1:
            return candidates[0]
        raise LookupError(self.describe_miss(ref, kinds, near))

    def describe_miss(self, ref: str, kinds: tuple[str, ...], near: str) -> str:
        seen = []
        for node in self.widgets(kinds):
            words = [text for text, _ in self.words_of(node)]
            seen.append(f"{node.type}({' / '.join(repr(w[:30]) for w in words) or 'no words'})")
        where = f" near {near!r}" if near else ""
        if not seen:
            shown = " | ".join(t.replace("\n", " ")[:40] for t in self.texts()[:15])
            others = sorted({n.type for n in self.order[1:] if n.type in CONTROLS})
            return f"no {'/'.join(kinds)} named {ref!r}{where}; there is none (shows [{shown}]; " \
                   f"controls: {', '.join(others) or 'none'})"
        return f"no {'/'.join(kinds)} named {ref!r}{where}; on screen: {', '.join(seen[:12])}"


__all__ = ["EXACT", "NONE", "PREFIX", "WORDS", "Screen", "TextRun", "match_quality", "ref_quality", "tokens"]
