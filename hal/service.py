"""The hal service: device registry, input and network behind one JSON-lines socket.

Methods: devices {subsystem?}, subscribe {events: [device|input|input-device|link|lease|*]},
input_devices, recent_input {count?}, keymap, net, status. Pushed events carry the same shapes as
the method results, so `llmos devices --json` and a subscriber see identical records.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmos import config as llmos_config
from llmos import ipc, paths
from llmos.hal.devices import DeviceRegistry
from llmos.hal.input import InputManager
from llmos.hal.keymap import KeyboardLayout, compile_keymap
from llmos.hal.netconfig import NetworkConfig, parse_network

if TYPE_CHECKING:
    from llmos.hal.links import NetworkManager

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
        self.server = ipc.Server(ipc.handlers(self))
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(maxsize=10_000)
        self.registry = DeviceRegistry(udev_source)
        self.input: InputManager | None = None
        self.keymap: KeyboardLayout | None = None
        self.network: NetworkManager | None = None
        self._want_network = network
        self._network_starting = False
        self._publisher: asyncio.Task[None] | None = None

    # lifecycle

    async def start(self, socket_path: os.PathLike[str] | None = None) -> None:
        self._publisher = asyncio.get_running_loop().create_task(self._publish_forever())
        keyboard = self.cfg.settings.input
        self.keymap = compile_keymap(keyboard.layout, keyboard.variant, keyboard.options)
        self.input = InputManager(lambda record: self.publish("input", record),
                                  lambda action, device: self.publish("input-device", {"action": action,
                                                                                        **device}))
        self.registry.listeners.append(lambda action, summary: self.publish(
            "device", {"action": action, **summary}))
        self.registry.listeners.append(self.input.on_udev)
        self.registry.start()
        for summary in self.registry.list("input"):
            self.input.on_udev("add", summary)
        net_config = parse_network(self.cfg.settings.network)
        self._network_starting = self._want_network and net_config.manage
        socket = Path(socket_path) if socket_path is not None else paths.socket_path("hal")
        await self.server.start(socket)
        LOG.info("hal ready on %s%s", socket, "; the network comes up next" if self._network_starting else "")
        if self._network_starting:
            await self._start_network(net_config)

    async def _start_network(self, net_config: NetworkConfig) -> None:
        """After the socket is up: the keyboard reaches the shell while the netlink and DHCP code loads
        (pyroute2: half of hal's imports, seconds under TCG at boot). The import runs in a thread, so
        that the loop goes on answering and forwarding input meanwhile. A failure here stops hal, as
        before, and PID 1 starts it again."""
        links = await asyncio.to_thread(importlib.import_module, "llmos.hal.links")
        scale = float(os.environ.get(TIME_SCALE_ENV, "1") or 1)
        network = links.NetworkManager(net_config, self._publish_async, paths.run_dir() / "hal" / "leases",
                                       links.Timing(scale=scale))
        await network.start()
        self.network = network
        self._network_starting = False

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

    @ipc.rpc("devices")
    async def rpc_devices(self, _conn: ipc.Connection, params: dict[str, Any]) -> Any:
        return {"source": self.registry.source, "devices": self.registry.list(params.get("subsystem"))}

    @ipc.rpc("subscribe")
    async def rpc_subscribe(self, conn: ipc.Connection, params: dict[str, Any]) -> Any:
        events = params.get("events", ["*"])
        if not isinstance(events, list) or not all(e in EVENTS or e == "*" for e in events):
            raise ipc.RpcError(ipc.ErrorCode.BAD_REQUEST,
                               f"events must be a list drawn from {sorted(EVENTS)} or '*'")
        conn.subscriptions.update(events)
        return {"subscribed": sorted(conn.subscriptions)}

    @ipc.rpc("input_devices")
    async def rpc_input_devices(self, _conn: ipc.Connection, _params: dict[str, Any]) -> Any:
        return self.input.list() if self.input else []

    @ipc.rpc("recent_input")
    async def rpc_recent_input(self, _conn: ipc.Connection, params: dict[str, Any]) -> Any:
        count = params.get("count", 50)
        if not isinstance(count, int) or count < 0:
            raise ipc.RpcError(ipc.ErrorCode.BAD_REQUEST, "count must be a non-negative integer")
        events = list(self.input.recent) if self.input else []
        return events[-count:] if count else []

    @ipc.rpc("keymap")
    async def rpc_keymap(self, _conn: ipc.Connection, _params: dict[str, Any]) -> Any:
        assert self.keymap is not None
        return self.keymap.as_json()

    @ipc.rpc("net")
    async def rpc_net(self, _conn: ipc.Connection, _params: dict[str, Any]) -> Any:
        if self.network is None:
            return {"managed": self._network_starting, "starting": self._network_starting, "links": [],
                    "routes": []}
        return {"managed": True, **await self.network.status()}

    @ipc.rpc("status")
    async def rpc_status(self, _conn: ipc.Connection, _params: dict[str, Any]) -> Any:
        return {"devices": len(self.registry.devices), "udev_source": self.registry.source,
                "input_devices": len(self.input.devices) if self.input else 0,
                "keymap_error": self.keymap.error if self.keymap else None,
                "network": self.network is not None}
