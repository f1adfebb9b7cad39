"""The device registry: pyudev's view of /sys plus hotplug events.

The monitor's netlink socket is watched with loop.add_reader, so no thread is needed. Events come
from systemd-udevd ("udev" source: device nodes exist and rules have run) when udevd is running,
and straight from the kernel otherwise (early boot, or a host without udevd) — the summary says
which source is in use so nobody mistakes one for the other.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyudev

LOG = logging.getLogger("llmos.hal.devices")
KEPT_PROPERTIES = ("ID_INPUT", "ID_INPUT_KEYBOARD", "ID_INPUT_MOUSE", "ID_INPUT_TABLET",
                   "ID_INPUT_TOUCHSCREEN", "ID_INPUT_KEY", "ID_BUS", "ID_MODEL", "ID_VENDOR",
                   "ID_PATH", "INTERFACE", "IFINDEX", "NAME", "PRODUCT", "MODALIAS", "DEVTYPE")

Listener = Callable[[str, dict[str, Any]], None]


def udevd_running() -> bool:
    """udevd creates its control socket under /run/udev when it starts."""
    return Path("/run/udev/control").exists()


def summarize(device: pyudev.Device) -> dict[str, Any]:
    properties = device.properties
    return {
        "sys_path": device.sys_path,
        "subsystem": device.subsystem,
        "sys_name": device.sys_name,
        "devtype": device.device_type,
        "node": device.device_node,
        "driver": device.driver,
        "properties": {key: properties[key] for key in KEPT_PROPERTIES if key in properties},
    }


class DeviceRegistry:
    def __init__(self, source: str | None = None) -> None:
        self.context = pyudev.Context()
        self.source = source or ("udev" if udevd_running() else "kernel")
        self.monitor: pyudev.Monitor | None = None
        self.listeners: list[Listener] = []
        self.devices: dict[str, dict[str, Any]] = {}  # sys_path -> summary

    def start(self) -> None:
        """Open the monitor first, then enumerate, so that no device slips in between."""
        self.monitor = pyudev.Monitor.from_netlink(self.context, source=self.source)
        self.monitor.start()
        os.set_blocking(self.monitor.fileno(), False)
        for device in self.context.list_devices():
            self.devices[device.sys_path] = summarize(device)
        asyncio.get_running_loop().add_reader(self.monitor.fileno(), self._readable)
        LOG.info("device registry: %d devices, events from %s", len(self.devices), self.source)

    def close(self) -> None:
        if self.monitor is not None:
            asyncio.get_running_loop().remove_reader(self.monitor.fileno())
            self.monitor = None

    def list(self, subsystem: str | None = None) -> list[dict[str, Any]]:
        return [summary for summary in self.devices.values()
                if subsystem is None or summary["subsystem"] == subsystem]

    def _readable(self) -> None:
        assert self.monitor is not None
        while True:
            try:
                device = self.monitor.poll(timeout=0)
            except (OSError, ValueError) as error:  # e.g. ENOBUFS after an event storm
                LOG.warning("udev monitor: %s", error)
                return  # the loop calls us again if more is pending; never spin here
            if device is None:
                return
            self._event(device.action or "change", device)

    def _event(self, action: str, device: pyudev.Device) -> None:
        summary = summarize(device)
        if action == "remove":
            summary = self.devices.pop(device.sys_path, summary)
        else:
            self.devices[device.sys_path] = summary
        for listener in list(self.listeners):
            try:
                listener(action, summary)
            except Exception:
                LOG.exception("device listener failed on %s %s", action, device.sys_path)
