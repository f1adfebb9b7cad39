"""reboot(2), the child-subreaper bit and the ACPI power button.

Python has no reboot(2) and no prctl(2), so both go through ctypes. The power button is an input
device with KEY_POWER (the ACPI "Power Button" driver, or QEMU's system_powerdown); it is watched with
python-evdev on the event loop, and /dev/input is re-scanned when its mtime changes (hotplug) from a
cheap periodic stat, so no extra thread or inotify binding is needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

RB_AUTOBOOT = 0x01234567
RB_POWER_OFF = 0x4321FEDC
RB_DISABLE_CAD = 0  # ctrl-alt-del then sends SIGINT to PID 1 instead of an immediate reboot
PR_SET_CHILD_SUBREAPER = 36

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")


def reboot(command: int) -> None:
    """Only ever called as PID 1: this ends the system."""
    _check(_libc.reboot(ctypes.c_int(command)), "reboot")


def disable_cad() -> None:
    _check(_libc.reboot(ctypes.c_int(RB_DISABLE_CAD)), "reboot(RB_DISABLE_CAD)")


def set_subreaper() -> None:
    """Orphans of our services get reparented to us instead of to the real PID 1 (host tests)."""
    _check(_libc.prctl(PR_SET_CHILD_SUBREAPER, ctypes.c_ulong(1), 0, 0, 0), "prctl(PR_SET_CHILD_SUBREAPER)")


class PowerButton:
    """Calls `pressed()` when any input device with KEY_POWER reports a key-down."""

    def __init__(self, pressed: Callable[[], None], log: Callable[[str], None],
                 directory: Path = Path("/dev/input"), interval: float = 2.0) -> None:
        self.pressed = pressed
        self.log = log
        self.directory = directory
        self.interval = interval
        self.devices: dict[str, Any] = {}  # path -> evdev.InputDevice
        self._mtime: float | None = None

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                mtime = self.directory.stat().st_mtime
            except OSError:
                mtime = None
            if mtime is not None and mtime != self._mtime:
                self._mtime = mtime
                try:
                    self.scan(loop)
                except Exception as error:  # a bad device must not end the watcher
                    self.log(f"powerbutton: scan failed: {type(error).__name__}: {error}")
            await asyncio.sleep(self.interval)

    def scan(self, loop: asyncio.AbstractEventLoop) -> None:
        import evdev  # imported late: it costs start-up time and is useless without /dev/input
        from evdev import ecodes

        for path in sorted(str(p) for p in self.directory.glob("event*")):
            if path in self.devices:
                continue
            try:
                device = evdev.InputDevice(path)
            except OSError:
                continue
            if ecodes.KEY_POWER not in device.capabilities().get(ecodes.EV_KEY, []):
                device.close()
                continue
            self.devices[path] = device
            loop.add_reader(device.fd, self._readable, path)
            self.log(f"powerbutton: watching {path} ({device.name})")

    def _readable(self, path: str) -> None:
        from evdev import ecodes

        device = self.devices.get(path)
        if device is None:
            return
        try:
            for event in device.read():
                if event.type == ecodes.EV_KEY and event.code == ecodes.KEY_POWER and event.value == 1:
                    self.log(f"powerbutton: pressed on {path}")
                    self.pressed()
        except BlockingIOError:
            pass
        except OSError:  # unplugged
            self.forget(path)

    def forget(self, path: str) -> None:
        device = self.devices.pop(path, None)
        if device is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(device.fd)
            with contextlib.suppress(Exception):
                device.close()

    def close(self) -> None:
        for path in list(self.devices):
            self.forget(path)
