"""The kernel's side of app processes: spawn an app host, wait until it reports ready (its first
tree is rendered and its control socket accepts), talk to it, and learn why it stopped.

The host's stdout carries JSON status lines (status.py); the manager keeps the 'ready' line, the last
'stopped' line and a bounded tail of the rest, so a crash, hang or overrun is reported with its reason
while nothing an app writes can grow the kernel. Each host may also get a cgroup with a cpu.max
backstop (cgroup.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import math
import os
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from llmos import paths
from llmos.ipc import Client, ErrorCode, RpcError
from llmos.kernel.sandbox.cgroup import AppCgroups
from llmos.kernel.sandbox.limits import GuestLimits
from llmos.kernel.sandbox.prefork import Prefork, zygote_for
from llmos.kernel.sandbox.status import read_statuses

log = logging.getLogger("llmos.kernel.sandbox.manager")

KEEP_STATUSES = 50  # the tail of status lines kept per app (besides 'ready' and the last 'stopped')


class LaunchError(Exception):
    """The app did not start; `status` is its last status line (kind, message)."""

    def __init__(self, status: dict[str, Any]) -> None:
        super().__init__(f"{status.get('kind')}: {status.get('message')}")
        self.status = status


class HostProcess(Protocol):
    """What the manager needs of an app host process: a spawned one (asyncio.subprocess.Process) or
    one forked by the zygote (prefork.ForkedProcess)."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    @property
    def stdin(self) -> asyncio.StreamWriter | None: ...

    @property
    def stdout(self) -> asyncio.StreamReader | None: ...

    async def wait(self) -> int: ...

    def kill(self) -> None: ...


@dataclass(eq=False)
class AppProcess:
    process: HostProcess
    control_path: Path
    ready: dict[str, Any] = field(default_factory=dict)
    statuses: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=KEEP_STATUSES))
    client: Client | None = None
    on_exit: Callable[[], None] | None = None  # frees what the manager holds for this host (its cgroup)
    _stopped: dict[str, Any] | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    @property
    def app(self) -> str:
        return str(self.ready.get("app", "?"))

    @property
    def pid(self) -> int:
        return self.process.pid

    def stopped_status(self) -> dict[str, Any] | None:
        return self._stopped

    def _record(self, status: dict[str, Any]) -> None:
        self.statuses.append(status)
        if status.get("status") == "ready":
            self.ready = status
        elif status.get("status") == "stopped":
            self._stopped = status
        self._changed.set()

    async def call(self, method: str, **params: Any) -> Any:
        assert self.client is not None
        return await self.client.call(method, timeout=10.0, **params)

    async def _call_for_object(self, method: str, **params: Any) -> dict[str, Any]:
        """A control call whose answer is a JSON object, as all of the app host's are."""
        reply = await self.call(method, **params)
        if not isinstance(reply, dict):
            raise RpcError(ErrorCode.INTERNAL, f"{method}: the app host answered {type(reply).__name__}")
        return reply

    async def tree(self) -> dict[str, Any]:
        return await self._call_for_object("tree")

    async def event(self, handler: int, args: list[Any] | None = None) -> dict[str, Any]:
        return await self._call_for_object("event", handler=handler, args=args or [])

    async def status(self) -> dict[str, Any]:
        return await self._call_for_object("status")

    async def wait(self, timeout: float | None = 10.0) -> tuple[int, dict[str, Any] | None]:
        """Wait for the process to exit; returns (exit code, its 'stopped' status line)."""
        code = await asyncio.wait_for(self.process.wait(), timeout)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._until(lambda: self.stopped_status() is not None), 2.0)
        return code, self.stopped_status()

    async def stop(self, timeout: float = 5.0) -> int:
        if self.process.returncode is None:
            with contextlib.suppress(Exception):
                await self.call("stop")
            try:
                await asyncio.wait_for(self.process.wait(), timeout)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        if self.client:
            await self.client.close()
        for task in self._tasks:
            task.cancel()
        self.exited()
        return self.process.returncode if self.process.returncode is not None else -1

    def exited(self) -> None:
        """Free what the manager holds for a host that has exited (idempotent)."""
        if self.on_exit is not None and self.process.returncode is not None:
            on_exit, self.on_exit = self.on_exit, None
            on_exit()

    async def _watchdog(self, interval: float, grace: float) -> None:
        """The guest's deadline is polled from inside QuickJS; if the host ever stops answering
        (native code that never polls, a wedged host call, SIGSTOP), kill it from outside."""
        while self.process.returncode is None:
            await asyncio.sleep(interval)
            if self.process.returncode is not None or self.stopped_status() is not None:
                return
            try:
                await asyncio.wait_for(self.status(), grace)
            except (TimeoutError, ConnectionError, RpcError):
                if self.process.returncode is not None or self.stopped_status() is not None:
                    return
                self.process.kill()
                self._record({"status": "stopped", "app": self.app, "kind": "hang",
                              "message": f"app host did not answer for {grace:.3g} s; killed"})
                return

    async def _until(self, condition: Any) -> None:
        while not condition():
            self._changed.clear()
            await self._changed.wait()

    async def _read_status(self) -> None:
        assert self.process.stdout is not None
        try:
            async for status in read_statuses(self.process.stdout):
                self._record(status)
        except (OSError, ConnectionError):  # the pipe broke: the exit code tells the rest
            pass
        finally:
            self._changed.set()


class AppManager:
    """Starts app hosts against one kernel socket."""

    def __init__(self, kernel_socket: Path, *, limits: GuestLimits | None = None,
                 cache_dir: Path | None = None, renderer: str = "null", confine: bool = True,
                 run_dir: Path | None = None, uid_base: int = 100_000,
                 watchdog_interval: float = 5.0, uid_table: Path | None = None, prefork: bool = False,
                 zygote: Prefork | None = None, max_starting: int = 4) -> None:
        """`zygote`: one started already (the kernel starts it before its own imports, so that it loads
        beside them); otherwise `prefork` makes one here, started by warm()."""
        self.kernel_socket = kernel_socket
        self.limits = limits or GuestLimits()
        self.cache_dir = cache_dir
        self.renderer = renderer
        self.confine = confine
        self.run_dir = run_dir or paths.apps_run_dir()
        self.uid_base = uid_base
        self.uid_table = uid_table or paths.state_dir() / "sandbox" / "uids.json"
        self.watchdog_interval = watchdog_interval
        self._ids = itertools.count(1)
        self.running: set[AppProcess] = set()
        self.cgroups = AppCgroups(cpu_ms_per_s=self.limits.cpu_ms_per_s)
        self._warming: asyncio.Task[None] | None = None
        # Hosts are forked from a zygote when one is ready (prefork.py), spawned otherwise.
        self.prefork = zygote or (zygote_for(self.run_dir, cache_dir, renderer) if prefork else None)
        # Sixty launches in a second queue here: only this many hosts start (import, load) at once.
        self._starting = asyncio.Semaphore(max_starting)
        self._launching = 0  # launches in progress
        self._last_launch = -math.inf  # time.monotonic() when the last one began

    def warm(self) -> asyncio.Task[None]:
        """Have the compiled QuickJS guest loaded (the kernel starts this at boot): by the zygote, which
        has it compiled into the cache when there is none, or else by a process of its own. Launches
        wait for this before their host's ready clock starts: on a slow machine the one-time compile
        outlasts `ready_timeout`, and a host killed mid-compile never fills the cache, so no app would
        ever start there."""
        if self._warming is None:
            self._warming = asyncio.get_running_loop().create_task(self._warm())
        return self._warming

    async def _warm(self) -> None:
        """A failed warm-up leaves the compile to the first host, as before: never fatal here. When the
        guest is compiled already (the image's module, or this machine's cache), launches need not wait
        for the zygote's load here: they wait for the zygote as they fork."""
        from llmos.kernel.sandbox import wasmcache  # here: importlib.metadata is not on the kernel's start

        compiled = wasmcache.compiled_file(self.cache_dir) is not None
        if self.prefork is not None:
            self._start_zygote()  # a no-op when the kernel started it already
            if compiled or await self.prefork.until_loaded():
                return
            log.warning("the zygote did not load the QuickJS guest; compiling it in a process of its own")
        command = [sys.executable, "-m", "llmos.kernel.sandbox.wasmcache"]
        command += [str(self.cache_dir)] if self.cache_dir else []
        try:
            process = await asyncio.create_subprocess_exec(*command, stdin=asyncio.subprocess.DEVNULL,
                                                           stdout=asyncio.subprocess.PIPE,
                                                           stderr=asyncio.subprocess.STDOUT)
        except OSError as error:
            log.warning("wasm cache warm-up did not start: %s", error)
            return
        try:
            output, _ = await process.communicate()
        except asyncio.CancelledError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await asyncio.shield(process.wait())
            raise
        text = output.decode(errors="replace").strip()[-500:]
        (log.info if process.returncode == 0 else log.warning)("%s (exit %s)", text, process.returncode)

    def _start_zygote(self) -> None:
        assert self.prefork is not None
        self.run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.prefork.start()

    def quiet_for(self) -> float:
        """Seconds since the last launch began, 0 while one is under way: work that can wait (the
        example library's index) waits for quiet, so it does not slow the first apps after boot."""
        return 0.0 if self._launching else time.monotonic() - self._last_launch

    async def launch(self, source: str, token: str, *, filename: str = "app.ts",
                     test_clock: bool = False, ready_timeout: float = 30.0,
                     renderer: str | None = None) -> AppProcess:
        """Start a host and wait until it is ready. `renderer` overrides the manager's for this host
        ("null": no window, as for an app started only to serve other apps' calls)."""
        self._launching += 1
        self._last_launch = time.monotonic()
        try:
            return await self._launch(source, token, filename, test_clock, ready_timeout, renderer)
        finally:
            self._launching -= 1

    async def _launch(self, source: str, token: str, filename: str, test_clock: bool, ready_timeout: float,
                      renderer: str | None) -> AppProcess:
        renderer = renderer or self.renderer  # read now: another launch may change self.renderer meanwhile
        if self._warming is not None:
            await asyncio.shield(self._warming)  # its time is not the app's: the ready clock starts after
        self.run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        control = self.run_dir / f"app-{os.getpid()}-{next(self._ids)}.sock"
        args = ["--kernel", str(self.kernel_socket), "--control", str(control), "--renderer", renderer,
                "--uid-base", str(self.uid_base), "--uid-table", str(self.uid_table)]
        if self.cache_dir:
            args += ["--cache", str(self.cache_dir)]
        if not self.confine:
            args.append("--no-confine")
        if test_clock:
            args.append("--test-clock")
        async with self._starting:
            app = AppProcess(await self._start_host(args), control)
            # into its cgroup before it reads its spec, so before any app code runs
            app.on_exit = self.cgroups.place(app.pid)
            try:
                await self._until_ready(app, token, source, filename, ready_timeout)
            except BaseException:
                # cancelled (the flow was dropped) or failed while starting: never leave a host running
                await self._discard(app)
                raise
        self.running.add(app)
        return app

    async def _start_host(self, args: list[str]) -> HostProcess:
        """Forked from the zygote when it is ready, else spawned: the same host either way."""
        if self.prefork is not None and (forked := await self.prefork.fork(args)) is not None:
            return forked
        command = [sys.executable, "-m", "llmos.kernel.sandbox.host", *args]
        return await asyncio.create_subprocess_exec(*command, stdin=asyncio.subprocess.PIPE,
                                                    stdout=asyncio.subprocess.PIPE)

    async def _until_ready(self, app: AppProcess, token: str, source: str, filename: str,
                           ready_timeout: float) -> None:
        process = app.process
        assert process.stdin is not None
        spec = {"token": token, "source": source, "filename": filename, "limits": asdict(self.limits)}
        process.stdin.write(json.dumps(spec).encode())
        await process.stdin.drain()
        process.stdin.close()
        reader = asyncio.get_running_loop().create_task(app._read_status())
        app._tasks.append(reader)

        def settled() -> bool:
            return bool(app.ready) or app.stopped_status() is not None or process.returncode is not None \
                or reader.done()
        try:
            await asyncio.wait_for(app._until(settled), ready_timeout)
        except TimeoutError:
            raise LaunchError({"kind": "timeout", "message": f"not ready after {ready_timeout} s"}) from None
        if not app.ready:
            await process.wait()
            raise LaunchError(app.stopped_status() or {"kind": "exit",
                                                       "message": f"exited with {process.returncode}"})
        app.client = await Client.connect(app.control_path)
        if self.watchdog_interval > 0:
            grace = self.limits.deadline_s * 4 + 2.0
            app._tasks.append(asyncio.get_running_loop().create_task(
                app._watchdog(self.watchdog_interval, grace)))

    @staticmethod
    async def _discard(app: AppProcess) -> None:
        """Kill a host that did not finish starting and reap it, even while being cancelled."""
        for task in app._tasks:
            task.cancel()
        if app.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                app.process.kill()
        # shielded: a second cancellation must not leave the child unreaped
        await asyncio.shield(app.process.wait())
        app.exited()

    async def stop_all(self) -> None:
        if self._warming is not None:
            self._warming.cancel()
        for app in list(self.running):
            await app.stop()
            self.running.discard(app)
        if self.prefork is not None:  # after the apps: their exit codes come from it
            await self.prefork.stop()
