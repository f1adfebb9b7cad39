"""Drive a running app as a person would, by what is on its screen.

    driver = await AppDriver.connect(control_socket, test_clock=True)
    await driver.type("bill", "84")
    await driver.press("calculate")
    assert driver.has_text("12.60")

The driver is the app's window without Wayland. It subscribes to the app host's control socket,
paints every UI tree the app sends with the real Renderer (the layout, hit-testing and interaction code
an app window runs), sends real pointer and key events into that renderer, and forwards the events
the renderer emits to the app one at a time, adopting the app's answer before the next input: a
person who looks at the effect of each key. Widgets are found by their words (llmos.sdk.render.screen)
and clicked at their centre, where hit-testing must agree that the click lands on them.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmos import ipc
from llmos.sdk.render import keys
from llmos.sdk.render.paint import slider_track
from llmos.sdk.render.renderer import Renderer
from llmos.sdk.render.screen import Screen
from llmos.sdk.render.tree import MalformedTree, Node

KEYS = {"enter": keys.RETURN, "return": keys.RETURN, "tab": keys.TAB, "escape": keys.ESCAPE,
        "backspace": keys.BACKSPACE, "delete": keys.DELETE, "left": keys.LEFT, "right": keys.RIGHT,
        "up": keys.UP, "down": keys.DOWN, "home": keys.HOME, "end": keys.END, "pageup": keys.PAGE_UP,
        "pagedown": keys.PAGE_DOWN, "space": keys.SPACE}
MAX_ERRORS = 50


class DriverError(Exception):
    """A step cannot be done as asked; the message says what is on screen instead."""


class NotOnScreen(DriverError):
    """No widget on screen answers to the words a step used."""


class AppStopped(DriverError):
    """The app stopped (crashed, overran a limit, stopped answering); the message is its reason."""


def text_pattern(text: str, case: bool = False) -> re.Pattern[str]:
    """`text` as a whole word or number: "15.00" is found in "$15.00" but not in "115.00" or "15.001",
    "milk" in "Milk (2)" but not in "milkshake"."""
    body = re.escape(text)
    if text[:1].isalnum() or text[:1] == "_":
        body = r"(?<![\w])(?<!\d[.,])" + body
    if text[-1:].isalnum() or text[-1:] == "_":
        body += r"(?![\w])(?![.,]\d)"
    return re.compile(body, 0 if case else re.IGNORECASE)


def keysym_for(char: str) -> int:
    """The xkb keysym a keyboard sends for a printable character (Unicode ones are 0x01000000 + code)."""
    code = ord(char)
    return code if 0x20 <= code <= 0x7E or 0xA0 <= code <= 0xFF else 0x01000000 + code


@dataclass(frozen=True)
class Snapshot:
    """Painted pixels of one widget box (ARGB32 rows), to compare before and after an action."""

    x: int
    y: int
    w: int
    h: int
    data: bytes

    def pixel(self, x: int, y: int) -> bytes:
        offset = (y * self.w + x) * 4
        return self.data[offset:offset + 4]

    def differs_near(self, other: Snapshot, x: float, y: float, radius: int = 3) -> bool:
        """Whether any pixel within `radius` of the region-local point differs between the two."""
        cx, cy = round(x), round(y)
        for py in range(max(0, cy - radius), min(self.h, cy + radius + 1)):
            for px in range(max(0, cx - radius), min(self.w, cx + radius + 1)):
                if self.pixel(px, py) != other.pixel(px, py):
                    return True
        return False


class AppDriver:
    CALL_TIMEOUT = 10.0  # one control-socket round trip; the host's own watchdog is about this long

    def __init__(self, client: ipc.Client, *, test_clock: bool = False, step_ms: float = 100.0) -> None:
        self.client = client
        self.test_clock = test_clock
        self.step_ms = step_ms
        self.renderer = Renderer(on_event=self._emitted)
        self.generation = 0
        self.stopped: dict[str, Any] | None = None
        self.errors: list[str] = []   # handler exceptions the host reported, malformed trees
        self.typed: dict[str, str] = {}  # field key -> the text typed into it
        self._outbox: list[tuple[int, list[Any]]] = []
        self._stopping = False  # an answer said so; the reason comes in the 'stopped' push

    @classmethod
    async def connect(cls, control: Path, *, test_clock: bool = False, timeout: float = 5.0,
                      step_ms: float = 100.0) -> AppDriver:
        """Attach to a running app host. With test_clock (the host was started with --test-clock),
        wait() advances the app's clock instead of sleeping."""
        client = await ipc.Client.connect(control, timeout)
        driver = cls(client, test_clock=test_clock, step_ms=step_ms)
        try:
            await driver._call("subscribe", events=["tree", "stopped", "error"])
            await driver.refresh()
        except BaseException:
            await client.close()
            raise
        return driver

    async def close(self) -> None:
        await self.client.close()

    # -- the app's side ----------------------------------------------------------------------------
    def _emitted(self, handler: int, args: list[Any]) -> None:
        self._outbox.append((handler, list(args)))

    def _handle(self, name: str, data: Any) -> None:
        if name == "tree" and isinstance(data, dict):
            self._adopt(data)
        elif name == "stopped":
            self.stopped = data if isinstance(data, dict) else {"kind": "stopped", "message": str(data)}
        elif name == "error" and isinstance(data, dict):
            self._note(f"{data.get('kind')}: {data.get('message')}")

    def _note(self, error: str) -> None:
        self.errors.append(error)
        del self.errors[:-MAX_ERRORS]

    def _adopt(self, answer: dict[str, Any]) -> None:
        generation, tree = answer.get("generation"), answer.get("tree")
        self._stopping = self._stopping or answer.get("state") == "stopped"
        if not isinstance(generation, int) or generation <= self.generation or tree is None:
            return
        self.generation = generation
        try:
            self.renderer.render(tree)
        except MalformedTree as error:  # the window keeps its last picture, as a real one does
            self._note(f"malformed UI tree: {error}")

    def _drain(self) -> None:
        while True:
            try:
                name, data = self.client.events.get_nowait()
            except asyncio.QueueEmpty:
                return
            self._handle(name, data)

    def _stop_message(self, fallback: str) -> str:
        if self.stopped is None:
            return fallback
        return f"the app stopped: {self.stopped.get('kind')}: {self.stopped.get('message')}"

    def _check_running(self) -> None:
        self._drain()
        if self.stopped is not None:
            raise AppStopped(self._stop_message(""))

    async def _call(self, method: str, **params: Any) -> Any:
        self._check_running()
        try:
            answer = await self.client.call(method, timeout=self.CALL_TIMEOUT, **params)
        except (ConnectionError, TimeoutError, OSError) as error:
            self._drain()
            raise AppStopped(self._stop_message(
                f"the app host did not answer {method!r} ({type(error).__name__})")) from None
        except ipc.RpcError as error:
            raise DriverError(f"{method}: {error.message}") from None
        if isinstance(answer, dict) and "tree" in answer:
            self._adopt(answer)
        if self._stopping:
            await self._await_stop_reason()
        self._check_running()
        return answer

    async def _await_stop_reason(self, timeout: float = 2.0) -> None:
        """The host answered that the app stopped; its 'stopped' push says why."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.stopped is None and (remaining := deadline - loop.time()) > 0:
            try:
                self._handle(*await asyncio.wait_for(self.client.events.get(), remaining))
            except TimeoutError:
                break
        if self.stopped is None:
            self.stopped = {"kind": "stopped", "message": "the app stopped (no reason given)"}

    async def refresh(self) -> None:
        """Fetch the app's current tree (pushed trees are adopted on every call anyway)."""
        await self._call("tree")
        self.renderer.render()

    async def _flush(self) -> None:
        """Send what the renderer emitted, each answer adopted before the next event."""
        while self._outbox:
            handler, args = self._outbox.pop(0)
            await self._call("event", handler=handler, args=args)
        self.renderer.render()

    # -- reading the screen ------------------------------------------------------------------------
    def screen(self) -> Screen:
        self._drain()
        return Screen(self.renderer, self.typed)

    def screen_text(self, *, title: bool = True, typed: bool = True) -> list[str]:
        """Every painted text run in reading order (placeholders left out; see Screen.runs)."""
        return self.screen().texts(title=title, typed=typed)

    def has_text(self, pattern: str | re.Pattern[str], *, title: bool = True, typed: bool = True) -> bool:
        """A plain string matches as a whole word or number, case-insensitively; a compiled pattern
        is searched as it is. Each painted run is searched on its own."""
        compiled = text_pattern(pattern) if isinstance(pattern, str) else pattern
        return any(compiled.search(text) for text in self.screen_text(title=title, typed=typed))

    def find(self, ref: str, kinds: Iterable[str], **kw: Any) -> Node:
        try:
            return self.screen().find(ref, kinds, **kw)
        except LookupError as error:
            raise NotOnScreen(str(error)) from None

    def canvas(self, ref: str = "") -> Node:
        """The Canvas named by `ref` (its text or the text around it), or the only/first one."""
        screen = self.screen()
        canvases = screen.widgets(("Canvas",))
        if not canvases:
            raise NotOnScreen("no Canvas on screen")
        if ref:
            try:
                return screen.find(ref, ("Canvas",))
            except LookupError:
                pass
        return canvases[0]

    def snapshot(self, node: Node) -> Snapshot:
        """The pixels painted for a widget box right now."""
        self.renderer.render()
        surface = self.renderer.surface()
        width, height = self.renderer.pixel_size()
        scale = self.renderer.scale
        x0, y0 = max(0, math.floor(node.x * scale)), max(0, math.floor(node.y * scale))
        x1 = min(width, math.ceil((node.x + node.w) * scale))
        y1 = min(height, math.ceil((node.y + node.h) * scale))
        stride, data = surface.get_stride(), bytes(self.renderer.pixels())
        rows = b"".join(data[y * stride + x0 * 4:y * stride + x1 * 4] for y in range(y0, y1))
        return Snapshot(x0, y0, max(0, x1 - x0), max(0, y1 - y0), rows)

    # -- pointer -----------------------------------------------------------------------------------
    def _point_of(self, node: Node) -> tuple[float, float]:
        """Where a node's centre shows now: rows inside Lists move up by the lists' scroll."""
        shift = sum(self.renderer.interaction.state.scroll.get(a.key, 0.0)
                    for a in self.screen().ancestors(node) if a.type == "List")
        return node.x + node.w / 2, node.y + node.h / 2 - shift

    def _scroll_into_view(self, node: Node) -> None:
        """Wheel the innermost List holding `node` until the node is inside its viewport."""
        screen = self.screen()
        lists = [a for a in screen.ancestors(node) if a.type == "List"]
        if not lists:
            return
        box, state = lists[0], self.renderer.interaction.state
        for _ in range(64):
            _, cy = self._point_of(node)
            top = cy - node.h / 2
            if box.y <= top and top + node.h <= box.y + box.h:
                return
            self.renderer.pointer_motion(box.x + box.w / 2, box.y + box.h / 2)
            before = state.scroll.get(box.key, 0.0)
            self.renderer.axis(0.0, top - box.y - (box.h - node.h) / 2)
            if state.scroll.get(box.key, 0.0) == before:
                return
        self.renderer.render()

    async def _click_node(self, node: Node, x: float | None = None) -> None:
        """Click a widget where a person would (its centre, or `x` on its centre line), after checking
        that hit-testing sends that click to it and not to something covering it."""
        self._scroll_into_view(node)
        cx, cy = self._point_of(node)
        point = (cx if x is None else x, cy)
        target = self.renderer.hit(*point)
        if target is not node and target not in self.screen().ancestors(node):
            what = f"{target.type} {target.text!r}" if target is not None else "nothing"
            raise DriverError(f"a click on {node.type} {node.text!r} at {point} would hit {what}")
        await self.pointer_click(*point)

    async def pointer_click(self, x: float, y: float) -> None:
        """A left click at window coordinates: move, press, release, as wl_pointer delivers them."""
        self._drain()
        self.renderer.pointer_motion(x, y)
        await self._flush()
        self.renderer.pointer_button(keys.BTN_LEFT, True)
        await self._flush()
        self.renderer.pointer_button(keys.BTN_LEFT, False)
        await self._flush()

    async def click_canvas(self, x: float, y: float, *, canvas: str = "") -> None:
        """Click at canvas-local (x, y)."""
        node = self.canvas(canvas)
        await self.pointer_click(node.x + x, node.y + y)

    async def drag(self, points: list[tuple[float, float]], *, canvas: str = "", step: float = 4.0) -> None:
        """Press at the first canvas-local point, move through the others (every `step` px, as a
        real pointer reports motion), release at the last."""
        if not points:
            raise DriverError("drag needs at least one point")
        node = self.canvas(canvas)
        path = [(node.x + px, node.y + py) for px, py in points]
        renderer = self.renderer
        renderer.pointer_motion(*path[0])
        await self._flush()
        renderer.pointer_button(keys.BTN_LEFT, True)
        await self._flush()
        for (x0, y0), (x1, y1) in itertools.pairwise(path):
            count = max(1, math.ceil(math.hypot(x1 - x0, y1 - y0) / step))
            for i in range(1, count + 1):
                renderer.pointer_motion(x0 + (x1 - x0) * i / count, y0 + (y1 - y0) * i / count)
                await self._flush()
        renderer.pointer_button(keys.BTN_LEFT, False)
        await self._flush()

    # -- keyboard ----------------------------------------------------------------------------------
    async def _keystroke(self, keysym: int, text: str = "") -> None:
        self._drain()  # the newest tree first: its handler ids are the ones the app still knows
        self.renderer.key(keysym, True, text)
        await self._flush()
        self.renderer.key(keysym, False)

    async def key(self, name: str) -> None:
        """A named key (Enter, Tab, Escape, Backspace, arrows, Home, End, Space) to the focused widget."""
        keysym = KEYS.get(name.casefold().replace(" ", "").replace("_", ""))
        if keysym is None:
            raise DriverError(f"unknown key {name!r}; known: {', '.join(sorted(KEYS))}")
        await self._keystroke(keysym, " " if keysym == keys.SPACE else "")

    async def type_keys(self, text: str) -> None:
        """Type characters into whatever has focus."""
        for char in text:
            await self._keystroke(keysym_for(char), char)

    # -- what a person does --------------------------------------------------------------------------
    async def type(self, field: str, text: str, *, replace: bool = True, enter: bool = False) -> None:
        """Click the text field `field` names (a lone field needs no name), clear it with Backspace
        unless replace=False, type `text` key by key, and press Enter if asked."""
        node = self.find(field, ("TextInput",), only_fallback=True)
        key = node.key
        await self._click_node(node)
        edit = self.renderer.interaction.state.edits.get(key)
        if edit is None:
            raise DriverError(f"the field {field!r} did not take focus")
        if replace and edit.text:
            await self._keystroke(keys.END)
            for _ in range(len(edit.text)):
                await self._keystroke(keys.BACKSPACE)
        await self.type_keys(text)
        edit = self.renderer.interaction.state.edits.get(key)
        self.typed[key] = edit.text if edit is not None else text
        if enter:
            await self._keystroke(keys.RETURN)

    async def press(self, label: str, *, near: str = "", times: int = 1,
                    after_each: Callable[[], None] | None = None) -> None:
        """Click the enabled button `label` names (or, failing that, a list row), `times` times;
        `near` picks the one whose row mentions that text. `after_each` runs after every click."""
        for _ in range(times):
            node: Node | None
            try:
                node = self.screen().find(label, ("Button",), near=near,
                                          accept=lambda n: not n.props.get("disabled"))
            except LookupError as error:
                node = self._row_or_none(label, near)
                if node is None:
                    disabled = self.screen().widgets(("Button",))
                    named = [n.text for n in disabled if n.props.get("disabled")]
                    hint = f" (disabled buttons: {', '.join(map(repr, named))})" if named else ""
                    raise NotOnScreen(f"{error}{hint}") from None
            await self._click_node(node)
            if after_each is not None:
                after_each()

    def _row_or_none(self, label: str, near: str) -> Node | None:
        screen = self.screen()
        try:
            return screen.find(label, ("_Item", "Text"), near=near,
                               accept=lambda n: any(a.type == "List" for a in screen.ancestors(n)))
        except LookupError:
            return None

    async def select(self, text: str) -> None:
        """Click the List row showing `text`."""
        node = self._row_or_none(text, "")
        if node is None:
            shown = self.screen_text(title=False)[:12]
            raise NotOnScreen(f"no list row showing {text!r}; on screen: {shown}")
        await self._click_node(node)

    async def check(self, label: str, *, near: str = "") -> None:
        """Click the checkbox `label` names (its own label or the text in its row)."""
        await self._click_node(self.find(label, ("Checkbox",), near=near))

    async def set_value(self, label: str, value: float) -> None:
        """Set a slider by pressing its track at the value's position (a text field is typed into)."""
        node = self.find(label, ("Slider", "TextInput"), only_fallback=True)
        if node.type == "TextInput":
            await self.type(label, f"{value:g}")
            return
        low, high = float(node.props.get("min", 0)), float(node.props.get("max", 100))
        if not low <= value <= high:
            raise DriverError(f"slider {label!r} goes from {low:g} to {high:g}; {value:g} is outside")
        x0, x1 = slider_track(node, self.renderer.theme)
        await self._click_node(node, x=x0 + (x1 - x0) * (value - low) / (high - low))

    # -- time ----------------------------------------------------------------------------------------
    async def wait(self, ms: float) -> int:
        """Let `ms` of app time pass; returns how many new pictures the app drew meanwhile. With the
        test clock the host's clock moves in steps of step_ms, each firing what is due (timers run as
        they would in real time, without the wait); otherwise real time passes while the trees the
        host pushes are adopted."""
        start = self.generation
        if self.test_clock:
            left = float(ms)
            while left > 0:
                step = min(self.step_ms, left)
                await self._call("advance", ms=step)
                left -= step
        else:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + ms / 1000
            while (remaining := deadline - loop.time()) > 0:
                try:
                    name, data = await asyncio.wait_for(self.client.events.get(), remaining)
                except TimeoutError:
                    break
                self._handle(name, data)
            self._check_running()
        self.renderer.render()
        return self.generation - start

    async def wait_for(self, condition: str | re.Pattern[str] | Callable[[AppDriver], bool],
                       timeout_ms: float) -> bool:
        """Until the screen shows `condition` (text, pattern, or a predicate on the driver), for at most
        `timeout_ms` of app time; True if it came."""
        def holds() -> bool:
            return condition(self) if callable(condition) else self.has_text(condition)
        if self.test_clock:
            waited = 0.0
            while not holds():
                if waited >= timeout_ms:
                    return False
                await self.wait(min(self.step_ms, timeout_ms - waited))
                waited += self.step_ms
            return True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_ms / 1000
        while not holds():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            try:
                name, data = await asyncio.wait_for(self.client.events.get(), remaining)
            except TimeoutError:
                return holds()
            self._handle(name, data)
            self._check_running()
        return True


__all__ = ["KEYS", "AppDriver", "AppStopped", "DriverError", "NotOnScreen", "Snapshot", "keysym_for",
           "text_pattern"]
