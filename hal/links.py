"""Network links: loopback up, wired links up as they appear, DHCP or static config, resolv.conf.

One AsyncIPRoute socket listens to link broadcasts and another issues commands, so replies and
broadcasts never interleave. A link is "wired" when it is Ethernet (ARPHRD_ETHER), not wireless
and is a physical device or a veth (bridges, dummies, tunnels are left alone unless named in the
config). Carrier loss drops the lease and its addresses; carrier return restarts DHCP.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyroute2 import AsyncIPRoute
from pyroute2.dhcp.hooks import Trigger
from pyroute2.dhcp.leases import Lease
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl import RTMGRP_LINK

from llmos.hal import resolv
from llmos.hal.dhcp import DhcpLink, Timing, describe
from llmos.hal.netconfig import InterfaceConfig, NetworkConfig

LOG = logging.getLogger("llmos.hal.net")
ARPHRD_ETHER = 1
IFF_UP = 0x1
WIRED_KINDS = {None, "veth"}

Publish = Callable[[str, dict[str, Any]], Awaitable[None]]


@dataclass
class Link:
    index: int
    name: str
    kind: str | None
    mac: str | None
    wired: bool
    carrier: bool = False
    admin_up: bool = False
    config: InterfaceConfig | None = None
    error: str | None = None
    dhcp: DhcpLink | None = None
    configured: list[tuple[str, int]] = field(default_factory=list)  # (address, prefixlen) we added
    gateway: str | None = None
    dns: list[str] = field(default_factory=list)
    search: list[str] = field(default_factory=list)


def _is_wireless(name: str) -> bool:
    base = Path("/sys/class/net") / name
    return (base / "wireless").exists() or (base / "phy80211").exists()


class NetworkManager:
    def __init__(self, config: NetworkConfig, publish: Publish, lease_dir: Path,
                 timing: Timing | None = None) -> None:
        self.config = config
        self.publish = publish
        self.lease_dir = lease_dir
        self.timing = timing or Timing()
        self.links: dict[int, Link] = {}
        self._ipr: AsyncIPRoute | None = None
        self._monitor: AsyncIPRoute | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # link events are handled one at a time, in order

    async def start(self) -> None:
        self._ipr = AsyncIPRoute()
        self._monitor = AsyncIPRoute()
        await self._monitor.bind(RTMGRP_LINK)  # bind before dumping so no link slips between
        async for message in await self._ipr.link("dump"):
            await self._handle(message)
        self._task = asyncio.get_running_loop().create_task(self._watch(), name="hal-net-watch")
        for error in self.config.errors.values():
            LOG.error("network config: %s (link stays down)", error)

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for link in list(self.links.values()):
            if link.dhcp:
                await link.dhcp.stop()
        for sock in (self._monitor, self._ipr):
            if sock is not None:
                sock.close()

    async def _watch(self) -> None:
        assert self._monitor is not None
        while True:
            async for message in self._monitor.get():
                await self._handle(message)

    async def _handle(self, message: Any) -> None:
        async with self._lock:
            try:
                if message.get("event") == "RTM_DELLINK":
                    await self._removed(message["index"])
                elif message.get("event") == "RTM_NEWLINK":
                    await self._changed(message)
            except Exception:  # one bad event (or a link vanishing meanwhile) must not stop the rest
                LOG.exception("handling %s for %s failed", message.get("event"), message.get("ifname"))

    async def _changed(self, message: Any) -> None:
        index, name = message["index"], message.get("ifname")
        link = self.links.get(index)
        if link is None:
            kind = message.get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND")
            wired = message["ifi_type"] == ARPHRD_ETHER and kind in WIRED_KINDS and not _is_wireless(name)
            link = Link(index, name, kind, message.get("address"), wired)
            self.links[index] = link
            await self._appeared(link)
        link.name = name
        link.admin_up = bool(message["flags"] & IFF_UP)
        carrier = bool(message.get("carrier")) and link.admin_up
        if carrier != link.carrier:
            link.carrier = carrier
            await self.publish("link", {"name": name, "carrier": carrier})
            if link.config and not link.error:
                await (self._carrier_up(link) if carrier else self._carrier_down(link))

    async def _appeared(self, link: Link) -> None:
        assert self._ipr is not None
        if link.name == "lo":
            await self._ipr.link("set", index=link.index, state="up")
            return
        if link.name in self.config.errors:
            link.error = self.config.errors[link.name]
            LOG.error("%s: not configured: %s", link.name, link.error)
            await self._ipr.link("set", index=link.index, state="down")
            return
        if not link.wired and link.name not in self.config.interfaces:
            return
        link.config = self.config.for_link(link.name) if self.config.manage else None
        if link.config is None:
            return
        LOG.info("%s: bringing up (%s)", link.name, "dhcp" if link.config.dhcp else "static")
        await self._ipr.link("set", index=link.index, state="up")

    async def _carrier_up(self, link: Link) -> None:
        assert link.config is not None
        if link.config.dhcp:
            link.dhcp = DhcpLink(link.name, self._on_lease, self.lease_dir, self.timing)
            await link.dhcp.start()
            return
        address = link.config.address
        assert address is not None  # netconfig gives every non-DHCP link an address
        try:
            await self._apply(link, str(address.ip), address.network.prefixlen,
                              str(link.config.gateway) if link.config.gateway else None,
                              [str(d) for d in link.config.dns], list(link.config.search))
        except NetlinkError as error:
            link.error = f"network.interfaces.{link.name}: kernel refused the config: {error}"
            LOG.error("%s (taking the link down)", link.error)
            await self._deconfigure(link)
            assert self._ipr is not None
            await self._ipr.link("set", index=link.index, state="down")

    async def _carrier_down(self, link: Link) -> None:
        LOG.info("%s: carrier lost, dropping its configuration", link.name)
        if link.dhcp:
            await link.dhcp.stop(forget=True)
            link.dhcp = None
        await self._deconfigure(link)

    async def _removed(self, index: int) -> None:
        link = self.links.pop(index, None)
        if link is None:
            return
        if link.dhcp:
            await link.dhcp.stop(forget=True)
        link.configured.clear()
        link.dns.clear()
        await self._write_resolv()
        await self.publish("link", {"name": link.name, "removed": True})

    async def _on_lease(self, ifname: str, trigger: Trigger, lease: Lease) -> None:
        link = next((item for item in self.links.values() if item.name == ifname), None)
        if link is None:
            return
        LOG.info("%s: DHCP %s %s", ifname, trigger, lease.ip)
        info = describe(lease)
        if trigger in (Trigger.BOUND, Trigger.RENEWED, Trigger.REBOUND):
            prefix = int(info["address"].split("/")[1])
            await self._apply(link, lease.ip, prefix, info["gateway"], info["dns"],
                              [info["domain"]] if info["domain"] else [], lease)
        else:
            await self._deconfigure(link)
        await self.publish("lease", {"name": ifname, "trigger": str(trigger), **info})

    async def _apply(self, link: Link, address: str, prefix: int, gateway: str | None,
                     dns: list[str], search: list[str], lease: Lease | None = None) -> None:
        """Set one address (replacing any we set before), the default route and DNS."""
        assert self._ipr is not None
        stale = [item for item in link.configured if item != (address, prefix)]
        lifetime: dict[str, dict[str, int]] = {}
        if lease is not None and lease.expiration_in:
            valid = max(int(lease.expiration_in), 1)
            lifetime = {"IFA_CACHEINFO": {"ifa_valid": valid, "ifa_preferred": valid}}
        network = ipaddress.IPv4Interface(f"{address}/{prefix}").network
        broadcast = {"broadcast": str(network.broadcast_address)} if prefix < 31 else {}
        # New address first: deleting a link's last address makes the kernel flush its routes.
        await self._ipr.addr("replace", index=link.index, address=address, prefixlen=prefix,
                             **broadcast, **lifetime)
        for old, old_prefix in stale:
            with contextlib.suppress(NetlinkError):
                await self._ipr.addr("del", index=link.index, address=old, prefixlen=old_prefix)
        link.configured = [(address, prefix)]
        if gateway:  # idempotent, and restores a route the kernel dropped with an old address
            await self._ipr.route("replace", dst="0.0.0.0/0", gateway=gateway, oif=link.index)
        link.gateway = gateway
        link.dns, link.search = dns, search
        await self._write_resolv()

    async def _deconfigure(self, link: Link) -> None:
        assert self._ipr is not None
        for address, prefix in link.configured:
            try:
                await self._ipr.addr("del", index=link.index, address=address, prefixlen=prefix)
            except NetlinkError as error:
                if error.code not in (errno.EADDRNOTAVAIL, errno.ENODEV):
                    LOG.warning("%s: removing %s failed: %s", link.name, address, error)
        link.configured, link.gateway, link.dns, link.search = [], None, [], []
        await self._write_resolv()  # the default route went with the address

    async def _write_resolv(self) -> None:
        servers = [d for link in self.links.values() for d in link.dns]
        search = [s for link in self.links.values() for s in link.search]
        if not servers and not self.config.resolv_conf.exists():
            return
        text = resolv.render(servers, search)
        if resolv.write(self.config.resolv_conf, text):
            LOG.info("wrote %s (%s)", self.config.resolv_conf, ", ".join(servers) or "no servers")

    async def status(self) -> dict[str, Any]:
        """Links, addresses, routes and leases as plain JSON, for `llmos net`."""
        assert self._ipr is not None
        addresses: dict[int, list[str]] = {}
        async for message in await self._ipr.addr("dump"):
            addresses.setdefault(message["index"], []).append(
                f"{message.get('address')}/{message['prefixlen']}")
        routes = []
        async for message in await self._ipr.route("dump", table=254):
            dst = message.get("dst")
            routes.append({
                "dst": f"{dst}/{message['dst_len']}" if dst else "default",
                "gateway": message.get("gateway"),
                "dev": self.links[message.get("oif")].name if message.get("oif") in self.links else None,
            })
        links = []
        for link in sorted(self.links.values(), key=lambda item: item.index):
            links.append({
                "name": link.name, "index": link.index, "mac": link.mac, "kind": link.kind,
                "wired": link.wired, "up": link.admin_up, "carrier": link.carrier,
                "method": None if link.config is None else ("dhcp" if link.config.dhcp else "static"),
                "error": link.error, "addresses": addresses.get(link.index, []),
                "dhcp": link.dhcp.status() if link.dhcp else None,
            })
        return {"links": links, "routes": routes, "resolv_conf": str(self.config.resolv_conf),
                "errors": dict(self.config.errors), "now": time.time()}
