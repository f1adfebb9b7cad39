"""The kernel service's socket, from a command-line process: is it there, one call, a connection.
`llmos app` uses it for list/ps/stop, and kernel/flow/client.py to run flows in the kernel."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from llmos import ipc, paths


class KernelUnavailable(Exception):
    """No kernel service answers here; the caller falls back to the in-process flow."""


def available() -> bool:
    """The kernel's socket exists (LLMOS_NO_KERNEL=1 forces the in-process path, for development)."""
    return not os.environ.get("LLMOS_NO_KERNEL") and paths.socket_path("kernel").exists()


async def connect() -> ipc.Client:
    try:
        return await ipc.Client.connect(paths.socket_path("kernel"))
    except PermissionError:
        raise PermissionError("the kernel socket is root-only: run llmos app as root") from None
    except (FileNotFoundError, ConnectionRefusedError, TimeoutError) as error:
        raise KernelUnavailable(str(error)) from None


def call(method: str, **params: Any) -> Any:
    async def once() -> Any:
        client = await connect()
        try:
            return await client.call(method, **params)
        finally:
            await client.close()
    return asyncio.run(once())


def list_json(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """apps.list rows in the in-process `llmos app list --json` shape (the registry record's names)."""
    return [{"codeHash": a["hash"], "prompt": a["prompt"], "llmModel": a["model"],
             "capabilities": a["capabilities"], "optionalCapabilities": a.get("optional", []),
             "rating": a["rating"], "audited": a.get("audited", False),
             "generatedAt": a.get("generatedAt", ""), "parent": a.get("parent"), "title": a["title"]}
            for a in items]
