"""Interaction state that outlives one tree: keyed by Node.key so it survives re-renders."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class EditState:
    """A focused TextInput's local text. The app answers onChange asynchronously with a new tree;
    values we sent (`echoes`) are recognised when they come back, so fast typing is not undone by
    a stale tree, while a value the app sets itself (e.g. clearing after submit) is adopted."""

    text: str
    cursor: int
    echoes: list[str] = field(default_factory=list)
    offset: float = 0.0  # horizontal scroll of the text inside the box


@dataclass
class ViewState:
    hovered: str | None = None
    pressed: str | None = None
    focused: str | None = None
    edits: dict[str, EditState] = field(default_factory=dict)
    scroll: dict[str, float] = field(default_factory=dict)
    selected: dict[str, int] = field(default_factory=dict)
    drag_values: dict[str, float] = field(default_factory=dict)
