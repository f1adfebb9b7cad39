"""`llmos app ...` through the running kernel service, so the model is loaded once (in the kernel)
and apps run under the kernel's broker. The CLI answers the flow's questions on the terminal with
the same TerminalDecisions as the in-process flow and prints the same events."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from types import SimpleNamespace
from typing import Any

from llmos import ipc, paths
from llmos.kernel.flow import Ask, Event

FLOW_FIELDS = ("flow", "event", "asks")  # the kernel's envelope and its alias of 'capabilities'


class KernelUnavailable(Exception):
    """No kernel service answers here; the caller falls back to the in-process flow."""


def available() -> bool:
    """The kernel's socket exists (LLMOS_NO_KERNEL=1 forces the in-process path, for development)."""
    return not os.environ.get("LLMOS_NO_KERNEL") and paths.socket_path("kernel").exists()


async def _connect() -> ipc.Client:
    try:
        return await ipc.Client.connect(paths.socket_path("kernel"))
    except PermissionError:
        raise PermissionError("the kernel socket is root-only: run llmos app as root") from None
    except (FileNotFoundError, ConnectionRefusedError, TimeoutError) as error:
        raise KernelUnavailable(str(error)) from None


def call(method: str, **params: Any) -> Any:
    async def once() -> Any:
        client = await _connect()
        try:
            return await client.call(method, **params)
        finally:
            await client.close()
    return asyncio.run(once())


def _as_event(data: dict[str, Any]) -> Event:
    """The kernel's flow event back in the flow's own shape (what `--json` prints in-process too)."""
    return Event(data["event"], {k: v for k, v in data.items() if k not in FLOW_FIELDS})


def drive(args: argparse.Namespace, decisions: Any, show: Any, method: str, **params: Any) -> int:
    """Run one flow in the kernel; returns the CLI exit status (0 launched/saved/approved)."""

    async def main() -> int:
        client = await _connect()
        flow = None
        try:
            flow = (await client.call(method, **params))["flow"]
            status = 1
            while True:
                name, data = await client.events.get()
                if name != "flow" or data.get("flow") != flow:
                    continue
                kind = data["event"]
                if kind == "finished":
                    return status
                event = _as_event(data)
                if args.json:
                    print(json.dumps(event.to_json()), flush=True)
                else:
                    show(event)
                if kind in ("launched", "saved", "approved"):
                    status = 0
                elif kind in ("failed", "cancelled"):
                    status = 1
                elif kind == "offered-cached":
                    match = SimpleNamespace(score=float(data.get("score", 0)))
                    record = SimpleNamespace(prompt=data.get("prompt", ""),
                                             short=str(data.get("codeHash", ""))[7:19])
                    accept = await decisions.accept_cached(match, record)
                    await client.call("flow.answer", flow=flow, accept_cached=bool(accept))
                elif kind == "needs-approval":
                    asks = [Ask(a["scope"], a["words"], bool(a["required"])) for a in data.get("asks", [])]
                    granted = await decisions.approve(asks)
                    await client.call("flow.approve", flow=flow, granted=sorted(granted))
        except ipc.RpcError as error:
            print(f"llmos app: {error.message}", file=sys.stderr)
            return 1
        except asyncio.CancelledError:
            if flow is not None:
                await client.call("flow.cancel", flow=flow)
            raise
        finally:
            await client.close()

    return asyncio.run(main())


def list_json(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """apps.list rows in the in-process `llmos app list --json` shape (record field names)."""
    return [{"codeHash": a["hash"], "prompt": a["prompt"], "llmModel": a["model"],
             "capabilities": a["capabilities"], "optionalCapabilities": a.get("optional", []),
             "rating": a["rating"], "audited": a.get("audited", False),
             "generatedAt": a.get("generatedAt", ""), "parent": a.get("parent"), "title": a["title"]}
            for a in items]
