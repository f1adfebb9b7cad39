"""Input devices: open evdev nodes as udev reports them, classify, read them without blocking and
hand every event to a subscriber callback.

Each device's fd is watched with loop.add_reader and drained with python-evdev's own reader
(InputDevice.read / EventIO.read). A device that vanishes mid-read raises ENODEV (or reads EOF
when it is a pipe); either way it is closed and forgotten, never propagated. `RecordedDevice`
is an EventIO over any fd that carries struct input_event bytes: hosts without /dev/input (and
without /dev/uinput) replay recorded streams through exactly the same read path.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import evdev
from evdev import ecodes
from evdev.eventio import EventIO

from llmos.hal.classify import POWER_BUTTON, classify

LOG = logging.getLogger("llmos.hal.input")
EVENT_NODE = re.compile(r"^/dev/input/event\d+$")

Deliver = Callable[[dict[str, Any]], None]


class Source(Protocol):
    def fileno(self) -> int: ...
    def read(self) -> Iterable[evdev.InputEvent]: ...
    def close(self) -> None: ...


class RecordedDevice(EventIO):
    """An event stream on a plain fd (pipe or socket) with the capabilities of the recorded device."""

    def __init__(self, fd: int, capabilities: Mapping[int, Iterable[int]], properties: Iterable[int] = ()):
        self.fd = fd
        self.capabilities_ = {kind: list(codes) for kind, codes in capabilities.items()}
        self.properties_ = list(properties)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


@dataclass
class Attached:
    id: str
    name: str
    path: str | None
    kinds: list[str]
    source: Source = field(repr=False)
    events: int = 0

    @property
    def kind(self) -> str:
        return self.kinds[0] if self.kinds else "other"

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "path": self.path, "kind": self.kind,
                "kinds": self.kinds, "events": self.events}


def _name(table: Mapping[int, Any], code: int) -> str:
    name = table.get(code, str(code))
    return name[0] if isinstance(name, list | tuple) else str(name)


class InputManager:
    def __init__(self, deliver: Deliver, on_change: Callable[[str, dict[str, Any]], None] | None = None,
                 recent: int = 512) -> None:
        self.deliver = deliver
        self.on_change = on_change
        self.devices: dict[str, Attached] = {}
        self.recent: collections.deque[dict[str, Any]] = collections.deque(maxlen=recent)
        self._loop = asyncio.get_running_loop()

    # attaching and detaching

    def attach(self, device_id: str, source: Source, name: str, kinds: list[str],
               path: str | None = None) -> Attached:
        self.detach(device_id)
        attached = Attached(device_id, name, path, kinds, source)
        self.devices[device_id] = attached
        self._loop.add_reader(source.fileno(), self._readable, attached)
        LOG.info("input %s: %r is %s", device_id, name, ", ".join(kinds) or "unclassified")
        if self.on_change:
            self.on_change("add", attached.describe())
        return attached

    def attach_recorded(self, device_id: str, device: RecordedDevice, name: str) -> Attached:
        return self.attach(device_id, device, name, classify(device.capabilities_, device.properties_))

    def open_node(self, path: str) -> Attached | None:
        """Open an evdev node (non-blocking, by python-evdev) and attach it."""
        try:
            device = evdev.InputDevice(path)
            kinds = classify(device.capabilities(absinfo=False), device.input_props())
        except OSError as error:  # gone already, or not permitted
            LOG.warning("input %s: cannot open: %s", path, error)
            return None
        return self.attach(path.rsplit("/", 1)[-1], device, device.name, kinds, path)

    def detach(self, device_id: str) -> None:
        attached = self.devices.pop(device_id, None)
        if attached is None:
            return
        with contextlib.suppress(OSError, ValueError):
            self._loop.remove_reader(attached.source.fileno())
        with contextlib.suppress(OSError):
            attached.source.close()
        LOG.info("input %s: closed", device_id)
        if self.on_change:
            self.on_change("remove", attached.describe())

    def close(self) -> None:
        for device_id in list(self.devices):
            self.detach(device_id)

    def on_udev(self, action: str, summary: dict[str, Any]) -> None:
        """Registry listener: follow /dev/input/event* nodes as they come and go."""
        node = summary.get("node") or ""
        if summary.get("subsystem") != "input" or not EVENT_NODE.match(node):
            return
        device_id = node.rsplit("/", 1)[-1]
        if action == "add":
            self.open_node(node)
        elif action == "remove":
            self.detach(device_id)

    # reading

    def _readable(self, attached: Attached) -> None:
        try:
            events = list(attached.source.read())
        except BlockingIOError:
            return
        except OSError as error:
            level = logging.INFO if error.errno == errno.ENODEV else logging.WARNING
            LOG.log(level, "input %s: read failed (%s); closing it", attached.id, error)
            self.detach(attached.id)
            return
        if not events:  # readable but empty: end of a recorded stream
            self.detach(attached.id)
            return
        for event in events:
            self._emit(attached, event)

    def _emit(self, attached: Attached, event: evdev.InputEvent) -> None:
        attached.events += 1
        record = {
            "device": attached.id, "kind": attached.kind,
            "type": event.type, "code": event.code, "value": event.value,
            "type_name": ecodes.EV.get(event.type, str(event.type)),
            "code_name": _name(ecodes.bytype.get(event.type, {}), event.code),
            "time": event.sec + event.usec / 1e6,
        }
        self.recent.append(record)
        if POWER_BUTTON in attached.kinds and event.type == ecodes.EV_KEY \
                and event.code == ecodes.KEY_POWER and event.value == 1:
            LOG.info("input %s: power button pressed (PID 1 handles shutdown)", attached.id)
        self.deliver(record)

    def list(self) -> list[dict[str, Any]]:
        return [attached.describe() for attached in self.devices.values()]
