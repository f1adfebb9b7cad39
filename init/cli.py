"""`llmos status | logs | restart | start | stop | poweroff | reboot`: clients of init's control socket."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from llmos import ipc, paths

Command = Callable[[argparse.Namespace], int]


def _call(method: str, **params: Any) -> Any:
    return ipc.call(paths.socket_path("init"), method, timeout=30.0, **params)


def _ago(since: float) -> str:
    seconds = max(0, int(time.time() - since))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"


def _run(fn: Command) -> Command:
    """Wraps a command: connection problems become one line."""

    def wrapped(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except (ConnectionError, FileNotFoundError, TimeoutError) as error:
            print(f"llmos: init is not reachable at {paths.socket_path('init')}: {error}")
            return 2
        except ipc.RpcError as error:
            print(f"llmos: {error.message}")
            return 1

    return wrapped


@_run
def status(_args: argparse.Namespace) -> int:
    result = _call("status")
    print(f"{'SERVICE':<16} {'STATE':<9} {'PID':>7} {'RESTARTS':>8} {'SINCE':>6}  REASON")
    for item in result["services"]:
        pid = item["pid"] if item["pid"] is not None else "-"
        print(f"{item['name']:<16} {item['state']:<9} {pid:>7} {item['restarts']:>8} "
              f"{_ago(item['since']):>6}  {item['reason']}")
    return 0 if all(i["state"] not in ("failed",) for i in result["services"]) else 1


def _print_line(line: dict[str, Any]) -> None:
    stamp = time.strftime("%H:%M:%S", time.localtime(line["at"]))
    print(f"{stamp} {line['text']}", flush=True)


@_run
def logs(args: argparse.Namespace) -> int:
    if args.follow:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_follow(args.service, args.lines))
        return 0
    result = _call("logs", service=args.service, lines=args.lines)
    for line in result["lines"]:
        _print_line(line)
    return 0


async def _follow(service: str, lines: int) -> None:
    client = await ipc.Client.connect(paths.socket_path("init"))
    call = asyncio.ensure_future(client.call("follow", timeout=None, service=service, lines=lines))
    try:
        while not call.done():
            getter = asyncio.ensure_future(client.events.get())
            await asyncio.wait([getter, call], return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                _event, data = getter.result()
                _print_line(data)
            else:
                getter.cancel()
        call.result()
    finally:
        await client.close()


def _simple(method: str) -> Command:
    @_run
    def run(args: argparse.Namespace) -> int:
        params = {"service": args.service} if hasattr(args, "service") else {}
        result = _call(method, **params)
        print(f"{getattr(args, 'service', 'llmos')}: {result.get('state', 'requested')}")
        return 0

    return run


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub = subparsers.add_parser("status", help="services and their states")
    sub.set_defaults(run=status)
    sub = subparsers.add_parser("logs", help="a service's recent output (or 'init')")
    sub.add_argument("service")
    sub.add_argument("-n", "--lines", type=int, default=50)
    sub.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    sub.set_defaults(run=logs)
    for word, text in (("restart", "stop then start a service"), ("start", "start a stopped service"),
                       ("stop", "stop a service (it stays stopped)")):
        sub = subparsers.add_parser(word, help=text)
        sub.add_argument("service")
        sub.set_defaults(run=_simple(word))
    subparsers.add_parser("poweroff", help="stop every service and power off").set_defaults(
        run=_simple("poweroff"))
    subparsers.add_parser("reboot", help="stop every service and reboot").set_defaults(run=_simple("reboot"))
