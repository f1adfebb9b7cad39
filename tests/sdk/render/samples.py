"""Sample UI trees shared by the render tests and the benchmark."""

from __future__ import annotations

from typing import Any


def h(n: int) -> dict[str, int]:
    return {"$handler": n}


def node(kind: str, props: dict[str, Any] | None = None, *children: Any) -> dict[str, Any]:
    return {"type": kind, "props": props or {}, "children": list(children)}


def pomodoro(running: bool = False, minutes: int = 25) -> dict[str, Any]:
    """The seed example: Window 'Pomodoro Timer' with Text xl, Button, Slider 1..60."""
    return node("Window", {"title": "Pomodoro Timer"},
                node("Text", {"size": "xl"}, f"{minutes:02d}:00"),
                node("Button", {"onClick": h(1)}, "Pause" if running else "Start"),
                node("Slider", {"value": minutes, "min": 1, "max": 60, "onChange": h(2)}))


def widgets(value: str = "") -> dict[str, Any]:
    """Every widget type once, with handlers 1.. in document order."""
    return node(
        "Window", {"title": "Widgets"},
        node("Text", {"size": "lg", "bold": True}, "My tasks"),
        node("Row", {},
             node("TextInput", {"value": value, "placeholder": "New task…", "onChange": h(1),
                                "onSubmit": h(2)}),
             node("Button", {"onClick": h(3)}, "Add")),
        node("Checkbox", {"checked": True, "label": "Show done", "onChange": h(4)}),
        node("List", {"items": [f"Task number {i}" for i in range(12)], "onSelect": h(5), "height": 160}),
        node("Row", {},
             node("Text", {"size": "sm", "color": "#6b7280"}, "Volume"),
             node("Slider", {"value": 0.3, "min": 0, "max": 1, "onChange": h(6)})),
        node("Canvas", {"width": 200, "height": 60, "commands": [
            ["clear", "#fff7e6"], ["fillRect", 10, 10, 40, 40, "#e4572e"],
            ["circle", 90, 30, 20, "#29335c", True], ["line", 120, 10, 190, 50, "#333333", 2],
            ["strokeRect", 150, 5, 40, 20, "#29335c", 1], ["text", 130, 30, "hi", "#000000", 12]]}),
        node("Button", {"disabled": True, "onClick": h(7)}, "Disabled"),
    )


def big(count: int = 200) -> dict[str, Any]:
    """About `count` widgets: rows of label + button + checkbox, and a slider per row."""
    rows = []
    for i in range(count // 4):
        rows.append(node("Row", {},
                         node("Text", {}, f"Item {i}"),
                         node("Button", {"onClick": h(3 * i + 1)}, f"Go {i}"),
                         node("Checkbox", {"checked": i % 2 == 0, "onChange": h(3 * i + 2)})))
    return node("Window", {"title": "Big", "width": 640},
                node("Column", {"gap": 4}, *rows),
                node("Slider", {"value": 5, "min": 0, "max": 10, "onChange": h(9999)}))
