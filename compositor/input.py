"""Input: evdev-like events (from the HAL service or injected over our ipc socket) to the seat.

An event is {"type": EV_*, "code": ..., "value": ...}; absolute axes may carry "min"/"max" (default
0..32767, QEMU's tablet). Motion is accumulated until EV_SYN (or the end of a batch). Reserved OS
shortcuts are taken out here and never reach clients: the launcher (Super tapped alone, or
Ctrl+Space), the switcher (Alt+Tab) and close (Super+Q); they are published as ipc "shortcut" events.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmos.compositor.server import Compositor

EV_SYN, EV_KEY, EV_REL, EV_ABS = 0, 1, 2, 3
REL_X, REL_Y, REL_HWHEEL, REL_WHEEL = 0, 1, 6, 8
ABS_X, ABS_Y, ABS_MT_POSITION_X, ABS_MT_POSITION_Y = 0, 1, 0x35, 0x36
BTN_LEFT, BTN_TASK, BTN_TOUCH = 0x110, 0x117, 0x14A
KEY_LEFTCTRL, KEY_RIGHTCTRL, KEY_LEFTALT, KEY_RIGHTALT = 29, 97, 56, 100
KEY_LEFTMETA, KEY_RIGHTMETA = 125, 126
KEY_TAB, KEY_SPACE, KEY_Q = 15, 57, 16
CTRL, ALT, META = {KEY_LEFTCTRL, KEY_RIGHTCTRL}, {KEY_LEFTALT, KEY_RIGHTALT}, {KEY_LEFTMETA, KEY_RIGHTMETA}
WHEEL_STEP = 15.0  # wl_pointer.axis units per wheel click
HAL_RETRY_MAX_S = 1.0  # the longest wait between attempts to reach hal (a failed connect costs nothing)


def now_ms() -> int:
    return int(time.monotonic() * 1000) & 0xFFFFFFFF


class InputRouter:
    """Turns evdev events into seat and window-manager calls."""

    def __init__(self, server: Compositor, launcher_keys: Iterable[str] = ("super", "ctrl+space")) -> None:
        self.server = server
        self.launcher_keys = set(launcher_keys)
        self.held: set[int] = set()  # every key physically down, consumed or not
        self.consumed: set[int] = set()  # keys whose press was a shortcut: their release is swallowed
        self._super_alone = False
        self._rel = [0.0, 0.0]
        self._abs = {"x": 0.5, "y": 0.5}
        self._abs_moved = False
        self._moved = False
        self.shell_keys: set[int] = set()  # keys whose press the OS shell took: their release is its too

    def handle_batch(self, events: Iterable[dict[str, Any]]) -> int:
        count = 0
        for event in events:
            self.handle(event)
            count += 1
        self._flush_motion()
        return count

    def handle(self, event: dict[str, Any]) -> None:
        kind, code, value = int(event.get("type", -1)), int(event.get("code", 0)), int(event.get("value", 0))
        if kind == EV_SYN:
            self._flush_motion()
        elif kind == EV_KEY:
            if BTN_LEFT <= code <= BTN_TASK or code == BTN_TOUCH:
                self._flush_motion()
                self._button(BTN_LEFT if code == BTN_TOUCH else code, value != 0)
            elif value in (0, 1):
                self._key(code, value == 1)
        elif kind == EV_REL:
            if code in (REL_X, REL_Y):
                self._rel[code] += value
                self._moved = True
            elif code in (REL_WHEEL, REL_HWHEEL):
                axis = 0 if code == REL_WHEEL else 1
                self._flush_motion()
                shell = self.server.shell
                if shell is not None and axis == 0 and shell.axis(-value * WHEEL_STEP):
                    return
                self.server.seat.pointer_axis(axis, -value * WHEEL_STEP if axis == 0 else value * WHEEL_STEP,
                                              now_ms())
        elif kind == EV_ABS and code in (ABS_X, ABS_Y, ABS_MT_POSITION_X, ABS_MT_POSITION_Y):
            low, high = float(event.get("min", 0)), float(event.get("max", 32767))
            fraction = (value - low) / (high - low) if high > low else 0.0
            self._abs["x" if code in (ABS_X, ABS_MT_POSITION_X) else "y"] = min(max(fraction, 0.0), 1.0)
            self._abs_moved = self._moved = True

    def warp(self, x: float, y: float) -> None:
        """Put the pointer at a logical position (ipc inject {"pointer": [x, y]})."""
        self._pointer_to(x, y)

    def _flush_motion(self) -> None:
        if not self._moved:
            return
        self._moved = False
        transform = self.server.output.transform
        x, y = self.server.seat.pointer_xy
        if self._rel != [0.0, 0.0]:
            dx, dy = transform.delta_to_logical(*self._rel)
            x, y = x + dx, y + dy
            self._rel = [0.0, 0.0]
        if self._abs_moved:
            self._abs_moved = False
            # absolute devices (tablet, touchscreen) report physical positions: map through the rotation
            x, y = transform.to_logical(self._abs["x"] * (transform.physical_width - 1),
                                        self._abs["y"] * (transform.physical_height - 1))
        self._pointer_to(x, y)

    def _pointer_to(self, x: float, y: float) -> None:
        scene = self.server.scene
        x = min(max(x, 0.0), scene.width - 1.0)
        y = min(max(y, 0.0), scene.height - 1.0)
        old = self.server.seat.pointer_xy
        shell = self.server.shell
        if self.server.wm.pointer_motion(x, y):
            self.server.seat.pointer_xy = (x, y)
        elif shell is not None and shell.pointer_motion(x, y):
            self.server.seat.pointer_xy = (x, y)
            self.server.seat.clear_pointer_focus()
        else:
            self.server.seat.pointer_motion(x, y, now_ms())
        self.server.cursor_moved(old)

    def _button(self, button: int, pressed: bool) -> None:
        shell = self.server.shell
        if shell is not None and shell.pointer_button(button, pressed):
            return
        if self.server.wm.pointer_button(pressed):
            return
        self.server.seat.pointer_button(button, pressed, now_ms())

    def _key(self, code: int, pressed: bool) -> None:
        if pressed:
            self.held.add(code)
            if code not in META:
                self._super_alone = False
            shortcut = self._shortcut(code)
            if shortcut is not None:
                self.consumed.add(code)
                self.server.shortcut(shortcut)
                return
            if code in META:
                self._super_alone = True
        else:
            self.held.discard(code)
            if code in self.consumed:
                self.consumed.discard(code)
                return
            if code in META and self._super_alone and "super" in self.launcher_keys:
                self._super_alone = False
                self._deliver(code, False)
                self.server.shortcut("launcher")
                return
        self._deliver(code, pressed)

    def _deliver(self, code: int, pressed: bool) -> None:
        """To the OS shell while it has the keyboard (a release follows its press), else the client."""
        shell = self.server.shell
        if shell is not None:
            if pressed and shell.key(code, True):
                self.shell_keys.add(code)
                return
            if not pressed and code in self.shell_keys:
                self.shell_keys.discard(code)
                shell.key(code, False)
                return
        self.server.seat.key(code, pressed, now_ms())

    def _shortcut(self, code: int) -> str | None:
        if code == KEY_TAB and self.held & ALT:
            return "switcher"
        if code == KEY_Q and self.held & META:
            return "close"
        if code == KEY_SPACE and self.held & CTRL and "ctrl+space" in self.launcher_keys:
            return "launcher"
        return None


async def follow_hal(router: InputRouter, socket: Path, stop: asyncio.Event) -> None:
    """Subscribe to the HAL's input events; reconnect with backoff while it is absent or restarting.
    The compositor starts while hal may still be loading (init/services.py), so the backoff stays
    short: input works within a second of hal's socket appearing."""
    delay = 0.25
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_unix_connection(str(socket), limit=1 << 20)
        except OSError:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, HAL_RETRY_MAX_S)
            continue
        delay = 0.25
        try:
            request = {"id": 1, "method": "subscribe", "params": {"events": ["input"]}}
            writer.write(json.dumps(request).encode() + b"\n")
            await writer.drain()
            while line := await reader.readline():
                try:
                    message = json.loads(line)
                except ValueError:
                    continue
                if message.get("event") == "input" and isinstance(message.get("data"), dict):
                    router.handle(message["data"])  # motion is grouped by the stream's own EV_SYN
                    router.server.flush()
        except (OSError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()
