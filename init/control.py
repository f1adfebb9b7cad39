"""The control socket (paths.socket_path("init")): status, logs, follow, start, stop, restart,
poweroff, reboot. `llmos status|logs|restart|poweroff|reboot` (init/ctl.py) talk to it."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from llmos.ipc import Connection, RpcError, Server

from .logring import LogLine, LogRing
from .supervisor import Runner, Supervisor

FOLLOW_QUEUE = 2500  # a follower that falls this far behind loses lines, PID 1 never waits for it


def _line(line: LogLine) -> dict[str, Any]:
    return {"at": line.at, "text": line.text}


class Control:
    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor
        handlers = {"status": self.status, "logs": self.logs, "follow": self.follow,
                    "start": self.start, "stop": self.stop, "restart": self.restart,
                    "poweroff": self.poweroff, "reboot": self.reboot}
        if os.environ.get("LLMOS_INIT_FAULTS") == "1":  # tests inject failures through this
            handlers["fault"] = self.fault
        self.server = Server(handlers, mode=0o600)

    def _ring(self, params: dict[str, Any]) -> LogRing:
        name = params.get("service")
        if name == "init":
            return self.supervisor.init_log
        return self._runner(params).log

    def _runner(self, params: dict[str, Any]) -> Runner:
        name = params.get("service")
        runner = self.supervisor.runners.get(name) if isinstance(name, str) else None
        if runner is None:
            known = ", ".join(self.supervisor.runners)
            raise RpcError("no-such-service", f"no service {name!r} (known: init, {known})")
        return runner

    async def status(self, _connection: Connection, _params: dict[str, Any]) -> Any:
        return {"services": self.supervisor.status(), "ready": self.supervisor.all_ready,
                "orphans_reaped": self.supervisor.orphans_reaped, "pid": os.getpid()}

    async def logs(self, _connection: Connection, params: dict[str, Any]) -> Any:
        ring = self._ring(params)
        count = params.get("lines", 100)
        if not isinstance(count, int) or count < 0:
            raise RpcError("bad-params", "lines must be a non-negative integer")
        return {"lines": [_line(line) for line in ring.tail(count)], "dropped": ring.dropped}

    async def follow(self, connection: Connection, params: dict[str, Any]) -> Any:
        """Push the last `lines` lines, then each new line, as "log" events until the client goes away.

        The tail is taken in the same step as the subscription, so no line falls between the two."""
        ring = self._ring(params)
        count = params.get("lines", 0)
        if not isinstance(count, int) or count < 0:
            raise RpcError("bad-params", "lines must be a non-negative integer")
        queue: asyncio.Queue[LogLine] = asyncio.Queue(FOLLOW_QUEUE)
        lost = 0

        def listener(line: LogLine) -> None:
            nonlocal lost
            try:
                queue.put_nowait(line)
            except asyncio.QueueFull:
                lost += 1

        ring.listeners.add(listener)
        for line in ring.tail(count):
            queue.put_nowait(line)
        try:
            while not connection.writer.is_closing() and not connection.reader.at_eof():
                try:
                    line = await asyncio.wait_for(queue.get(), 1.0)
                except TimeoutError:
                    continue
                await connection.push("log", _line(line))
        finally:
            ring.listeners.discard(listener)
        return {"lost": lost}

    async def start(self, _connection: Connection, params: dict[str, Any]) -> Any:
        runner = self._runner(params)
        self.supervisor.start(runner)
        return {"state": str(runner.state)}

    async def stop(self, _connection: Connection, params: dict[str, Any]) -> Any:
        runner = self._runner(params)
        await self.supervisor.stop(runner)
        return {"state": str(runner.state)}

    async def restart(self, _connection: Connection, params: dict[str, Any]) -> Any:
        runner = self._runner(params)
        await self.supervisor.restart(runner)
        return {"state": str(runner.state)}

    async def poweroff(self, _connection: Connection, _params: dict[str, Any]) -> Any:
        asyncio.get_running_loop().call_soon(self.supervisor.request_shutdown, "poweroff")
        return {"ok": True}

    async def reboot(self, _connection: Connection, _params: dict[str, Any]) -> Any:
        asyncio.get_running_loop().call_soon(self.supervisor.request_shutdown, "reboot")
        return {"ok": True}

    async def fault(self, _connection: Connection, params: dict[str, Any]) -> Any:
        """Test hook: raise in this handler, in a service's coroutine, or in a loop callback."""
        where = params.get("where")
        if where == "service":
            runner = self._runner(params)
            runner.fault = "requested"
            runner.wake.set()
            return {"ok": True}
        if where == "loop":
            def boom() -> None:
                raise RuntimeError("injected fault in a loop callback")

            asyncio.get_running_loop().call_soon(boom)
            return {"ok": True}
        raise RuntimeError("injected fault in a handler")
