"""Shared setup for the runtime benchmarks: a real kernel side (authority + broker on a Unix socket)
in a background thread, so benchmarked clients can block."""

from __future__ import annotations

import asyncio
import tempfile
import threading
from pathlib import Path

from llmos.ipc import Server
from llmos.kernel.caps import Authority, open_authority
from llmos.kernel.sandbox.broker import Broker
from llmos.kernel.sandbox.storage import AppStorage


class KernelThread:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="llb"))
        self.authority: Authority = open_authority(self.dir / "state")
        self.broker = Broker(self.authority, AppStorage(self.dir / "state" / "apps"))
        self.socket = self.dir / "kernel.sock"
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("kernel thread did not start")

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = Server({**self.broker.handlers(), **self.broker.admin_handlers()}, mode=0o666)
        self.loop.run_until_complete(server.start(self.socket))
        self._ready.set()
        self.loop.run_forever()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
