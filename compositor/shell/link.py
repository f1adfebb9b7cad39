"""The shell's connection to the kernel service (paths.socket_path("kernel")).

The kernel starts beside the compositor and may restart, so the link reconnects with backoff and
tells the shell when it comes and goes. Nothing here blocks: calls are awaited in tasks and pushed
events ("flow", "notify", "app") are handed to a callback as they arrive."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from llmos import ipc


class NotConnected(ConnectionError):
    pass


class KernelLink:
    def __init__(self, path: Path, on_event: Callable[[str, Any], None],
                 on_connected: Callable[[bool], None], backoff_max: float = 1.0) -> None:
        self.path = path
        self.on_event = on_event
        self.on_connected = on_connected
        self.backoff_max = backoff_max
        self.client: ipc.Client | None = None
        self.connects = 0

    @property
    def connected(self) -> bool:
        return self.client is not None

    async def call(self, method: str, timeout: float = 30.0, **params: Any) -> Any:
        client = self.client
        if client is None:
            raise NotConnected("the kernel is not connected")
        return await client.call(method, timeout=timeout, **params)

    async def run(self, stop: asyncio.Event) -> None:
        delay = 0.25
        while not stop.is_set():
            try:
                client = await ipc.Client.connect(self.path, timeout=2.0)
                await client.call("subscribe", timeout=5.0, events=["notify", "app"])
            except (OSError, TimeoutError, ipc.RpcError, ConnectionError):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, self.backoff_max)
                continue
            delay = 0.25
            self.client = client
            self.connects += 1
            self.on_connected(True)
            try:
                await self._pump(client, stop)
            finally:
                self.client = None
                await client.close()
                if not stop.is_set():
                    self.on_connected(False)

    async def _pump(self, client: ipc.Client, stop: asyncio.Event) -> None:
        """Hand pushed events over until the connection closes or `stop` is set."""
        closed = asyncio.ensure_future(client.wait_closed())
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while True:
                getter = asyncio.ensure_future(client.events.get())
                done, _ = await asyncio.wait({getter, closed, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    return
                event, data = getter.result()
                try:
                    self.on_event(event, data)
                except Exception as error:  # a shell bug must not drop the connection
                    print(f"shell: event {event!r} failed: {type(error).__name__}: {error}", flush=True)
        finally:
            stopping.cancel()
            closed.cancel()


def plain(error: BaseException) -> str:
    """An error as the words a toast or dialog shows (an RpcError's message, else its text)."""
    message = getattr(error, "message", None) or str(error) or type(error).__name__
    return str(message)
