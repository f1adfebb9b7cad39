"""DHCPv4 for one link, on top of pyroute2.dhcp's client.

pyroute2 0.9.7's AsyncDHCPClient has the RFC 2131 state machine we want (SELECTING, REQUESTING,
BOUND, RENEWING at T1, REBINDING at T2, reset on expiry or NAK, randomized exponential
retransmission) and hooks, so we use it. Reading its code showed gaps that we close here rather
than re-implementing the protocol:
- its socket only drops packets that fail to *decode*; a reply without a message type, with an
  unknown one or with a foreign chaddr reaches the state machine, and a missing message type raises
  KeyError inside its receive task, which kills it (the client goes deaf). `CheckedSocket` drops
  everything that is not a well-formed BOOTREPLY OFFER/ACK/NAK for our hardware address; the xid is
  checked by pyroute2 itself;
- its timers come straight from the lease; `Timing.scale` shrinks lease times, retransmission
  delays and state timeouts together so that tests can run a 120 s lease in a few seconds;
- leases are stored atomically in the run directory instead of the working directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

from pyroute2.dhcp import fsm
from pyroute2.dhcp.client import AsyncDHCPClient, ClientConfig, randomized_increasing_backoff
from pyroute2.dhcp.dhcp4socket import AsyncDHCP4Socket
from pyroute2.dhcp.enums import bootp, dhcp
from pyroute2.dhcp.hooks import Hook, Trigger
from pyroute2.dhcp.leases import JSONFileLease, Lease, MissingOptionError
from pyroute2.dhcp.messages import ReceivedDHCPMessage

from llmos import atomicfile

LOG = logging.getLogger("llmos.hal.dhcp")

LeaseCallback = Callable[[str, Trigger, Lease], Awaitable[None]]


@dataclass(frozen=True)
class Timing:
    """Every DHCP delay, multiplied by `scale` (1.0 in service; tests use e.g. 0.02)."""

    scale: float = 1.0
    first_retry: float = 4.0
    max_retry: float = 32.0

    def retransmission(self) -> Iterator[float]:
        delays: Iterator[float] = randomized_increasing_backoff(self.first_retry * self.scale,
                                                                self.max_retry * self.scale)
        return delays

    def timeouts(self) -> dict[fsm.State, float]:
        base = {fsm.State.REBOOTING: 10, fsm.State.REQUESTING: 30, fsm.State.SELECTING: 15 * 60}
        return {state: seconds * self.scale for state, seconds in base.items()}


class StoredLease(JSONFileLease):  # type: ignore[misc]  # pyroute2 ships no type information
    """A lease kept in `directory` (run dir), whose timers are scaled by `time_scale`."""

    directory: ClassVar[Path] = Path("/run/llmos/hal/leases")
    time_scale: ClassVar[float] = 1.0

    @classmethod
    def bound_to(cls, directory: Path, time_scale: float) -> type[StoredLease]:
        return type("StoredLease", (cls,), {"directory": directory, "time_scale": time_scale})

    @classmethod
    def _get_lease_dir(cls) -> Path:
        return cls.directory

    def _seconds_til_timer(self, value: int) -> float | None:
        if value == -1 or value == 0xFFFFFFFF:
            return None  # infinite
        return float(self.obtained + value * self.time_scale - time.time())

    def at(self, seconds_from_now: float | None) -> float | None:
        return None if seconds_from_now is None else time.time() + seconds_from_now

    def dump(self) -> None:
        atomicfile.write_text(self._get_path(self.interface), json.dumps(asdict(self)))

    @classmethod
    def forget(cls, interface: str) -> None:
        cls._get_path(interface).unlink(missing_ok=True)


def _option(lease: Lease, name: str) -> Any:
    try:
        return getattr(lease, name)
    except (MissingOptionError, IndexError, KeyError):
        return None


def describe(lease: Lease) -> dict[str, Any]:
    """A lease as JSON for `llmos net` and events; times are Unix seconds."""
    assert isinstance(lease, StoredLease)
    return {
        "address": f"{lease.ip}/{_option(lease, 'prefixlen') or 32}",
        "gateway": (_option(lease, "routers") or [None])[0],
        "dns": _option(lease, "name_servers") or [],
        "domain": _option(lease, "domain_name"),
        "server": _option(lease, "server_id"),
        "lease_time": _option(lease, "lease_time"),
        "obtained": lease.obtained,
        "renew_at": lease.at(lease.renewal_in),
        "rebind_at": lease.at(lease.rebinding_in),
        "expires_at": lease.at(lease.expiration_in),
    }


def reply_problem(message: ReceivedDHCPMessage, our_mac: str) -> str | None:
    """Why a decoded packet is not a reply we may act on, or None if it is."""
    packet = message.dhcp
    options = packet.get("options") or {}
    if packet.get("op") != bootp.MessageType.BOOTREPLY:
        return "not a BOOTREPLY"
    kind = options.get("message_type")
    if not isinstance(kind, dhcp.MessageType) or kind not in (
            dhcp.MessageType.OFFER, dhcp.MessageType.ACK, dhcp.MessageType.NAK):
        return f"message type {kind!r} is not OFFER/ACK/NAK"
    if str(packet.get("chaddr", "")).lower() != our_mac.lower():
        return f"chaddr {packet.get('chaddr')} is not ours ({our_mac})"
    if kind is dhcp.MessageType.NAK:
        return None
    if packet.get("yiaddr") in (None, "0.0.0.0"):
        return "no yiaddr"
    if kind is dhcp.MessageType.OFFER and not options.get("server_id"):
        return "OFFER without server identifier"
    if kind is dhcp.MessageType.ACK and not isinstance(options.get("lease_time"), int):
        return "ACK without lease time"
    return None


class CheckedSocket(AsyncDHCP4Socket):  # type: ignore[misc]  # pyroute2 ships no type information
    """The pyroute2 raw DHCP socket, but it only ever returns replies that are safe to act on."""

    ignored = 0

    async def get(self) -> ReceivedDHCPMessage:
        while True:
            raw = await self.loop.sock_recv(self, 4096)
            try:
                message = self._decode_msg(raw)
                problem = reply_problem(message, self.l2addr)
            except Exception as error:  # any decoder failure means a malformed packet
                problem = f"malformed ({type(error).__name__}: {error})"
            if problem is None:
                return message
            self.ignored += 1
            LOG.warning("%s: ignoring DHCP packet (%d bytes): %s", self.ifname, len(raw), problem)


class CheckedClient(AsyncDHCPClient):  # type: ignore[misc]  # pyroute2 ships no type information
    def __init__(self, config: ClientConfig) -> None:
        super().__init__(config)
        self._sock = CheckedSocket(config.interface)  # the base class's socket is not open yet

    @property
    def ignored(self) -> int:
        return self._sock.ignored


class DhcpLink:
    """Runs the client for one interface and reports lease changes to `on_lease`."""

    def __init__(self, ifname: str, on_lease: LeaseCallback, lease_dir: Path,
                 timing: Timing = Timing()) -> None:
        self.ifname = ifname
        self.timing = timing
        self.lease_type = StoredLease.bound_to(lease_dir, timing.scale)
        self._on_lease = on_lease
        self.client: CheckedClient | None = None
        self.events = 0  # lease triggers seen, for status and tests

    def _hook(self, trigger: Trigger) -> Hook:
        async def report(lease: Lease) -> None:
            self.events += 1
            await self._on_lease(self.ifname, trigger, lease)
        report.__name__ = f"report_{trigger}"
        return Hook(func=report, triggers={trigger})

    async def start(self) -> None:
        config = ClientConfig(
            interface=self.ifname, lease_type=self.lease_type,
            hooks=[self._hook(trigger) for trigger in Trigger],
            timeouts=self.timing.timeouts(),
            retransmission=self.timing.retransmission,
            handle_signals=False, release=False, write_pidfile=False,
            vendor_id="llmos", host_name=socket.gethostname(),
        )
        self.client = CheckedClient(config)
        await self.client.__aenter__()
        await self.client.bootstrap()

    async def stop(self, forget: bool = False) -> None:
        """Stop the client; `forget` also drops the stored lease (link went down)."""
        client, self.client = self.client, None
        if client is not None:
            with contextlib.suppress(Exception):  # a dead send/receive task must not block shutdown
                await asyncio.wait_for(client.__aexit__(None, None, None), 5)
        if forget:
            self.lease_type.forget(self.ifname)

    def status(self) -> dict[str, Any]:
        client = self.client
        if client is None:
            return {"state": "OFF"}
        return {"state": client.state.name, "ignored_packets": client.ignored,
                "lease": describe(client.lease) if client.lease else None}
