"""The hal service: device registry, input and network behind one JSON-lines socket.

Methods: devices {subsystem?}, subscribe {events: [device|input|input-device|link|lease|*]},
input_devices, recent_input {count?}, keymap, net, status. Pushed events carry the same shapes as
the method results, so `llmos devices --json` and a subscriber see identical records.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Any

from llmos import config as llmos_config
from llmos import ipc, paths
from llmos.hal.devices import Registry
from llmos.hal.dhcp import Timing
from llmos.hal.input import InputManager
from llmos.hal.keymap import Keymap, compile_keymap
from llmos.hal.links import NetworkManager
from llmos.hal.netconfig import parse_network

LOG = logging.getLogger("llmos.hal")
EVENTS = {"device", "input", "input-device", "link", "lease"}
# Tests only: shrink every DHCP timer (lease, retries, timeouts) by this factor.
TIME_SCALE_ENV = "LLMOS_HAL_DHCP_TIME_SCALE"


class Hal:
    def __init__(self, cfg: llmos_config.Config | None = None, *, network: bool = True,
                 udev_source: str | None = None) -> None:
        self.cfg = cfg or llmos_config.load()
        for problem in self.cfg.problems:
            LOG.error("config: %s", problem)
        self.server = ipc.Server(self._handlers())
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(maxsize=10_000)
        self.registry = Registry(udev_source)
        self.input: InputManager | None = None
        self.keymap: Keymap | None = None
        self.network: NetworkManager | None = None
        self._want_network = network
        self._publisher: asyncio.Task[None] | None = None

    def _handlers(self) -> dict[str, ipc.Handler]:
        return {"devices": self._devices, "subscribe": self._subscribe, "input_devices": self._input_devices,
                "recent_input": self._recent_input, "keymap": self._keymap, "net": self._net,
                "status": self._status}

    # lifecycle

    async def start(self, socket_path: os.PathLike[str] | None = None) -> None:
        self._publisher = asyncio.get_running_loop().create_task(self._publish_forever())
        section = self.cfg.section("input")
        self.keymap = compile_keymap(section.get("layout", "us"), section.get("variant", ""),
                                     section.get("options", ""))
        self.input = InputManager(lambda record: self.publish("input", record),
                                  lambda action, device: self.publish("input-device", {"action": action,
                                                                                        **device}))
        self.registry.listeners.append(lambda action, summary: self.publish(
            "device", {"action": action, **summary}))
        self.registry.listeners.append(self.input.on_udev)
        self.registry.start()
        for summary in self.registry.list("input"):
            self.input.on_udev("add", summary)
        net_config = parse_network(self.cfg.section("network"))
        if self._want_network and net_config.manage:
            scale = float(os.environ.get(TIME_SCALE_ENV, "1") or 1)
            self.network = NetworkManager(net_config, self._publish_async,
                                          paths.run_dir() / "hal" / "leases", Timing(scale=scale))
            await self.network.start()
        await self.server.start(socket_path or paths.socket_path("hal"))
        LOG.info("hal ready on %s", socket_path or paths.socket_path("hal"))

    async def close(self) -> None:
        await self.server.close()
        if self.network:
            await self.network.close()
        if self.input:
            self.input.close()
        self.registry.close()
        if self._publisher:
            self._publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._publisher

    # events

    def publish(self, event: str, data: dict[str, Any]) -> None:
        """Queue an event for subscribers; callable from loop callbacks (add_reader) without awaiting."""
        try:
            self._queue.put_nowait((event, data))
        except asyncio.QueueFull:  # subscribers too slow: drop rather than grow without bound
            LOG.warning("event queue full, dropping %s", event)

    async def _publish_async(self, event: str, data: dict[str, Any]) -> None:
        self.publish(event, data)

    async def _publish_forever(self) -> None:
        while True:
            event, data = await self._queue.get()
            await self.server.broadcast(event, data)

    # methods

    async def _devices(self, _conn: ipc.Connection, params: dict[str, Any]) -> Any:
        return {"source": self.registry.source, "devices": self.registry.list(params.get("subsystem"))}

    async def _subscribe(self, conn: ipc.Connection, params: dict[str, Any]) -> Any:
        events = params.get("events", ["*"])
        if not isinstance(events, list) or not all(e in EVENTS or e == "*" for e in events):
            raise ipc.RpcError("bad-params", f"events must be a list drawn from {sorted(EVENTS)} or '*'")
        conn.subscriptions.update(events)
        return {"subscribed": sorted(conn.subscriptions)}

    async def _input_devices(self, _conn: ipc.Connection, _params: dict[str, Any]) -> Any:
        return self.input.list() if self.input else []

    async def _recent_input(self, _conn: ipc.Connection, params: dict[str, Any]) -> Any:
        count = params.get("count", 50)
        if not isinstance(count, int) or count < 0:
            raise ipc.RpcError("bad-params", "count must be a non-negative integer")
        events = list(self.input.recent) if self.input else []
        return events[-count:] if count else []

    async def _keymap(self, _conn: ipc.Connection, _params: dict[str, Any]) -> Any:
        assert self.keymap is not None
        return self.keymap.as_json()

    async def _net(self, _conn: ipc.Connection, _params: dict[str, Any]) -> Any:
        if self.network is None:
            return {"managed": False, "links": [], "routes": []}
        return {"managed": True, **await self.network.status()}

    async def _status(self, _conn: ipc.Connection, _params: dict[str, Any]) -> Any:
        return {"devices": len(self.registry.devices), "udev_source": self.registry.source,
                "input_devices": len(self.input.devices) if self.input else 0,
                "keymap_error": self.keymap.error if self.keymap else None,
                "network": self.network is not None}
