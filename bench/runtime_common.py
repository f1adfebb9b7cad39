"""Shared setup for the runtime benchmarks: a real kernel side (authority + broker on a Unix socket)
in a background thread, or in a child process, so benchmarked clients can block."""

from __future__ import annotations

import asyncio
import os
import signal
import tempfile
import threading
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path

from llmos.ipc import Handler, Server
from llmos.kernel import busypoll
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
        self.server = Server({**self.broker.handlers(), **self.broker.admin_handlers()}, mode=0o666)
        self.loop.run_until_complete(self.server.start(self.socket))
        self._ready.set()
        self.loop.run_forever()

    def stop(self) -> None:
        """Close the server and the audit log on the kernel's loop, then stop it."""
        async def close() -> None:
            await self.server.close()
            self.authority.audit.close()
        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


ExtraHandlers = Callable[[Broker], Mapping[str, Handler]]


class KernelProcess:
    """The same kernel side in a child process, as in the running system, where an app host and the
    kernel are two processes: the benchmarked client shares no GIL with the kernel's loop.
    `extra(broker)` gives handlers served beside the broker's (a bench's own methods)."""

    def __init__(self, extra: ExtraHandlers | None = None,
                 loop_factory: Callable[[], asyncio.AbstractEventLoop] = busypoll.event_loop) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="llb"))
        self.socket = self.dir / "kernel.sock"
        ready_r, ready_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # the child: serve until SIGTERM, then close the audit log and leave
            os.close(ready_r)
            try:
                with asyncio.Runner(loop_factory=loop_factory) as runner:  # the kernel's own, by default
                    runner.run(self._serve(extra, ready_w))
                os._exit(0)
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(1)
        os.close(ready_w)
        with os.fdopen(ready_r, "rb") as ready:  # one byte once the socket listens, EOF if it died
            if ready.read(1) != b"1":
                os.waitpid(self.pid, 0)
                raise RuntimeError("kernel process did not start")

    async def _serve(self, extra: ExtraHandlers | None, ready: int) -> None:
        authority = open_authority(self.dir / "state")
        broker = Broker(authority, AppStorage(self.dir / "state" / "apps"))
        server = Server({**broker.handlers(), **broker.admin_handlers(), **(extra(broker) if extra else {})},
                        mode=0o600)
        await server.start(self.socket)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        os.write(ready, b"1")
        os.close(ready)
        await stop.wait()
        await server.close()
        authority.audit.close()

    def stop(self) -> None:
        os.kill(self.pid, signal.SIGTERM)
        os.waitpid(self.pid, 0)
