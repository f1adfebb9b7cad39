"""Where net.fetch may connect, checked on the address rather than the name.

The scope check (network:HOST) is on the name in the URL. A name is only a pointer: a host the user
granted can answer DNS with 127.0.0.1, 10.0.0.1 or 169.254.169.254 (DNS rebinding), and the kernel,
which fetches for every app, would then reach its own machine, the local network or a cloud metadata
service. So the kernel resolves the name once, refuses if any answer is such an address, and connects to
the address it checked (the name still goes in the Host header and TLS's SNI and certificate check).

A host that is itself literally such an address (network:127.0.0.1:8080) is the user's explicit choice:
that grant can only be made by naming the address exactly, never through network:*.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

METADATA = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200"))


async def system_resolver(host: str, port: int) -> list[str]:
    """The C library's answer (getaddrinfo), addresses only."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def literal(host: str) -> Address | None:
    """The address a host that is written as one stands for, in every form the C library accepts
    (127.1, 2130706433, 0x7f.0.0.1, [::1]); None for a name."""
    bare = host.strip("[]").split("%")[0]
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        pass
    if re.fullmatch(r"(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}", bare.lower()):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(bare))
        except OSError:
            return None
    return None


def blocked(address: str | Address) -> str | None:
    """Why the kernel must not connect there for an app, in words; None for a public address."""
    ip = address if not isinstance(address, str) else ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in METADATA:
        return "a cloud metadata service"
    if ip.is_loopback or ip.is_unspecified:
        return "this machine"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_private:
        return "a private network address"
    if ip.is_multicast or ip.is_reserved or not ip.is_global:
        return "not a public internet address"
    return None


class AddressRefused(Exception):
    """The host is, or resolves to, an address an app may not reach."""


async def checked_address(host: str, port: int, *, exact_grant: bool, resolve: Resolver) -> str:
    """The one address to connect to for `host`. A literal address is used as it is, and a non-public
    one only when the grant names it exactly; a name is resolved once and refused if any answer is
    not public (a rebinding answer often mixes a public address with a private one)."""
    address = literal(host)
    if address is not None:
        why = blocked(address)
        if why is not None and not exact_grant:
            raise AddressRefused(f"{host} is {why}; only a grant naming it exactly reaches it")
        return str(address)
    answers = await resolve(host, port)
    if not answers:
        raise AddressRefused(f"{host} did not resolve to any address")
    for answer in answers:
        why = blocked(answer)
        if why is not None:
            raise AddressRefused(f"{host} resolves to {answer}, {why}, which apps may not reach")
    return answers[0].split("%")[0]


__all__ = ["AddressRefused", "Resolver", "blocked", "checked_address", "literal", "system_resolver"]
