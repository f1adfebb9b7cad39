"""The app host process: one per running app.

    python3 -m llmos.kernel.sandbox.host --kernel SOCK --control SOCK [--renderer null|wayland]

Reads one JSON object on stdin: {"token", "source" (TypeScript), "filename"?, "limits"?}, so neither
the token nor the code shows in /proc/PID/cmdline or environ. Order matters: everything that needs
privileges (kernel sockets, control socket, compiled wasm cache, renderer connection) is opened
first, then the process confines itself, and only then does app code run.

stdout carries one JSON status line per state change ({"status": "ready" | "error" | "stopped"}),
cut to size and never blocking (status.py); logs go to stderr. Exit code: 0 stopped on request, 1 the
app faulted, 125 do not restart (bad token or code).

Besides the guest's per-callback deadlines, the host enforces two limits of its own: a CPU budget
over everything the app makes this process do, painting included (cpu.py), and a hard watchdog
thread for work that never comes back to the event loop at all (stall.py).
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

from llmos import ipc, paths
from llmos.ipc import Client, Connection, ErrorCode, RpcError, Server, rpc
from llmos.kernel.sandbox import notify, wasmcache
from llmos.kernel.sandbox.appcalls import HostCalls
from llmos.kernel.sandbox.bus import Bus
from llmos.kernel.sandbox.confine import Confinement, UidTable, confine
from llmos.kernel.sandbox.cpu import CpuBudget
from llmos.kernel.sandbox.guest import AppFault, Frame, Guest
from llmos.kernel.sandbox.hostfn import HostFunctionError
from llmos.kernel.sandbox.limits import GuestLimits
from llmos.kernel.sandbox.renderer import NullRenderer, RenderBackend, load_renderer
from llmos.kernel.sandbox.stall import StallWatchdog
from llmos.kernel.sandbox.status import StatusWriter, cut, encode
from llmos.kernel.sandbox.syncrpc import SyncClient
from llmos.kernel.sandbox.transpile import TranspileError, transpile
from llmos.ratelimit import TokenBucket

log = logging.getLogger("llmos.sandbox.host")

EXIT_STOPPED, EXIT_FAULT, EXIT_NO_RESTART = 0, 1, 125

STALL_GRACE_S = 1.0     # past a callback's deadline before the watchdog thread ends the host
CPU_CHECK_S = 0.1       # how often the CPU budget is checked between entries (painting, idle)
INPUT_GRACE_S = 0.5     # after a person's input the work it causes is theirs, not the app's abuse
WAKE_CHARGE_S = 0.003   # each timer wake-up costs the system more than this process's own CPU


class AppHost:
    def __init__(self, args: argparse.Namespace, spec: dict[str, Any],
                 status: StatusWriter | None = None) -> None:
        self.args = args
        self.status = status or StatusWriter()
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
        self.control = Server(ipc.handlers(self), mode=0o600)
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._log_budget = 1000
        # The first moments of a window cost what no later frame does (fonts, the first buffers, a
        # full-screen first paint; 0.8-1 s of CPU under TCG): the start allowance, an amount of CPU
        # scaled with the machine's speed like the budget (speed.py), covers them.
        self.cpu = CpuBudget(self.limits.cpu_ms_per_s, allowance_ms=self.limits.start_cpu_ms)
        self.stall = StallWatchdog(self._stalled, EXIT_FAULT)
        self._input_at = -INPUT_GRACE_S
        self._errors = TokenBucket(capacity=10, per_second=2)  # error reports: lines and broadcasts
        self._errors_suppressed = 0
        self.calls = HostCalls(self)  # calls to and from other apps, through the kernel

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
        self.stall.start()
        self.stall.arm(self.limits.load_deadline_s + STALL_GRACE_S, "the app's code at load")
        try:
            frame = self._checked(self.guest.load(code, self.now_ms(), self.filename))
        except AppFault as fault:
            return await self._fail_load(fault.kind, fault.message,
                                         EXIT_NO_RESTART if fault.kind == "load" else EXIT_FAULT)
        except Exception as error:  # a host bug must still end in a status line, not a bare traceback
            log.exception("%s: internal error at load", self.app)
            return await self._fail_load("internal", f"{type(error).__name__}: {error}", EXIT_FAULT)
        await self._provide()  # before anything is scheduled: awaiting the kernel lets nothing of the app run
        self.state = "running"
        self._apply(frame)
        self.stall.arm(self._idle_limit(), "the app host's event loop")
        self.cpu.reset(time.monotonic())
        self._cpu_tick()
        self._spawn(self._kernel_gone())
        self.status.write(status="ready", app=self.app, pid=os.getpid(), control=self.args.control,
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

    async def _provide(self) -> None:
        """Tell the kernel what the app provides to other apps (every host does, with [] for nothing,
        so the kernel knows the app runs), before it is ready: a caller waiting for it to start can
        call it at once."""
        assert self.guest is not None and self.kernel_async is not None
        try:
            functions = self.guest.provided()
            await self.kernel_async.call("app.provide", token=self.token, functions=functions, timeout=10.0)
        except (AppFault, RpcError, TimeoutError, ConnectionError) as error:
            log.warning("%s: other apps cannot call it: %s", self.app, error)

    def _refuse(self, kind: str, message: str) -> int:
        self.status.write(status="stopped", app=self.app, kind=kind, message=message)
        log.error("%s: not started: %s: %s", self.app, kind, cut(message))
        return EXIT_NO_RESTART

    async def _fail_load(self, kind: str, message: str, code: int) -> int:
        self.stall.stop()
        self.status.write(status="stopped", app=self.app, kind=kind, message=message)
        log.error("%s: stopped at load: %s: %s", self.app, kind, cut(message))
        await self.control.close()
        return code

    def _idle_limit(self) -> float:
        """How long the loop may be away between entries (painting a large tree, say)."""
        return self.limits.load_deadline_s + STALL_GRACE_S

    def _stalled(self, message: str) -> None:
        """On the watchdog thread, with the main thread stuck: report straight to the pipe. The
        leading newline ends any line the main thread left half written."""
        with contextlib.suppress(OSError):
            os.write(self.status.fd, b"\n" + encode({"status": "stopped", "app": self.app,
                                                     "kind": "deadline", "message": message}))
        log.error("%s: stopped: deadline: %s", self.app, message)

    def stop(self, kind: str, message: str, fault: bool = False) -> None:
        if self.state == "stopped":
            return
        self.state = "stopped"
        self.exit_code = EXIT_FAULT if fault else EXIT_STOPPED
        message = cut(message)
        self.stop_reason = {"kind": kind, "message": message}
        if self._timer:
            self._timer.cancel()
        self.status.write(status="stopped", app=self.app, kind=kind, message=message)
        (log.error if fault else log.info)("%s: stopped: %s: %s", self.app, kind, message)
        self._spawn(self.control.broadcast("stopped", self.stop_reason))
        self.done.set()

    async def _shutdown(self) -> None:
        await asyncio.sleep(0)  # let the 'stopped' broadcast go out
        self.stall.stop()
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
    def _run(self, entry: Any, what: str = "a callback") -> bool:
        """Run one guest entry then flush, under the watchdog thread; a fatal fault, an internal
        error or an exhausted CPU budget stops the app. Returns False if it did."""
        if self.state != "running" or self.guest is None:
            return False
        self.stall.arm(self.limits.deadline_s + STALL_GRACE_S, what)
        try:
            return self._entry(self.guest, entry)
        finally:
            self.stall.arm(self._idle_limit(), "the app host's event loop")

    def _entry(self, guest: Guest, entry: Any) -> bool:
        try:
            try:
                entry()
            except AppFault as fault:
                if fault.fatal:
                    self.stop(fault.kind, fault.message, fault=True)
                    return False
                self._report_error(fault)
            self._apply(self._checked(guest.flush(self.now_ms())))
        except AppFault as fault:
            self.stop(fault.kind, fault.message, fault=True)
            return False
        except Exception as error:  # a host bug: stop with a reason rather than run on half-updated
            log.exception("%s: internal error", self.app)
            self.stop("internal", f"{type(error).__name__}: {error}", fault=True)
            return False
        return self._check_cpu()

    def _checked(self, frame: Frame) -> Frame:
        """Only the timer hooks ask for a wake-up, and they exist only with the timer capability:
        a wake-up without it is a forged answer that would re-render the app in a loop."""
        if frame.next_ms is not None and "timer" not in self.scopes:
            raise AppFault("tree", f"the render answer asks for a wake-up in {frame.next_ms:g} ms, "
                                   "but the app has no timer capability")
        return frame

    def _check_cpu(self) -> bool:
        if self.state != "running":
            return False
        now = time.monotonic()
        over = self.cpu.over(now)
        if over is None or now - self._input_at < INPUT_GRACE_S:
            return True
        self.stop("cpu", over, fault=True)
        return False

    def _cpu_tick(self) -> None:
        """Between entries: painting and everything else the app caused count too. The tick also
        tells the watchdog thread that the event loop is still turning."""
        if self._check_cpu():
            self.stall.arm(self._idle_limit(), "the app host's event loop")
            asyncio.get_running_loop().call_later(CPU_CHECK_S, self._cpu_tick)

    def _report_error(self, fault: AppFault) -> None:
        """A thrown error is reported and survived; reports are rate-limited, so an app that
        throws in a loop costs the manager and subscribers a bounded number of lines."""
        if self._errors.take(time.monotonic()) > 0:
            self._errors_suppressed += 1
            return
        message, suppressed = cut(fault.message), self._errors_suppressed
        self._errors_suppressed = 0
        log.warning("%s: %s: %s", self.app, fault.kind, message)
        self.status.write(status="error", app=self.app, kind=fault.kind, message=message,
                          suppressed=suppressed)
        self._spawn(self.control.broadcast("error", {"kind": fault.kind, "message": message,
                                                     "suppressed": suppressed}))

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
        """A timer wake-up the app asked for. Each is charged WAKE_CHARGE_S on top of the CPU it
        uses here, for what it costs elsewhere (the frame it makes the compositor draw, the tree
        sent to subscribers): an interval of 0 ms is then over budget wherever it runs, while a
        60 fps animation stays well within."""
        self._timer = None
        self.cpu.charge(WAKE_CHARGE_S)
        guest = self.guest
        if guest is not None:
            self._run(lambda: guest.tick(self.now_ms()), "a timer callback")

    def dispatch(self, handler: int, args: list[Any]) -> None:
        """A person's input (the renderer, or the control socket on their behalf)."""
        self._input_at = time.monotonic()
        guest = self.guest
        if guest is not None:
            self._run(lambda: guest.event(handler, args, self.now_ms()), "an event handler")

    def _renderer_event(self, handler: int, args: list[Any]) -> None:
        self.dispatch(int(handler), list(args))

    # -- host functions: one per granted capability --------------------------------------------
    def _host_functions(self) -> dict[str, Any]:
        """Each answers with its value and fails by raising (hostfn.py; the guest wraps them)."""
        def kernel(method: str, **params: Any) -> Any:
            """One blocking kernel call; the kernel's time on it is charged to the app's CPU budget
            (its wall time less what this process spent on it, which the clock counts already). A
            refusal fails the host function with the kernel's reason (hostfn.py)."""
            assert self.kernel is not None
            wall, cpu = time.monotonic(), time.process_time()
            try:
                return self.kernel.call(method, token=self.calls.token, **params)
            except RpcError as error:
                if error.code == "denied":
                    log.warning("%s: kernel denied a call: %s", self.app, error.message)
                raise HostFunctionError(error.message) from None
            finally:
                self.cpu.charge((time.monotonic() - wall) - (time.process_time() - cpu))

        def send_notify(text: Any, options: Any) -> Any:
            options = str(options)
            if (refusal := notify.options_too_large(options)) is not None:
                raise ValueError(refusal)  # refused here: 3 MB of options never reach the kernel
            return kernel("app.notify", text=notify.cut_text(text), options=options)

        def bus_publish(channel: Any, message: Any) -> Any:
            message = str(message)
            if len(message) > Bus.MAX_MESSAGE:
                raise ValueError(f"bus message over {Bus.MAX_MESSAGE} bytes")
            return kernel("app.bus.publish", channel=channel, message=message)

        fns: dict[str, Any] = {"log": self._log}
        granted = self.scopes
        if "storage:local" in granted:
            fns["storage_get"] = lambda key: kernel("app.storage.get", key=key)
            fns["storage_set"] = lambda key, value: kernel("app.storage.set", key=key, value=value)
            fns["storage_delete"] = lambda key: kernel("app.storage.delete", key=key)
            fns["storage_keys"] = lambda: kernel("app.storage.keys")
        if "notify" in granted:
            fns["notify"] = send_notify
        if "clipboard:read" in granted:
            fns["clipboard_read"] = lambda: kernel("app.clipboard.read")
        if "clipboard:write" in granted:
            fns["clipboard_write"] = lambda text: kernel("app.clipboard.write", text=text)
        if any(scope.startswith("network:") for scope in granted):
            fns["fetch_start"] = self._fetch_start
        if any(scope.startswith("bus:") for scope in granted):
            fns["bus_publish"] = bus_publish
            fns["bus_subscribe"] = self._bus_subscribe
        fns.update(self.calls.functions())
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
                self._run(lambda: guest.settle(int(pending_id), ok, value, self.now_ms()), "a fetch callback")
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

    async def _kernel_gone(self) -> None:
        """An app host outlives nothing it depends on: when the kernel's connection closes (the
        kernel stopped or crashed), the app stops instead of running on unsupervised."""
        assert self.kernel_async is not None
        await self.kernel_async.wait_closed()
        self.stop("kernel", "the kernel closed the app's connection", fault=True)

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
            self._run(lambda: guest.deliver(channel, message, sender, self.now_ms()), "a bus callback")
        elif event == "apps.invoke":
            self.calls.on_invoke(data)
        elif event == "apps.answer":
            self.calls.on_answer(data)

    # -- control socket (the manager, tests, the shell) ----------------------------------------
    @rpc("tree")
    async def rpc_tree(self, _connection: Connection, _params: dict[str, Any]) -> dict[str, Any]:
        return {"tree": self.tree, "generation": self.generation, "state": self.state}

    @rpc("event")
    async def rpc_event(self, connection: Connection, params: dict[str, Any]) -> dict[str, Any]:
        handler, args = params.get("handler"), params.get("args") or []
        if not isinstance(handler, int) or not isinstance(args, list):
            raise RpcError(ErrorCode.BAD_REQUEST, "event needs an integer handler and a list of args")
        self.dispatch(handler, args)
        return await self.rpc_tree(connection, params)

    @rpc("status")
    async def rpc_status(self, _connection: Connection, _params: dict[str, Any]) -> dict[str, Any]:
        memory = self.guest.memory_usage().get("memory_used_size") if self.guest and \
            self.state == "running" else None
        cpu_ms = round(self.cpu.used_ms(time.monotonic())) if self.state == "running" else None
        return {"app": self.app, "state": self.state, "reason": self.stop_reason, "pid": os.getpid(),
                "scopes": sorted(self.scopes), "memory_used": memory, "cpu_ms": cpu_ms,
                "confinement": asdict(self.confinement) if self.confinement else None}

    @rpc("subscribe")
    async def rpc_subscribe(self, connection: Connection, params: dict[str, Any]) -> bool:
        connection.subscriptions.update(params.get("events") or ["*"])
        return True

    @rpc("stop")
    async def rpc_stop(self, _connection: Connection, params: dict[str, Any]) -> bool:
        self.stop("requested", str(params.get("reason", "stop requested")))
        return True

    @rpc("advance")
    async def rpc_advance(self, connection: Connection, params: dict[str, Any]) -> dict[str, Any]:
        if not self.args.test_clock:
            raise RpcError(ErrorCode.DENIED, "the clock can be advanced only with --test-clock")
        self.clock_offset += float(params.get("ms", 0))
        self._input_at = time.monotonic()  # driven from outside, like input
        self._on_timer()
        return await self.rpc_tree(connection, params)


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
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, force=True,  # forked: not the zygote's
                        format=f"app-host[{os.getpid()}] %(name)s: %(message)s")
    status = StatusWriter(sys.stdout.fileno())
    try:
        spec = json.loads(sys.stdin.read())
        if not isinstance(spec, dict) or not isinstance(spec.get("token"), str) \
                or not isinstance(spec.get("source"), str):
            raise ValueError("stdin must hold {\"token\": str, \"source\": str}")
    except (ValueError, RecursionError) as error:
        status.write(status="stopped", app="?", kind="load", message=f"bad launch spec: {error}")
        status.drain(1.0)
        return EXIT_NO_RESTART
    host = AppHost(args, spec, status)
    code = EXIT_STOPPED
    with contextlib.suppress(KeyboardInterrupt):
        code = asyncio.run(host.run())
    status.drain(1.0)  # the last lines, 'stopped' above all, if the manager is still reading
    return code


__all__ = ["AppHost", "NullRenderer", "main"]


if __name__ == "__main__":
    sys.exit(main())
