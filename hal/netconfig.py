"""Parse and validate [network] from llmos.toml.

A bad interface entry must leave that link down rather than half-configured, so every problem is
collected up front with its location ("network.interfaces.eth0.address: ...") and the link manager
refuses to touch a link whose entry has an error.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmos import paths
from llmos.settings import NetworkSettings

ALLOWED_KEYS = {"address", "gateway", "dns", "dhcp", "search"}


@dataclass(frozen=True)
class InterfaceConfig:
    """What to do with one named link: DHCP (address None) or a static address."""

    name: str
    dhcp: bool
    address: ipaddress.IPv4Interface | None = None
    gateway: ipaddress.IPv4Address | None = None
    dns: tuple[ipaddress.IPv4Address, ...] = ()
    search: tuple[str, ...] = ()


@dataclass
class NetworkConfig:
    manage: bool
    dhcp: bool  # DHCP on wired links that have no entry of their own
    interfaces: dict[str, InterfaceConfig] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # interface name -> located error
    resolv_conf: Path = field(default_factory=lambda: paths.run_dir() / "resolv.conf")

    def for_link(self, name: str) -> InterfaceConfig | None:
        """The config for a link, or None when the link is not ours to configure."""
        if name in self.interfaces:
            return self.interfaces[name]
        if name in self.errors or not self.dhcp:
            return None
        return InterfaceConfig(name=name, dhcp=True)


class ConfigError(ValueError):
    """A located problem in one [network.interfaces.NAME] table."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where


def _ipv4(where: str, value: Any) -> ipaddress.IPv4Address:
    if not isinstance(value, str):
        raise ConfigError(where, f"expected an IPv4 address string, got {type(value).__name__}")
    try:
        return ipaddress.IPv4Address(value)
    except ValueError:
        raise ConfigError(where, f"{value!r} is not an IPv4 address") from None


def parse_interface(name: str, table: Any) -> InterfaceConfig:
    where = f"network.interfaces.{name}"
    if not isinstance(table, dict):
        raise ConfigError(where, "expected a table, e.g. { address = \"10.0.0.5/24\" }")
    unknown = sorted(set(table) - ALLOWED_KEYS)
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}",
                          f"unknown key; allowed keys are {', '.join(sorted(ALLOWED_KEYS))}")
    dhcp = table.get("dhcp", "address" not in table)
    if not isinstance(dhcp, bool):
        raise ConfigError(f"{where}.dhcp", "expected true or false")
    address = None
    if "address" in table:
        if dhcp:
            raise ConfigError(where, "has both dhcp = true and a static address; choose one")
        raw = table["address"]
        if not isinstance(raw, str) or "/" not in raw:
            raise ConfigError(f"{where}.address",
                              f"{raw!r} needs a prefix length, e.g. \"10.0.0.5/24\"")
        try:
            address = ipaddress.IPv4Interface(raw)
        except ValueError as error:
            raise ConfigError(f"{where}.address", f"{raw!r} is not an IPv4 address/prefix: {error}") \
                from None
        if address.ip in (address.network.network_address, address.network.broadcast_address) \
                and address.network.prefixlen < 31:
            raise ConfigError(f"{where}.address", f"{raw} is the network or broadcast address")
    elif not dhcp:
        raise ConfigError(where, "needs an address (static) or dhcp = true")
    gateway = None
    if "gateway" in table:
        if address is None:
            raise ConfigError(f"{where}.gateway", "a gateway needs a static address")
        gateway = _ipv4(f"{where}.gateway", table["gateway"])
        if gateway not in address.network:
            raise ConfigError(f"{where}.gateway", f"{gateway} is outside {address.network}")
    dns_raw = table.get("dns", [])
    if not isinstance(dns_raw, list):
        raise ConfigError(f"{where}.dns", "expected a list of addresses, e.g. [\"1.1.1.1\"]")
    dns = tuple(_ipv4(f"{where}.dns[{i}]", item) for i, item in enumerate(dns_raw))
    search_raw = table.get("search", [])
    if not isinstance(search_raw, list) or not all(isinstance(s, str) for s in search_raw):
        raise ConfigError(f"{where}.search", "expected a list of domain names")
    return InterfaceConfig(name, dhcp, address, gateway, dns, tuple(search_raw))


def parse_network(network: NetworkSettings) -> NetworkConfig:
    """Build a NetworkConfig from the [network] settings; errors land in .errors (per interface)
    instead of raising."""
    config = NetworkConfig(manage=network.manage, dhcp=network.dhcp)
    if network.resolv_conf is not None:
        config.resolv_conf = Path(network.resolv_conf)
    interfaces = network.interfaces
    if not isinstance(interfaces, Mapping):
        config.errors["*"] = "network.interfaces: expected a table of tables"
        return config
    for name, table in interfaces.items():
        try:
            config.interfaces[name] = parse_interface(name, table)
        except ConfigError as error:
            config.errors[name] = str(error)
    return config
