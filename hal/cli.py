"""`llmos net` and `llmos devices`: read-only views of hal's state over its socket.
--json prints exactly what the service returned, so scripts and in-VM checks parse one format."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from llmos import ipc, paths


def _call(method: str, **params: Any) -> Any:
    try:
        return ipc.call(paths.socket_path("hal"), method, timeout=10, **params)
    except (OSError, ConnectionError, TimeoutError) as error:
        print(f"llmos: hal is not reachable at {paths.socket_path('hal')}: {error}", file=sys.stderr)
        return None


def _in(when: float | None, now: float) -> str:
    if when is None:
        return "never"
    seconds = int(when - now)
    return f"in {seconds}s" if seconds >= 0 else f"{-seconds}s ago"


def format_net(status: dict[str, Any]) -> str:
    if status.get("starting"):
        return "the network is starting: hal is up, and brings its links up next\n"
    if not status.get("managed"):
        return "network is not managed by hal ([network] manage = false)\n"
    now = status.get("now", time.time())
    lines = []
    for link in status["links"]:
        state = "UP" if link["up"] else "DOWN"
        carrier = "carrier" if link["carrier"] else "no-carrier"
        method = link["method"] or "unmanaged"
        lines.append(f"{link['name']:<10} {state:<5} {carrier:<11} {method:<9} {link['mac'] or ''}")
        for address in link["addresses"]:
            lines.append(f"    inet {address}")
        if link["error"]:
            lines.append(f"    error: {link['error']}")
        dhcp = link.get("dhcp")
        if dhcp:
            lease = dhcp.get("lease")
            lines.append(f"    dhcp {dhcp['state']}" + (f", ignored {dhcp['ignored_packets']} bad packets"
                                                         if dhcp.get("ignored_packets") else ""))
            if lease:
                lines.append(f"    lease {lease['address']} from {lease['server']}, {lease['lease_time']}s: "
                             f"renew {_in(lease['renew_at'], now)}, rebind {_in(lease['rebind_at'], now)}, "
                             f"expires {_in(lease['expires_at'], now)}")
    lines.append("routes:")
    for route in status["routes"]:
        via = f" via {route['gateway']}" if route["gateway"] else ""
        lines.append(f"    {route['dst']}{via} dev {route['dev']}")
    for name, error in status.get("errors", {}).items():
        if not any(link["name"] == name for link in status["links"]):
            lines.append(f"config error ({name}): {error}")
    return "\n".join(lines) + "\n"


def run_net(args: argparse.Namespace) -> int:
    status = _call("net")
    if status is None:
        return 1
    sys.stdout.write(json.dumps(status, indent=2) + "\n" if args.json else format_net(status))
    return 0


def run_devices(args: argparse.Namespace) -> int:
    params = {"subsystem": args.subsystem} if args.subsystem else {}
    result = _call("devices", **params)
    if result is None:
        return 1
    if args.json:
        result["input"] = _call("input_devices") or []
        print(json.dumps(result, indent=2))
        return 0
    print(f"# {len(result['devices'])} devices (events from {result['source']})")
    for device in sorted(result["devices"], key=lambda d: (d["subsystem"] or "", d["sys_path"])):
        node = f" {device['node']}" if device["node"] else ""
        print(f"{device['subsystem'] or '-':<12} {device['sys_name']:<24}{node}")
    for item in _call("input_devices") or []:
        print(f"input        {item['id']:<24} {item['kind']:<17} {item['name']}")
    return 0


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    net = subparsers.add_parser("net", help="network links, addresses, routes and DHCP leases")
    net.add_argument("--json", action="store_true", help="print hal's answer as JSON")
    net.set_defaults(run=run_net)
    devices = subparsers.add_parser("devices", help="the device registry and input devices")
    devices.add_argument("--json", action="store_true", help="print hal's answer as JSON")
    devices.add_argument("--subsystem", help="only this subsystem, e.g. input, net, block")
    devices.set_defaults(run=run_devices)
