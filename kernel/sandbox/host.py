"""The app host process: one per running app.

    python3 -m llmos.kernel.sandbox.host --kernel SOCK --control SOCK [--renderer null|wayland]

Reads one JSON object on stdin: {"token", "source" (TypeScript), "filename"?, "limits"?}, so neither
the token nor the code shows in /proc/PID/cmdline or environ. Order matters: everything that needs
privileges (kernel sockets, control socket, compiled wasm cache, renderer connection) is opened
first, then the process confines itself, and only then does app code run.

stdout carries one JSON status line per state change ({"status": "ready" | "error" | "stopped"});
logs go to stderr. Exit code: 0 stopped on request, 1 the app faulted, 125 do not restart (bad
token or code).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from dataclasses import asdict, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from llmos import paths
from llmos.ipc import Client, Connection, ErrorCode, RpcError, Server
from llmos.kernel.sandbox import wasmcache
from llmos.kernel.sandbox.confine import Confinement, UidTable, confine
from llmos.kernel.sandbox.guest import AppFault, Frame, Guest, GuestLimits
from llmos.kernel.sandbox.renderer import NullRenderer, RenderBackend, load_renderer
from llmos.kernel.sandbox.syncrpc import SyncClient
from llmos.kernel.sandbox.transpile import TranspileError, transpile

log = logging.getLogger("llmos.sandbox.host")

EXIT_STOPPED, EXIT_FAULT, EXIT_NO_RESTART = 0, 1, 125


def status_line(**fields: Any) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


class AppHost:
    def __init__(self, args: argparse.Namespace, spec: dict[str, Any]) -> None:
        self.args = args
        self.token: str = spec["token"]
        self.source: str = spec["source"]
        self.filename: str = spec.get("filename", "app.ts")
        self.limits = replace(GuestLimits(), **(spec.get("limits") or {}))
        self.app = "?"
        self.scopes: frozenset[str] = frozenset()
        self.tree: dict[str, Any] | None = None
        self.generation = 0
        self.state = "starting"
        self.stop_reason: dict[str, str] | None = None
        self.exit_code = EXIT_STOPPED
        self.done = asyncio.Event()
        self.t0 = time.monotonic()
        self.clock_offset = 0.0
        self.guest: Guest | None = None
        self.renderer: RenderBackend | None = None
        self.confinement: Confinement | None = None
        self.kernel: SyncClient | None = None
        self.kernel_async: Client | None = None
        self.control = Server(self._control_handlers(), mode=0o600)
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._log_budget = 1000

    def now_ms(self) -> float:
        if self.args.test_clock:  # only 'advance' moves a test clock: no tick lands between a test's steps
            return self.clock_offset
        return (time.monotonic() - self.t0) * 1000.0 + self.clock_offset

    def wall_clock_ms(self) -> float:
        """The apps' clock.now(): real time, moved forward with the test clock by 'advance'."""
        return time.time() * 1000.0 + self.clock_offset

    # -- lifecycle -----------------------------------------------------------------------------
    async def run(self) -> int:
        try:
            code = transpile(self.source, self.filename).code
        except TranspileError as error:
            return self._refuse("load", str(error))
        self.kernel = SyncClient(Path(self.args.kernel))
        try:
            grant = self.kernel.call("app.describe", token=self.token)
        except RpcError as error:
            return self._refuse("denied", error.message)
        self.app, self.scopes = grant["app"], frozenset(grant["scopes"])
        self.kernel_async = await Client.connect(Path(self.args.kernel))
        await self.kernel_async.call("app.watch", token=self.token)  # revocation is pushed here
        self._spawn(self._kernel_events())
        cache = wasmcache.install(Path(self.args.cache) if self.args.cache else None)
        await self.control.start(Path(self.args.control))
        renderer_name = self.args.renderer if "ui:window" in self.scopes else "null"
        self.renderer = load_renderer(renderer_name, self._renderer_event, self.app)
        if self.args.confine:
            table = Path(self.args.uid_table or paths.state_dir() / "sandbox" / "uids.json")
            self.confinement = confine(UidTable(table, self.args.uid_base).uid(self.app), new_netns=True)
        self.guest = Guest(self.scopes, self._host_functions(), self.limits, self.wall_clock_ms)
        try:
            frame = self.guest.load(code, self.now_ms(), self.filename)
        except AppFault as fault:
            status_line(status="stopped", app=self.app, kind=fault.kind, message=fault.message)
            log.error("%s: stopped at load: %s", self.app, fault)
            await self.control.close()
            return EXIT_NO_RESTART if fault.kind == "load" else EXIT_FAULT
        self.state = "running"
        self._apply(frame)
        status_line(status="ready", app=self.app, pid=os.getpid(), control=self.args.control,
                    scopes=sorted(self.scopes), cache=cache,
                    confinement=asdict(self.confinement) if self.confinement else None)
        log.info("%s: running (scopes %s, wasm cache %s)", self.app, ",".join(sorted(self.scopes)), cache)
        loop = asyncio.get_running_loop()
        # Expiry needs no kernel call to notice: stop when the token's time is up.
        expires_in = datetime.fromisoformat(grant["expires"]).timestamp() - time.time()
        loop.call_later(max(0.0, min(expires_in, 86400 * 365)), self.stop, "expired",
                        f"the app's token expired at {grant['expires']}", True)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop, "signal", f"got {signal.Signals(sig).name}")
        await self.done.wait()
        await self._shutdown()
        return self.exit_code

    def _refuse(self, kind: str, message: str) -> int:
        status_line(status="stopped", app=self.app, kind=kind, message=message)
        log.error("%s: not started: %s: %s", self.app, kind, message)
        return EXIT_NO_RESTART

    def stop(self, kind: str, message: str, fault: bool = False) -> None:
        if self.state == "stopped":
            return
        self.state = "stopped"
        self.stop_reason = {"kind": kind, "message": message}
        self.exit_code = EXIT_FAULT if fault else EXIT_STOPPED
        if self._timer:
            self._timer.cancel()
        status_line(status="stopped", app=self.app, kind=kind, message=message)
        (log.error if fault else log.info)("%s: stopped: %s: %s", self.app, kind, message)
        self._spawn(self.control.broadcast("stopped", self.stop_reason))
        self.done.set()

    async def _shutdown(self) -> None:
        await asyncio.sleep(0)  # let the 'stopped' broadcast go out
        for task in list(self._tasks):
            task.cancel()
        if self.renderer:
            self.renderer.close()
        if self.guest:
            self.guest.close()
        await self.control.close()
        if self.kernel_async:
            await self.kernel_async.close()
        if self.kernel:
            self.kernel.close()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- driving the guest ---------------------------------------------------------------------
    def _run(self, entry: Any) -> bool:
        """Run one guest entry then flush; a fatal fault stops the app. Returns False if it did."""
        if self.state != "running" or self.guest is None:
            return False
        try:
            entry()
        except AppFault as fault:
            if fault.fatal:
                self.stop(fault.kind, fault.message, fault=True)
                return False
            self._report_error(fault)
        try:
            self._apply(self.guest.flush(self.now_ms()))
        except AppFault as fault:
            self.stop(fault.kind, fault.message, fault=True)
            return False
        return True

    def _report_error(self, fault: AppFault) -> None:
        log.warning("%s: %s", self.app, fault)
        status_line(status="error", app=self.app, kind=fault.kind, message=fault.message)
        self._spawn(self.control.broadcast("error", {"kind": fault.kind, "message": fault.message}))

    def _apply(self, frame: Frame) -> None:
        if frame.tree is not None and frame.tree != self.tree:
            self.tree = frame.tree
            self.generation += 1
            if self.renderer:
                self.renderer.render(frame.tree)
            self._spawn(self.control.broadcast("tree", {"tree": self.tree, "generation": self.generation}))
        if self._timer:
            self._timer.cancel()
            self._timer = None
        if frame.next_ms is not None:
            self._timer = asyncio.get_running_loop().call_later(max(0.0, frame.next_ms) / 1000.0,
                                                                 self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        guest = self.guest
        if guest is not None:
            self._run(lambda: guest.tick(self.now_ms()))

    def dispatch(self, handler: int, args: list[Any]) -> None:
        guest = self.guest
        if guest is not None:
            self._run(lambda: guest.event(handler, args, self.now_ms()))

    def _renderer_event(self, handler: int, args: list[Any]) -> None:
        self.dispatch(int(handler), list(args))

    # -- host functions: one per granted capability --------------------------------------------
    def _host_functions(self) -> dict[str, Any]:
        def kernel(method: str, **params: Any) -> Any:
            assert self.kernel is not None
            return self.kernel.call(method, token=self.token, **params)

        def envelope(fn: Any) -> Any:
            def call(*args: Any) -> dict[str, Any]:
                try:
                    return {"ok": True, "value": fn(*args)}
                except RpcError as error:
                    if error.code == "denied":
                        log.warning("%s: kernel denied a call: %s", self.app, error.message)
                    return {"ok": False, "error": error.message}
                except Exception as error:
                    return {"ok": False, "error": f"{type(error).__name__}: {error}"}
            return call

        fns: dict[str, Any] = {"log": self._log}
        granted = self.scopes
        if "storage:local" in granted:
            fns["storage_get"] = envelope(lambda key: kernel("app.storage.get", key=key))
            fns["storage_set"] = envelope(lambda key, value: kernel("app.storage.set", key=key, value=value))
            fns["storage_delete"] = envelope(lambda key: kernel("app.storage.delete", key=key))
            fns["storage_keys"] = envelope(lambda: kernel("app.storage.keys"))
        if "notify" in granted:
            fns["notify"] = envelope(lambda text, options: kernel("app.notify", text=text, options=options))
        if "clipboard:read" in granted:
            fns["clipboard_read"] = envelope(lambda: kernel("app.clipboard.read"))
        if "clipboard:write" in granted:
            fns["clipboard_write"] = envelope(lambda text: kernel("app.clipboard.write", text=text))
        if any(scope.startswith("network:") for scope in granted):
            fns["fetch_start"] = envelope(self._fetch_start)
        if any(scope.startswith("bus:") for scope in granted):
            fns["bus_publish"] = envelope(
                lambda channel, message: kernel("app.bus.publish", channel=channel, message=message))
            fns["bus_subscribe"] = envelope(self._bus_subscribe)
        return fns

    def _log(self, level: str, message: str) -> None:
        if self._log_budget > 0:
            self._log_budget -= 1
            log.info("%s: console.%s: %s", self.app, level, str(message)[:500])

    def _fetch_start(self, pending_id: int, url: str, options: str) -> None:
        async def fetch() -> None:
            assert self.kernel_async is not None
            try:
                result = await self.kernel_async.call("app.net.fetch", token=self.token, url=url,
                                                      options=options, timeout=30.0)
                ok, value = True, result
            except RpcError as error:
                ok, value = False, error.message
            except (TimeoutError, ConnectionError) as error:
                ok, value = False, f"net.fetch failed: {type(error).__name__}"
            guest = self.guest
            if guest is not None:
                self._run(lambda: guest.settle(int(pending_id), ok, value, self.now_ms()))
        self._spawn(fetch())

    def _bus_subscribe(self, channel: str) -> None:
        if f"bus:{channel}" not in self.scopes:
            raise PermissionError(f"bus.subscribe {channel}: needs 'bus:{channel}', which was not granted")

        async def subscribe() -> None:
            assert self.kernel_async is not None
            try:
                await self.kernel_async.call("app.bus.subscribe", token=self.token, channel=channel)
            except RpcError as error:
                self._report_error(AppFault("error", f"bus.subscribe {channel}: {error.message}"))
        self._spawn(subscribe())

    async def _kernel_events(self) -> None:
        assert self.kernel_async is not None
        while True:
            event, data = await self.kernel_async.events.get()
            # one malformed push must not end this loop: revocation is delivered through it
            try:
                self._kernel_event(event, data)
            except Exception as error:
                log.warning("ignored a malformed %s event from the kernel: %r", event, error)

    def _kernel_event(self, event: str, data: Any) -> None:
        guest = self.guest
        if event == "caps.revoked":
            reason = data.get("reason") if isinstance(data, dict) else None
            self.stop("revoked", str(reason or "token revoked"), fault=True)
        elif event == "bus.message" and guest is not None:
            channel, message, sender = data["channel"], data["message"], data["from"]
            if not all(isinstance(v, str) for v in (channel, message, sender)):
                raise ValueError("bus.message fields are strings")
            self._run(lambda: guest.deliver(channel, message, sender, self.now_ms()))

    # -- control socket (the manager, tests, the shell) ----------------------------------------
    def _control_handlers(self) -> dict[str, Any]:
        async def tree(connection: Connection, params: dict[str, Any]) -> dict[str, Any]:
            return {"tree": self.tree, "generation": self.generation, "state": self.state}

        async def event(connection: Connection, params: dict[str, Any]) -> dict[str, Any]:
            handler, args = params.get("handler"), params.get("args") or []
            if not isinstance(handler, int) or not isinstance(args, list):
                raise RpcError(ErrorCode.BAD_REQUEST, "event needs an integer handler and a list of args")
            self.dispatch(handler, args)
            return await tree(connection, params)

        async def status(connection: Connection, params: dict[str, Any]) -> dict[str, Any]:
            memory = self.guest.memory_usage().get("memory_used_size") if self.guest and \
                self.state == "running" else None
            return {"app": self.app, "state": self.state, "reason": self.stop_reason, "pid": os.getpid(),
                    "scopes": sorted(self.scopes), "memory_used": memory,
                    "confinement": asdict(self.confinement) if self.confinement else None}

        async def subscribe(connection: Connection, params: dict[str, Any]) -> bool:
            connection.subscriptions.update(params.get("events") or ["*"])
            return True

        async def stop(connection: Connection, params: dict[str, Any]) -> bool:
            self.stop("requested", str(params.get("reason", "stop requested")))
            return True

        async def advance(connection: Connection, params: dict[str, Any]) -> dict[str, Any]:
            if not self.args.test_clock:
                raise RpcError(ErrorCode.DENIED, "the clock can be advanced only with --test-clock")
            self.clock_offset += float(params.get("ms", 0))
            self._on_timer()
            return await tree(connection, params)

        return {"tree": tree, "event": event, "status": status, "subscribe": subscribe, "stop": stop,
                "advance": advance}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="llmos.kernel.sandbox.host", description=__doc__.split("\n")[0])
    parser.add_argument("--kernel", required=True, help="the kernel's app-call socket")
    parser.add_argument("--control", required=True, help="where to serve this app's control socket")
    parser.add_argument("--renderer", default="null", help="null | wayland | a module path")
    parser.add_argument("--cache", default="", help="compiled wasm cache directory")
    parser.add_argument("--uid-base", type=int, default=100_000)
    parser.add_argument("--uid-table", default="", help="the persisted app id -> uid table (JSON)")
    parser.add_argument("--no-confine", dest="confine", action="store_false")
    parser.add_argument("--test-clock", action="store_true",
                        help="the app's clock moves only by 'advance' on the control socket")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format=f"app-host[{os.getpid()}] %(name)s: %(message)s")
    try:
        spec = json.loads(sys.stdin.read())
        if not isinstance(spec, dict) or not isinstance(spec.get("token"), str) \
                or not isinstance(spec.get("source"), str):
            raise ValueError("stdin must hold {\"token\": str, \"source\": str}")
    except ValueError as error:
        status_line(status="stopped", app="?", kind="load", message=f"bad launch spec: {error}")
        return EXIT_NO_RESTART
    host = AppHost(args, spec)
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(host.run())
    return EXIT_STOPPED


__all__ = ["AppHost", "NullRenderer", "main"]


if __name__ == "__main__":
    sys.exit(main())
