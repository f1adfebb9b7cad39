"""Typing fast into a controlled TextInput in the booted image (issue 16, item 9, "in the VM").

The host test (tests/sdk/wayland/test_typing.py) drives a headless compositor on the host; this one types
into the real image under QEMU, where the app host runs on an emulated CPU and keys come from QEMU's
keyboard through evdev, the compositor, wl_keyboard, the app's window, the renderer's TextInput and QuickJS
onChange -> useState -> re-render. The app is written as a capable model writes one: `useState` and
`ui.TextInput({ value, onChange })`, with its state shown as a Text. It is saved in the guest's registry and
started through the kernel's apps.run, on the session's shared VM.

Checked: every one of ~20 keys pressed over QMP at 30 keys a second reaches the app's state (the app's own
rendered tree, read from its app host's control socket), and the field holds exactly that value.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import cairocffi as cairo
from waiting import wait_for as wait_until

from llmos.host.vm import VirtualMachine

from .guest import app_tree, ipc, save_app
from .pace import scaled

TITLE = "Typing Check"
SOURCE = """
import { ui, useState } from '@llm-os/sdk';

export default function App() {
  const [text, setText] = useState('');
  return ui.Window({ title: 'Typing Check' }, [
    ui.TextInput({ value: text, placeholder: 'Type here', onChange: (v: string) => setText(v) }),
    ui.Text({}, `chars: ${text.length}|${text}`),
  ]);
}
"""
TEXT = "the quick brown fox 42"  # 22 keys, each one press and release (no shift)
KEYS_PER_SECOND = 30.0
SLOWEST_SENT = 27.0  # keys a second QMP must at least have carried for the run to count as 30 keys/s


def nodes(tree: Any) -> list[dict[str, Any]]:
    found, stack = [], [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            found.append(node)
            stack.extend(node.get("children", []))
    return found


def shown(machine: VirtualMachine, pid: int) -> tuple[str | None, str | None]:
    """(the TextInput's value, the app's `chars: N|<state>` Text) in the app's current tree."""
    answer = app_tree(machine, pid, timeout=scaled(30))
    field = label = None
    for node in nodes((answer or {}).get("tree")):
        if node.get("type") == "TextInput":
            field = str(node.get("props", {}).get("value", ""))
        for child in node.get("children", []):
            if node.get("type") == "Text" and isinstance(child, str) and child.startswith("chars: "):
                label = child
    return field, label


def accent_pixels(png: Path, rect: dict[str, Any]) -> int:
    """Pixels of the theme's accent blue (#2f6fed) in the window: a focused TextInput's 2 px border; this
    app has no other accent (no button, no slider, and the title bar is grey)."""
    surface = cairo.ImageSurface.create_from_png(str(png))
    data, stride = bytes(surface.get_data()), surface.get_stride()
    x, y, w, h = int(rect["x"]), int(rect["y"]), int(rect["width"]), int(rect["height"])
    count = 0
    for row in range(max(0, y), min(surface.get_height(), y + h)):
        line = data[row * stride + 4 * max(0, x):row * stride + 4 * min(surface.get_width(), x + w)]
        count += sum(1 for i in range(0, len(line), 4)
                     if line[i] > 180 and line[i + 2] < 90 and 70 < line[i + 1] < 140)  # BGRA
    return count


def panel_closed(machine: VirtualMachine, pressed: list[str | None]) -> bool:
    """True once no shell panel has the keyboard. A panel still open (the first boot's welcome, the
    launcher) gets one Escape per panel seen, as a person would close it: welcome -> launcher -> none."""
    panel = ipc(machine, "compositor", "shell")["panel"]
    if panel is None:
        return True
    if not pressed or pressed[-1] != panel:
        pressed.append(panel)
        machine.send_keys("esc")
    return False


def type_paced(machine: VirtualMachine, text: str, keys_per_second: float) -> float:
    """Press and release each key on schedule, `keys_per_second` (QEMU holds each key 20 ms, its release
    queued behind its press); returns the rate QMP actually carried them at. The schedule is the typist's
    speed, not a wait for anything."""
    period = 1.0 / keys_per_second
    start = time.monotonic()
    for index, char in enumerate(text):
        machine.send_keys(*{" ": ("spc",)}.get(char, (char,)), hold_ms=20)
        time.sleep(max(0.0, start + (index + 1) * period - time.monotonic()))
    return len(text) / (time.monotonic() - start)


def test_keys_typed_at_30_a_second_all_reach_the_app_state(machine: VirtualMachine, tmp_path: Path) -> None:
    digest = save_app(machine, "a field that counts what is typed", SOURCE, ["ui:window"], timeout=scaled(60))
    started = ipc(machine, "kernel", "apps.run", ref=digest, granted=["ui:window"], call_timeout=scaled(60))
    try:
        window = wait_until(lambda: next((w for w in ipc(machine, "compositor", "windows")
                                          if w.get("title") == TITLE and w["width"] > 0), None),
                            scaled(90), "the app's window")
        assert shown(machine, started["pid"]) == ("", "chars: 0|"), "the app did not start empty"

        # The keyboard to the app: no shell panel open, the app's window focused, Tab to its field (the
        # field's accent border on the screen says it has the focus).
        pressed: list[str | None] = []
        wait_until(lambda: panel_closed(machine, pressed), scaled(60), "the shell's panels to close")
        if not window["focused"]:
            ipc(machine, "compositor", "focus", id=window["id"])
        wait_until(lambda: next((w for w in ipc(machine, "compositor", "windows")
                                 if w["id"] == window["id"] and w["focused"]), None),
                   scaled(30), "the app's window to have the focus")
        machine.send_keys("tab")
        wait_until(lambda: accent_pixels(machine.screendump(tmp_path / "focus.png"), window) > 100,
                   scaled(30), "the field's focus border on the screen after Tab")

        rate = type_paced(machine, TEXT, KEYS_PER_SECOND)
        assert rate >= SLOWEST_SENT, f"QMP carried the keys at {rate:.1f} keys/s, not {KEYS_PER_SECOND:g}"

        # Every key in the app's state and in its field: (field value, the app's `chars: N|<state>`).
        expected = (TEXT, f"chars: {len(TEXT)}|{TEXT}")
        seen: list[tuple[str | None, str | None]] = []

        def all_keys() -> bool:
            seen.append(shown(machine, started["pid"]))
            return seen[-1] == expected

        wait_until(all_keys, scaled(60), lambda: f"all {len(TEXT)} keys typed in the app's state, "
                   f"{expected}; the app shows {seen[-1] if seen else None}")
    finally:
        ipc(machine, "kernel", "apps.stop", app_id=started["app_id"])
