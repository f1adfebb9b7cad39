"""Hit-testing, focus, keyboard and pointer behaviour of the renderer, through its public API."""

from __future__ import annotations

import pytest

from llmos.sdk.render import MalformedTree, Renderer, keys

from . import samples
from .samples import h, node


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[int, list]] = []

    def __call__(self, handler: int, args: list) -> None:
        self.events.append((handler, args))


def make(tree, scale: int = 1) -> tuple[Renderer, Recorder]:
    rec = Recorder()
    renderer = Renderer(scale=scale, on_event=rec)
    renderer.render(tree)
    return renderer, rec


def click(renderer: Renderer, x: float, y: float) -> None:
    renderer.pointer_motion(x, y)
    renderer.pointer_button(keys.BTN_LEFT, True)
    renderer.pointer_button(keys.BTN_LEFT, False)


def center(n) -> tuple[float, float]:
    return n.x + n.w / 2, n.y + n.h / 2


def typed(renderer: Renderer, text: str) -> None:
    for ch in text:
        renderer.key(ord(ch), True, ch)
        renderer.key(ord(ch), False)


def test_click_on_button_yields_its_handler_and_outside_yields_nothing() -> None:
    renderer, rec = make(samples.pomodoro())
    button = renderer.find(lambda n: n.type == "Button")
    assert renderer.hit(*center(button)) is button
    click(renderer, *center(button))
    assert rec.events == [(1, [])]
    click(renderer, button.x + button.w + 30, button.y + 5)  # empty space right of the button
    assert rec.events == [(1, [])]


def test_press_then_release_elsewhere_does_not_click() -> None:
    renderer, rec = make(samples.pomodoro())
    button = renderer.find(lambda n: n.type == "Button")
    renderer.pointer_motion(*center(button))
    renderer.pointer_button(keys.BTN_LEFT, True)
    renderer.pointer_motion(button.x + button.w + 40, button.y)
    renderer.pointer_button(keys.BTN_LEFT, False)
    assert rec.events == []


def test_hover_and_press_repaint_only_the_button() -> None:
    renderer, _ = make(samples.pomodoro())
    renderer.take_damage()
    assert renderer.render() is False  # nothing changed: no work
    button = renderer.find(lambda n: n.type == "Button")
    before = bytes(renderer.pixels())
    renderer.pointer_motion(*center(button))
    assert renderer.needs_redraw
    assert renderer.render() is True
    damage = renderer.take_damage()
    width, height = renderer.pixel_size()
    assert damage and all(w * h < width * height / 4 for _, _, w, h in damage)
    assert bytes(renderer.pixels()) != before  # hover colour differs
    renderer.pointer_motion(*center(button))  # same widget: no new damage
    assert renderer.render() is False


def test_same_tree_again_does_not_repaint_but_a_changed_one_does() -> None:
    renderer, _ = make(samples.pomodoro())
    frames = renderer.frames
    assert renderer.render(samples.pomodoro()) is False
    assert renderer.render(samples.pomodoro(running=True)) is True
    assert renderer.frames == frames + 1


def test_typing_into_text_input_yields_on_change_and_enter_submits() -> None:
    renderer, rec = make(samples.widgets())
    field = renderer.find(lambda n: n.type == "TextInput")
    click(renderer, *center(field))
    typed(renderer, "milk")
    assert rec.events == [(1, ["m"]), (1, ["mi"]), (1, ["mil"]), (1, ["milk"])]
    renderer.key(keys.HOME, True)
    typed(renderer, "Buy ")
    renderer.key(keys.END, True)
    renderer.key(keys.BACKSPACE, True)
    renderer.key(keys.LEFT, True)
    renderer.key(keys.LEFT, True)
    renderer.key(keys.DELETE, True)
    assert rec.events[-1] == (1, ["Buy ml"])
    renderer.key(keys.RETURN, True)
    assert rec.events[-1] == (2, ["Buy ml"])


def test_stale_echo_does_not_undo_typing_but_app_value_is_adopted() -> None:
    renderer, rec = make(samples.widgets())
    click(renderer, *center(renderer.find(lambda n: n.type == "TextInput")))
    typed(renderer, "ab")
    renderer.render(samples.widgets(value="a"))  # the app's answer to the first keystroke
    typed(renderer, "c")
    assert rec.events[-1] == (1, ["abc"])
    renderer.render(samples.widgets(value=""))  # the app clears the field itself (e.g. on submit)
    typed(renderer, "x")
    assert rec.events[-1] == (1, ["x"])


def test_click_places_the_caret() -> None:
    renderer, rec = make(samples.widgets(value="hello"))
    field = renderer.find(lambda n: n.type == "TextInput")
    click(renderer, field.x + 11, field.y + field.h / 2)  # just inside the left padding
    typed(renderer, "X")
    assert rec.events[-1] == (1, ["Xhello"])


def test_slider_drag_yields_values_in_range_snapped_to_step() -> None:
    renderer, rec = make(samples.pomodoro())
    slider = renderer.find(lambda n: n.type == "Slider")
    cy = slider.y + slider.h / 2
    renderer.pointer_motion(slider.x + slider.w * 0.8, cy)
    renderer.pointer_button(keys.BTN_LEFT, True)
    for x in (slider.x - 50, slider.x + slider.w / 2, slider.x + slider.w + 50):
        renderer.pointer_motion(x, cy)
    renderer.pointer_button(keys.BTN_LEFT, False)
    values = [args[0] for handler, args in rec.events if handler == 2]
    assert values[0] > 25 and 1 in values and 60 in values
    assert all(isinstance(v, int) and 1 <= v <= 60 for v in values)
    assert any(28 <= v <= 33 for v in values)  # the middle of 1..60


def test_slider_arrow_keys_step_and_clamp() -> None:
    renderer, rec = make(samples.pomodoro())
    renderer.key(keys.TAB, True)
    renderer.key(keys.TAB, True)  # Button, then Slider
    renderer.key(keys.RIGHT, True)
    renderer.key(keys.RIGHT, True)
    renderer.key(keys.PAGE_DOWN, True)
    renderer.key(keys.END, True)
    renderer.key(keys.UP, True)  # already at max: no event
    assert [a[0] for _, a in rec.events] == [26, 27, 17, 60]


def test_checkbox_toggles_by_click_and_space() -> None:
    renderer, rec = make(samples.widgets())
    box = renderer.find(lambda n: n.type == "Checkbox")
    click(renderer, box.x + 5, box.y + box.h / 2)
    assert rec.events == [(4, [False])]
    renderer.key(keys.SPACE, True, " ")
    assert rec.events[-1] == (4, [False])  # the tree still says checked
    renderer.render(samples.widgets() | {})  # same tree
    assert len(rec.events) == 2


def test_tab_and_shift_tab_walk_focusable_widgets_in_order() -> None:
    renderer, _ = make(samples.widgets())
    order = []
    for _ in range(6):
        renderer.key(keys.TAB, True)
        order.append(renderer.interaction.state.focused.rsplit(":", 1)[-1])
    # the disabled Button is skipped; focus wraps around
    assert order == ["TextInput", "Button", "Checkbox", "List", "Slider", "TextInput"]
    renderer.key(keys.ISO_LEFT_TAB, True)
    assert renderer.interaction.state.focused.endswith("Slider")
    renderer.key(keys.TAB, True, shift=True)
    assert renderer.interaction.state.focused.endswith("List")


def test_button_activates_with_enter_and_space_when_focused() -> None:
    renderer, rec = make(samples.pomodoro())
    renderer.key(keys.TAB, True)
    renderer.key(keys.RETURN, True)
    renderer.key(keys.SPACE, True, " ")
    renderer.key(keys.SPACE, False)
    assert rec.events == [(1, []), (1, [])]


def test_disabled_button_does_nothing() -> None:
    renderer, rec = make(samples.widgets())
    click(renderer, *center(renderer.find(lambda n: n.type == "Button" and n.props.get("disabled"))))
    assert rec.events == []


def test_wheel_scrolls_a_long_list_and_click_selects_the_row_under_the_pointer() -> None:
    renderer, rec = make(samples.widgets())
    lst = renderer.find(lambda n: n.type == "List")
    point = (lst.x + 30, lst.y + 10)
    click(renderer, *point)
    assert rec.events[-1] == (5, [0])
    renderer.axis(0, 64)  # two rows of 32 px
    assert renderer.render() is True
    click(renderer, *point)
    assert rec.events[-1] == (5, [2])
    renderer.axis(0, 10_000)  # clamped at the end: 12 rows of 32 in a 160 px view
    click(renderer, lst.x + 30, lst.y + lst.h - 5)
    assert rec.events[-1] == (5, [11])
    renderer.axis(0, -10_000)
    click(renderer, *point)
    assert rec.events[-1] == (5, [0])


def test_list_keyboard_selection_scrolls_into_view() -> None:
    renderer, rec = make(samples.widgets())
    lst = renderer.find(lambda n: n.type == "List")
    renderer.interaction.focus(lst)
    for _ in range(8):
        renderer.key(keys.DOWN, True)
    assert rec.events[-1] == (5, [7])
    assert renderer.interaction.state.scroll[lst.key] > 0
    renderer.key(keys.HOME, True)
    assert rec.events[-1] == (5, [0])
    assert renderer.interaction.state.scroll[lst.key] == 0


def test_events_use_the_handler_ids_of_the_newest_tree() -> None:
    renderer, rec = make(samples.pomodoro())
    tree = samples.pomodoro()
    tree["children"][1]["props"]["onClick"] = h(41)
    renderer.render(tree)
    click(renderer, *center(renderer.find(lambda n: n.type == "Button")))
    assert rec.events == [(41, [])]


def test_focus_survives_a_re_render_of_the_same_shape() -> None:
    renderer, _ = make(samples.pomodoro())
    renderer.key(keys.TAB, True)
    renderer.render(samples.pomodoro(running=True))
    assert renderer.interaction.state.focused.endswith("Button")


def test_hidpi_scale_2_doubles_the_pixel_size() -> None:
    one, _ = make(samples.widgets(), scale=1)
    two, _ = make(samples.widgets(), scale=2)
    assert one.size() == two.size()
    assert two.pixel_size() == (one.size()[0] * 2, one.size()[1] * 2)
    surface = two.surface()
    assert (surface.get_width(), surface.get_height()) == two.pixel_size()
    button = two.find(lambda n: n.type == "Button")
    assert two.hit(*center(button)) is button  # input stays in logical coordinates


def test_forced_size_from_the_compositor_wins() -> None:
    renderer, _ = make(samples.pomodoro())
    renderer.set_size((500, 400))
    assert renderer.render() is True
    assert renderer.size() == (500, 400)
    slider = renderer.find(lambda n: n.type == "Slider")
    assert slider.w == 500 - 2 * renderer.theme.window_padding


def test_text_wraps_in_a_narrow_window() -> None:
    words = "capability " * 20
    renderer, _ = make(node("Window", {"title": "t", "width": 300}, node("Text", {}, words)))
    text = renderer.find(lambda n: n.type == "Text")
    assert text.w <= 300 and text.h > 40  # several lines


@pytest.mark.parametrize(("tree", "message"), [
    (node("Window", {}, node("Buton", {})), "Window > [0]: unknown widget type 'Buton'"),
    (node("Window", {}, node("Column", {}, node("Slider", {"min": 5, "max": 1}))),
     "Window > [0](Column) > [0](Slider): props.max (1) must be greater than props.min (5)"),
    (node("Window", {}, node("Button", {"onClick": "go"})), "props.onClick must be a handler"),
    (node("Window", {}, node("Canvas", {"width": 10, "height": 10, "commands": [["fillRect", 1, 2]]})),
     "props.commands[0]: fillRect takes 5 to 5 arguments, got 2"),
    (node("Window", {}, node("Text", {"color": "red"}, "x")), "props.color: colour must be"),
    (node("Window", {}, node("Text", {}, node("Text", {}))), "Text cannot contain widgets"),
])
def test_bad_trees_raise_located_errors_and_keep_the_last_picture(tree, message) -> None:
    renderer, _ = make(samples.pomodoro())
    before = bytes(renderer.pixels())
    with pytest.raises(MalformedTree) as error:
        renderer.render(tree)
    assert message in str(error.value)
    assert renderer.render() is False and bytes(renderer.pixels()) == before


def test_number_children_show_as_text_and_a_bare_root_gets_a_window() -> None:
    renderer, _ = make(node("Column", {}, 42, None, False, "x"))
    texts = [n.text for n in renderer.find(lambda n: n.type == "Column").children]
    assert texts == ["42", "x"]


def test_a_huge_tree_asks_for_a_bounded_window() -> None:
    """Thousands of rows must not ask the compositor for a buffer taller than it will accept."""
    rows = [node("Text", None, f"row {index}") for index in range(3000)]
    renderer = Renderer()
    renderer.render(node("Window", {"title": "long"}, node("Column", None, *rows)))
    width, height = renderer.size()
    assert height <= 4096 and width <= 8192, (width, height)
