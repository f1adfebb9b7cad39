"""The app driver: finding widgets by their words on the painted screen, and using real apps in real
app hosts through the renderer (llmos.sdk.render.driver, llmos.kernel.sandbox.headless)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from llmos.kernel.sandbox.headless import HeadlessApp, HeadlessKernel, LaunchError
from llmos.kernel.sandbox.limits import GuestLimits
from llmos.kernel.starter import STARTERS
from llmos.sdk.render import Renderer
from llmos.sdk.render.driver import AppStopped, NotOnScreen, text_pattern
from llmos.sdk.render.screen import EXACT, NONE, PREFIX, WORDS, Screen, match_quality

from .samples import h, node

STARTER = {s.name: s for s in STARTERS}


# -- reading the screen (no app host) ------------------------------------------------------------
@pytest.mark.parametrize(("ref", "text", "quality"), [
    ("add", "Add", EXACT), ("Add", "add!", EXACT), ("add", "Add item", WORDS), ("calc", "Calculate", PREFIX),
    ("add", "Padding", NONE), ("+", "+1", WORDS), ("-", "−", EXACT), ("x", "✕", EXACT),
    ("call mum", "Call Mum today", WORDS), ("roll", "Roll 2d6", WORDS), ("tip", "Multiple", NONE),
])
def test_match_quality(ref: str, text: str, quality: int) -> None:
    assert match_quality(ref, text) == quality


@pytest.mark.parametrize(("text", "shown", "found"), [
    ("15.00", "Tip: $15.00", True), ("15.00", "115.00", False), ("15.00", "15.001", False),
    ("15", "15.5", False), ("15", "1.15", False), ("15", "15%", True), ("milk", "Milk (2)", True),
    ("milk", "milkshake", False), ("-1", "count: -1", True), ("#ff8000", "Hex #FF8000", True),
])
def test_text_pattern_matches_whole_words_and_numbers(text: str, shown: str, found: bool) -> None:
    assert bool(text_pattern(text).search(shown)) is found


def form() -> dict:
    return node("Window", {"title": "Body mass"},
                node("Text", {}, "Weight (kg)"),
                node("TextInput", {"value": "", "onChange": h(1)}),
                node("Text", {}, "Height (cm)"),
                node("TextInput", {"value": "170", "onChange": h(2)}),
                node("Row", {},
                     node("TextInput", {"value": "", "placeholder": "Your name", "onChange": h(3)}),
                     node("Text", {}, "years")),
                node("Button", {"onClick": h(4)}, "Calculate"),
                node("Button", {"onClick": h(5), "disabled": True}, "Reset"),
                node("List", {},
                     node("Row", {}, node("Text", {}, "milk"), node("Button", {"onClick": h(6)}, "x")),
                     node("Row", {}, node("Text", {}, "eggs"), node("Button", {"onClick": h(7)}, "x"))))


def test_near_prefers_the_widget_that_names_it_over_its_row_neighbours() -> None:
    renderer = Renderer()
    renderer.render(node("Window", {"title": "Score"},
                         node("Text", {}, "Home 0 : 0 Away"),
                         node("Row", {}, node("Button", {"onClick": h(1)}, "Home +1"),
                              node("Button", {"onClick": h(2)}, "Away +1"))))
    screen = Screen(renderer)
    home, away = screen.widgets(("Button",))
    assert screen.find("+", ("Button",), near="away") is away
    assert screen.find("+", ("Button",), near="home") is home


def test_fields_are_found_by_the_label_before_them_their_row_or_placeholder() -> None:
    renderer = Renderer()
    renderer.render(form())
    screen = Screen(renderer)
    inputs = screen.widgets(("TextInput",))
    assert screen.find("weight", ("TextInput",)) is inputs[0]
    assert screen.find("height|cm", ("TextInput",)) is inputs[1]
    assert screen.find("name", ("TextInput",)) is inputs[2]
    assert screen.find("years", ("TextInput",)) is inputs[2]
    rows = [n for n in screen.widgets(("Button",)) if n.text == "x"]
    assert screen.find("x|delete", ("Button",), near="eggs") is rows[1]
    with pytest.raises(LookupError, match=r"no Button named 'roll'; on screen: Button\('Calculate'\)"):
        screen.find("roll", ("Button",))
    with pytest.raises(LookupError):
        screen.find("weight", ("Slider",), only_fallback=True)  # no slider at all: no fallback


def test_screen_text_is_what_is_painted_without_placeholders() -> None:
    renderer = Renderer()
    renderer.render(form())
    texts = Screen(renderer).texts()
    assert texts[:4] == ["Body mass", "Weight (kg)", "Height (cm)", "170"]
    assert "Your name" not in texts and {"milk", "eggs", "Calculate", "Reset"} <= set(texts)
    assert "Body mass" not in Screen(renderer).texts(title=False)


# -- real apps in real app hosts -----------------------------------------------------------------
@pytest.fixture(scope="module")
def wasm_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("quickjs")


Scenario = Callable[[HeadlessKernel], Awaitable[None]]


def run(wasm_cache: Path, scenario: Scenario, limits: GuestLimits | None = None) -> None:
    async def main() -> None:
        async with HeadlessKernel(wasm_cache=wasm_cache, limits=limits) as kernel:
            await scenario(kernel)
    asyncio.run(asyncio.wait_for(main(), 120))


async def starter(kernel: HeadlessKernel, name: str) -> HeadlessApp:
    return await kernel.launch(STARTER[name].code, STARTER[name].capabilities, app_id=name)


def test_todo_add_check_delete_and_it_is_still_there_after_a_relaunch(wasm_cache: Path) -> None:
    async def scenario(kernel: HeadlessKernel) -> None:
        app = await starter(kernel, "todo")
        driver = app.driver
        assert driver.screen_text() == ["Todo List", "Add", "0 left"]
        await driver.type("what needs doing", "milk")
        assert driver.has_text("milk") and not driver.has_text("milk", typed=False)  # only typed so far
        await driver.press("add")
        await driver.type("", "eggs", enter=True)  # the only field; Enter submits
        shown = driver.screen_text(title=False, typed=False)
        assert shown == ["Add", "milk", "Delete", "eggs", "Delete", "2 left"]
        await driver.check("milk")
        assert [n.props["checked"] for n in driver.screen().widgets(("Checkbox",))] == [True, False]
        await driver.press("delete", near="eggs")
        assert not driver.has_text("eggs") and driver.has_text("0 left")
        app = await kernel.relaunch(app)
        assert app.driver.has_text("milk") and app.driver.has_text("0 left")
        with pytest.raises(NotOnScreen, match="no Button named 'share'"):
            await app.driver.press("share")
    run(wasm_cache, scenario)


def test_wait_advances_the_app_clock_and_counts_pictures(wasm_cache: Path) -> None:
    async def scenario(kernel: HeadlessKernel) -> None:
        app = await starter(kernel, "stopwatch")
        driver = app.driver
        with pytest.raises(NotOnScreen, match="disabled buttons: 'Lap'"):
            await driver.press("lap")
        await driver.press("start")
        pictures = await driver.wait(5000)
        assert pictures == 50  # one per tenth of a second: the test clock moves only when told
        await driver.press("lap")
        assert driver.screen_text(title=False).count("0:05.0") == 2  # the running time and the lap row
        assert await driver.wait_for("0:07.0", 3000)
        assert not await driver.wait_for("9:00.0", 500)
    run(wasm_cache, scenario)


def test_slider_set_by_pointer_and_repeated_presses(wasm_cache: Path) -> None:
    async def scenario(kernel: HeadlessKernel) -> None:
        app = await starter(kernel, "dice")
        driver = app.driver
        await driver.set_value("dice", 4)
        assert driver.has_text("Dice: 4") and driver.has_text("Roll 4d6")
        seen: list[str] = []
        await driver.press("roll", times=8, after_each=lambda: seen.append(driver.screen_text()[-1]))
        assert len(seen) == 8 and all(t.startswith("Total ") for t in seen)
        assert all(4 <= int(t.split()[1]) <= 24 for t in seen)
    run(wasm_cache, scenario)


HANG = """import { ui } from '@llm-os/sdk';
export default function App() {
  return ui.Window({ title: 'Hang' }, [ui.Button({ onClick: () => { while (true) {} } }, 'Spin')]);
}
"""

LATE = """import { ui, timer } from '@llm-os/sdk';
export default function App() {
  const [done, setDone] = ui.useState(false);
  timer.useTimeout(() => setDone(true), 300);
  return ui.Window({ title: 'Late' }, [ui.Text(done ? 'done' : 'waiting'),
    ui.Slider({ value: 1, min: done ? 5 : 0, max: 2, onChange: () => {} })]);
}
"""


def test_a_hanging_handler_stops_the_app_and_the_driver_says_why(wasm_cache: Path) -> None:
    async def scenario(kernel: HeadlessKernel) -> None:
        app = await kernel.launch(HANG, ["ui:window"], app_id="hang")
        with pytest.raises(AppStopped, match="deadline"):
            await app.driver.press("spin")
        with pytest.raises(AppStopped):
            await app.driver.wait(100)
    run(wasm_cache, scenario, GuestLimits(deadline_s=0.2))


def test_real_clock_waits_for_pushed_trees_and_a_bad_tree_keeps_the_last_picture(wasm_cache: Path) -> None:
    async def scenario(kernel: HeadlessKernel) -> None:
        app = await kernel.launch(LATE, ["ui:window", "timer"], app_id="late", test_clock=False)
        driver = app.driver
        assert driver.has_text("waiting")
        # the 'done' tree is malformed (slider min above max): the window keeps showing 'waiting'
        assert not await driver.wait_for("done", 1500)
        assert driver.has_text("waiting")
        assert any("malformed UI tree" in e and "props.max" in e for e in driver.errors)
    run(wasm_cache, scenario)


def test_an_app_that_does_not_load_is_a_launch_error(wasm_cache: Path) -> None:
    async def scenario(kernel: HeadlessKernel) -> None:
        with pytest.raises(LaunchError, match="load"):
            await kernel.launch("export default function App( {", ["ui:window"], app_id="broken")
    run(wasm_cache, scenario)


PAINT = """import { ui } from '@llm-os/sdk';
export default function App() {
  const [dots, setDots] = ui.useState<number[]>([]);
  const cmds: any[] = [['clear', '#ffffff']];
  for (const x of dots) cmds.push(['fillRect', x, 10, 8, 8, '#000000']);
  return ui.Window({ title: 'Dots' }, [
    ui.Canvas({ width: 120, height: 40, commands: cmds }),
    ui.Button({ onClick: () => setDots([...dots, 20 + dots.length * 20]) }, 'Dot'),
  ]);
}
"""


def test_snapshots_show_what_the_canvas_painted(wasm_cache: Path) -> None:
    async def scenario(kernel: HeadlessKernel) -> None:
        app = await kernel.launch(PAINT, ["ui:window"], app_id="dots")
        driver = app.driver
        canvas = driver.canvas()
        before = driver.snapshot(canvas)
        assert (before.w, before.h) == (120, 40)
        await driver.press("dot")
        after = driver.snapshot(driver.canvas())
        assert after.differs_near(before, 24, 14) and not after.differs_near(before, 80, 30)
        await driver.click_canvas(60, 20)  # a Canvas without onPointer takes no clicks: nothing changes
        assert not driver.snapshot(driver.canvas()).differs_near(after, 60, 20)
    run(wasm_cache, scenario)


SKETCH = """import { ui } from '@llm-os/sdk';
export default function App() {
  const [lines, setLines] = ui.useState<number[][]>([]);
  const [last, setLast] = ui.useState<number[] | null>(null);
  const onPointer = (e: any) => {
    if (e.type !== 'down' && last !== null) setLines([...lines, [last[0], last[1], e.x, e.y]]);
    setLast(e.type === 'up' ? null : [e.x, e.y]);
  };
  const cmds: any[] = [['clear', '#ffffff']];
  for (const l of lines) cmds.push(['line', l[0], l[1], l[2], l[3], '#000000', 3]);
  return ui.Window({ title: 'Sketch' }, [
    ui.Canvas({ width: 200, height: 100, commands: cmds, onPointer }),
    ui.Text(`${lines.length} strokes`),
  ]);
}
"""


def test_drag_on_a_canvas_paints_along_the_path(wasm_cache: Path) -> None:
    async def scenario(kernel: HeadlessKernel) -> None:
        app = await kernel.launch(SKETCH, ["ui:window"], app_id="sketch")
        driver = app.driver
        before = driver.snapshot(driver.canvas())
        await driver.drag([(20, 50), (180, 50)])
        assert driver.has_text("41 strokes")  # a motion every 4 px (as a pointer reports them), the release
        after = driver.snapshot(driver.canvas())
        assert all(after.differs_near(before, x, 50, radius=1) for x in range(25, 180, 10))
        assert not after.differs_near(before, 100, 90)
    run(wasm_cache, scenario)
