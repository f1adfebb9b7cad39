"""One user through the whole loop, in the booted image, driven only by QMP keystrokes:
type a prompt in the shell, take the cached starter app, see the approval dialog, approve, use the app,
reboot, and find the app and its stored state still there."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import cairocffi as cairo
from waiting import wait_for as wait_until

from llmos.host.vm import VirtualMachine

from .guest import ipc

STORAGE_QUERY = ("import glob, json, sqlite3; print(json.dumps({p: dict(sqlite3.connect(p).execute("
                 "'SELECT key, value FROM kv')) "
                 "for p in glob.glob('/var/lib/llmos/apps/*/storage.sqlite')}))")


def shell(machine: VirtualMachine) -> dict:
    return ipc(machine, "compositor", "shell")


def panel_is(machine: VirtualMachine, *panels: str) -> Callable[[], dict | None]:
    def check() -> dict | None:
        state = shell(machine)
        return state if state["connected"] and state["panel"] in panels else None
    return check


def window(machine: VirtualMachine, title: str) -> dict | None:
    return next((w for w in ipc(machine, "compositor", "windows") if w.get("title") == title), None)


def region(png: Path, rect: dict) -> bytes:
    """The BGRA bytes of a rectangle (x, y, w|width, h|height) of a screendump."""
    surface = cairo.ImageSurface.create_from_png(str(png))
    data, stride = bytes(surface.get_data()), surface.get_stride()
    x, y = int(rect["x"]), int(rect["y"])
    w, h = int(rect.get("w", rect.get("width"))), int(rect.get("h", rect.get("height")))
    return b"".join(data[row * stride + 4 * x:row * stride + 4 * (x + w)] for row in range(y, y + h))


def brightness(pixels: bytes) -> float:
    channels = [value for index, value in enumerate(pixels) if index % 4 != 3]  # drop alpha
    return sum(channels) / len(channels)


def stored_minutes(machine: VirtualMachine) -> list[str]:
    stores = json.loads(machine.run(["python3", "-c", STORAGE_QUERY]).stdout)
    return [kv["minutes"] for kv in stores.values() if "minutes" in kv]


def press(machine: VirtualMachine, *keys: str) -> None:
    machine.send_keys(*keys)


def test_prompt_approve_run_and_persist(boot: Callable[..., VirtualMachine], tmp_path: Path) -> None:
    machine = boot(disk_size="4G")
    state = wait_until(panel_is(machine, "welcome", "launcher"), 180, "the shell's welcome or launcher")
    if state["panel"] == "welcome":
        press(machine, "ret")
        wait_until(panel_is(machine, "launcher"), 60, "the launcher after the welcome screen")

    machine.type_text("pomodoro timer")
    wait_until(lambda: shell(machine)["prompt"] == "pomodoro timer", 60, "the typed prompt, no key lost")
    press(machine, "ret")
    state = wait_until(panel_is(machine, "flow:offered", "flow:approval"), 120, "the offer or the approval")
    if state["panel"] == "flow:offered":
        press(machine, "ret")  # use the cached starter app
        state = wait_until(panel_is(machine, "flow:approval"), 120, "the approval dialog")
    asks = {ask["scope"] for ask in state["flow"]["asks"]}
    assert {"ui:window", "storage:local", "timer"} <= asks, asks

    # The dialog is on screen: a light card in the middle, the desktop around it dimmed by the backdrop.
    shot = machine.screendump(tmp_path / "approval.png")
    card = region(shot, state["panel_rect"])
    corner = region(shot, {"x": 0, "y": 0, "width": 40, "height": 40})
    assert brightness(card) > 150 > brightness(corner), (brightness(card), brightness(corner))

    press(machine, "ret")  # approve every capability asked for
    app = wait_until(lambda: window(machine, "Pomodoro Timer"), 120, "the app's window")
    assert app["width"] > 100 and app["height"] > 100, app

    # Use the app with the keyboard: Tab to the button, Tab to the slider, one step right (25 -> 26 minutes,
    # kept by storage.useLocal), back to the button and press it (Start -> Pause).
    press(machine, "tab")
    press(machine, "tab")
    press(machine, "right")
    wait_until(lambda: "26" in stored_minutes(machine), 60, "the slider's value in the app's storage")
    press(machine, "shift", "tab")
    before = region(machine.screendump(tmp_path / "before.png"), app)
    press(machine, "spc")

    def changed() -> bool:
        return region(machine.screendump(tmp_path / "after.png"), app) != before

    wait_until(changed, 30, "the app to redraw after its button was pressed")

    # Reboot: the app is still in the registry and its stored state is still there.
    machine.powerdown()
    assert machine.wait_exit(120) == 0
    again = boot(overlay=machine.overlay)
    assert "26" in stored_minutes(again)
    listed = ipc(again, "kernel", "apps.list")
    assert any(entry["title"] == "Pomodoro Timer" for entry in listed), listed
