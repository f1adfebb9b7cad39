"""One user through the whole loop, in the booted image, driven only by QMP keystrokes:
type a prompt in the shell, take the cached starter app, see the approval dialog, approve, use the app,
reboot, and find the app and its stored state still there. Each key is pressed once what it acts on is on
the screen (a screendump shows it), as a person would; every wait is scaled to this machine's speed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import cairocffi as cairo
from waiting import wait_for as wait_until

from llmos.host.vm import VirtualMachine

from .guest import ipc
from .pace import scaled

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


def app_window(machine: VirtualMachine, title: str) -> Callable[[], dict | None]:
    """The app's window once it is mapped; a flow that failed instead ends the wait with its reason."""
    def check() -> dict | None:
        found = window(machine, title)
        if found is None:
            flow = shell(machine)["flow"]
            assert not (flow and flow["stage"] == "failed"), f"the flow failed: {flow['reason']}"
        return found
    return check


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


def accent_share(pixels: bytes) -> float:
    """Share of BGRA pixels in the shell's accent blue (#2f6fed, its buttons' fill)."""
    quads = [pixels[i:i + 3] for i in range(0, len(pixels), 4)]
    return sum(1 for b, g, r in quads if b > 180 and r < 90 and 70 < g < 140) / max(1, len(quads))


def dialog_on_screen(machine: VirtualMachine, shot: Path, panel: str,
                     button: str) -> Callable[[], dict | None]:
    """The shell state once `panel` is on the screen: a light card where the shell placed it with its
    `button` drawn (a dialog before it, also a light card, has no such button there), and the desktop
    around it dimmed by the modal backdrop."""
    def check() -> dict | None:
        state = shell(machine)
        rect = (state["widgets"].get("panel") or {}).get(button) if state["panel"] == panel else None
        if rect is None:
            return None
        image = machine.screendump(shot)
        drawn = accent_share(region(image, dict(zip(("x", "y", "width", "height"), rect, strict=True))))
        card = brightness(region(image, state["panel_rect"]))
        corner = brightness(region(image, {"x": 0, "y": 0, "width": 40, "height": 40}))
        return state if drawn > 0.4 and card > 150 > corner else None
    return check


def stored_minutes(machine: VirtualMachine) -> list[str]:
    stores = json.loads(machine.run(["python3", "-c", STORAGE_QUERY]).stdout)
    return [kv["minutes"] for kv in stores.values() if "minutes" in kv]


def press(machine: VirtualMachine, *keys: str) -> None:
    machine.send_keys(*keys)


def test_prompt_approve_run_and_persist(boot: Callable[..., VirtualMachine], tmp_path: Path) -> None:
    machine = boot(disk_size="4G")
    # A fresh disk is a first boot: the welcome screen comes once the kernel has answered the shell.
    wait_until(dialog_on_screen(machine, tmp_path / "welcome.png", "welcome", "start"), scaled(180),
               "the welcome screen")
    press(machine, "ret")
    wait_until(panel_is(machine, "launcher"), scaled(60), "the launcher after the welcome screen")

    machine.type_text("pomodoro timer", delay=scaled(0.08))
    wait_until(lambda: shell(machine)["prompt"] == "pomodoro timer", scaled(60),
               "the typed prompt, no key lost")
    press(machine, "ret")
    state = wait_until(panel_is(machine, "flow:offered", "flow:approval"), scaled(120),
                       "the offer or the approval")
    if state["panel"] == "flow:offered":
        wait_until(dialog_on_screen(machine, tmp_path / "offer.png", "flow:offered", "use"), scaled(60),
                   "the offer on the screen")
        press(machine, "ret")  # use the cached starter app

    # Enter only once the dialog is on the screen, as a person would see it.
    state = wait_until(dialog_on_screen(machine, tmp_path / "approval.png", "flow:approval", "approve"),
                       scaled(120), "the approval dialog on the screen")
    asks = {ask["scope"] for ask in state["flow"]["asks"]}
    assert {"ui:window", "storage:local", "timer"} <= asks, asks

    press(machine, "ret")  # approve every capability asked for
    app = wait_until(app_window(machine, "Pomodoro Timer"), scaled(120), "the app's window")
    assert app["width"] > 100 and app["height"] > 100, app

    # Use the app with the keyboard: Tab to the button, Tab to the slider, one step right (25 -> 26 minutes,
    # kept by storage.useLocal), back to the button and press it (Start -> Pause).
    press(machine, "tab")
    press(machine, "tab")
    press(machine, "right")
    wait_until(lambda: "26" in stored_minutes(machine), scaled(60), "the slider's value in the app's storage")
    press(machine, "shift", "tab")
    before = region(machine.screendump(tmp_path / "before.png"), app)
    press(machine, "spc")

    def changed() -> bool:
        return region(machine.screendump(tmp_path / "after.png"), app) != before

    wait_until(changed, scaled(30), "the app to redraw after its button was pressed")

    # Reboot: the app is still in the registry and its stored state is still there.
    machine.powerdown()
    assert machine.wait_exit(scaled(120)) == 0
    again = boot(overlay=machine.overlay)
    assert "26" in stored_minutes(again)
    listed = ipc(again, "kernel", "apps.list")
    assert any(entry["title"] == "Pomodoro Timer" for entry in listed), listed
