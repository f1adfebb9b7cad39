"""The control socket (paths.socket_path("init")): status, logs, follow, start, stop, restart,
poweroff, reboot. `llmos status|logs|restart|poweroff|reboot` (init/cli.py) talk to it."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from llmos.ipc import Connection, ErrorCode, RpcError, Server, handlers, rpc

from .logring import LogLine, LogRing
from .supervisor import Runner, Supervisor

FOLLOW_QUEUE = 2500  # a follower that falls this far behind loses lines, PID 1 never waits for it
FAULTS_ENV = "LLMOS_INIT_FAULTS"  # "1": serve the `fault` method, through which tests inject failures


def _line(line: LogLine) -> dict[str, Any]:
    return {"at": line.at, "text": line.text}


class Control:
    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor
        methods = handlers(self)
        if os.environ.get(FAULTS_ENV) != "1":
            del methods["fault"]
        self.server = Server(methods, mode=0o600)

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
            raise RpcError(ErrorCode.NO_SUCH_SERVICE, f"no service {name!r} (known: init, {known})")
        return runner

    @rpc("status")
    async def rpc_status(self, _connection: Connection, _params: dict[str, Any]) -> Any:
        return {"services": self.supervisor.status(), "ready": self.supervisor.all_ready,
                "orphans_reaped": self.supervisor.orphans_reaped, "pid": os.getpid()}

    @rpc("logs")
    async def rpc_logs(self, _connection: Connection, params: dict[str, Any]) -> Any:
        ring = self._ring(params)
        count = params.get("lines", 100)
        if not isinstance(count, int) or count < 0:
            raise RpcError(ErrorCode.BAD_REQUEST, "lines must be a non-negative integer")
        return {"lines": [_line(line) for line in ring.tail(count)], "dropped": ring.dropped}

    @rpc("follow")
    async def rpc_follow(self, connection: Connection, params: dict[str, Any]) -> Any:
        """Push the last `lines` lines, then each new line, as "log" events until the client goes away.

        The tail is taken in the same step as the subscription, so no line falls between the two."""
        ring = self._ring(params)
        count = params.get("lines", 0)
        if not isinstance(count, int) or count < 0:
            raise RpcError(ErrorCode.BAD_REQUEST, "lines must be a non-negative integer")
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

    @rpc("start")
    async def rpc_start(self, _connection: Connection, params: dict[str, Any]) -> Any:
        runner = self._runner(params)
        self.supervisor.start(runner)
        return {"state": str(runner.state)}

    @rpc("stop")
    async def rpc_stop(self, _connection: Connection, params: dict[str, Any]) -> Any:
        runner = self._runner(params)
        await self.supervisor.stop(runner)
        return {"state": str(runner.state)}

    @rpc("restart")
    async def rpc_restart(self, _connection: Connection, params: dict[str, Any]) -> Any:
        runner = self._runner(params)
        await self.supervisor.restart(runner)
        return {"state": str(runner.state)}

    @rpc("poweroff")
    async def rpc_poweroff(self, _connection: Connection, _params: dict[str, Any]) -> Any:
        asyncio.get_running_loop().call_soon(self.supervisor.request_shutdown, "poweroff")
        return {"ok": True}

    @rpc("reboot")
    async def rpc_reboot(self, _connection: Connection, _params: dict[str, Any]) -> Any:
        asyncio.get_running_loop().call_soon(self.supervisor.request_shutdown, "reboot")
        return {"ok": True}

    @rpc("fault")
    async def rpc_fault(self, _connection: Connection, params: dict[str, Any]) -> Any:
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
