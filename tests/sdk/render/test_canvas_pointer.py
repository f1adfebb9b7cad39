"""Pointer events on a Canvas with onPointer: down, move while pressed, up, in canvas coordinates."""

from __future__ import annotations

import pytest

from llmos.sdk.render import MalformedTree, Renderer, keys

from .samples import h, node


def paint_tree(with_handler: bool = True) -> dict:
    props = {"width": 200, "height": 100, "commands": [["clear", "#ffffff"]]}
    if with_handler:
        props["onPointer"] = h(7)
    return node("Window", {"title": "Paint"}, node("Text", {}, "Draw below"), node("Canvas", props),
                node("Button", {"onClick": h(8)}, "Clear"))


def start(tree: dict) -> tuple[Renderer, list]:
    events: list = []
    renderer = Renderer(on_event=lambda handler, args: events.append((handler, args)))
    renderer.render(tree)
    return renderer, events


def test_press_drag_release_reports_canvas_coordinates() -> None:
    renderer, events = start(paint_tree())
    canvas = renderer.find(lambda n: n.type == "Canvas")
    assert renderer.hit(canvas.x + 5, canvas.y + 5) is canvas
    renderer.pointer_motion(canvas.x + 10, canvas.y + 20)
    assert events == []  # hovering draws nothing
    renderer.pointer_button(keys.BTN_LEFT, True)
    renderer.pointer_motion(canvas.x + 30.5, canvas.y + 40)
    renderer.pointer_motion(canvas.x + 500, canvas.y - 50)  # dragged outside: clamped to the canvas
    renderer.pointer_button(keys.BTN_LEFT, False)
    assert events == [
        (7, [{"type": "down", "x": 10, "y": 20}]),
        (7, [{"type": "move", "x": 30.5, "y": 40}]),
        (7, [{"type": "move", "x": 200, "y": 0}]),
        (7, [{"type": "up", "x": 200, "y": 0}]),
    ]


def test_other_widgets_still_work_and_a_plain_canvas_is_inert() -> None:
    renderer, events = start(paint_tree(with_handler=False))
    canvas = renderer.find(lambda n: n.type == "Canvas")
    assert renderer.hit(canvas.x + 5, canvas.y + 5) is None
    renderer.pointer_motion(canvas.x + 10, canvas.y + 10)
    renderer.pointer_button(keys.BTN_LEFT, True)
    renderer.pointer_motion(canvas.x + 20, canvas.y + 10)
    renderer.pointer_button(keys.BTN_LEFT, False)
    button = renderer.find(lambda n: n.type == "Button")
    renderer.pointer_motion(button.x + 2, button.y + 2)
    renderer.pointer_button(keys.BTN_LEFT, True)
    renderer.pointer_button(keys.BTN_LEFT, False)
    assert events == [(8, [])]


def test_on_pointer_must_be_a_handler() -> None:
    tree = paint_tree()
    tree["children"][1]["props"]["onPointer"] = "draw()"
    with pytest.raises(MalformedTree, match=r"props\.onPointer must be a handler"):
        Renderer().render(tree)
