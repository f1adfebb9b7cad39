"""Runs the service table: dependency order, readiness, restart with backoff, give-up, reaping.

Every child, our services and any orphan reparented to us, is reaped in one place: `reap()` runs
waitpid(-1, WNOHANG) on SIGCHLD and hands each status to the runner that owns the pid. asyncio's child
watchers are not used because they would race this loop for the same children.

Each service has one supervising coroutine whose state lives on its Runner, not in the coroutine:
if the coroutine hits a bug it logs, waits a moment and resumes from the Runner's state (a running
process is adopted, not started twice).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from llmos.config import Config
from llmos.reaping import exited_children

from . import awaited
from .cgroups import Cgroups, join
from .console import Console, marker
from .logring import LogRing
from .services import Service, ServiceTable, condition_met

DO_NOT_RESTART = 125


class State(StrEnum):
    WAITING = "waiting"  # for its requirements
    STARTING = "starting"  # running, not ready yet
    READY = "ready"
    BACKOFF = "backoff"  # failed, restarting after a delay
    FAILED = "failed"  # gave up (or cannot start at all)
    DONE = "done"  # exited 0
    STOPPED = "stopped"  # exited 125, or stopped on request
    STOPPING = "stopping"
    DISABLED = "disabled"  # enabled=false or its condition is not met


SETTLED = {State.READY, State.FAILED, State.DONE, State.STOPPED, State.DISABLED}
SATISFIES = {State.READY, State.DONE, State.DISABLED}
# A service in one of these has come up or failed at least once: what `after` waits for.
CAME_UP_OR_FAILED = SETTLED | {State.BACKOFF}


@dataclass(eq=False)
class Runner:
    """The live state of one service."""

    service: Service
    log: LogRing
    state: State = State.WAITING
    since: float = field(default_factory=time.time)
    pid: int | None = None
    popen: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    exit_code: int | None = None
    reason: str = ""
    wanted: bool = True
    failures: deque[float] = field(default_factory=deque)  # monotonic times of recent failures
    exited: asyncio.Future[int] | None = None
    exited_pid: int | None = None  # the pid `exited` belongs to
    exit_handled: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    stopped_pid: int | None = None  # the process stop() is ending: its exit is not a failure
    fault: str = ""  # test hook: raise inside the supervising coroutine once
    ready_marked: bool = False
    came_up_or_failed: bool = False  # since PID 1 started: a later restart does not hold `after` back
    telling: asyncio.Task[None] | None = None  # answers the await pipe of the current process

    @property
    def name(self) -> str:
        return self.service.name

    @property
    def failed(self) -> bool:
        return self.state == State.FAILED


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with status {code}"


class Supervisor:
    def __init__(self, table: ServiceTable, config: Config, console: Console, cgroups: Cgroups,
                 cmdline: str = "") -> None:
        self.console = console
        self.cgroups = cgroups
        self.config = config
        self.init_log = LogRing()
        self.runners: dict[str, Runner] = {}
        self.by_pid: dict[int, Runner] = {}
        self.orphans_reaped = 0
        self.all_ready = False
        self.started = False
        self.stopping = False
        self.shutdown_request: asyncio.Future[str] | None = None
        self._changed = asyncio.Event()
        for service in table.services:
            runner = Runner(service, LogRing())
            if not service.enabled:
                self._set(runner, State.DISABLED, "enabled = false")
            elif not condition_met(service, config, cmdline):
                self._set(runner, State.DISABLED, f"condition {service.condition} not met")
            self.runners[service.name] = runner

    # --- logging and state -------------------------------------------------------------------------
    def log(self, text: str) -> None:
        """A key line: kept in the "init" ring and written to the console and kernel log."""
        self.init_log.append(text)
        self.console.write(f"llmos: {text}")

    def _set(self, runner: Runner, state: State, reason: str = "") -> None:
        runner.state = state
        runner.reason = reason
        runner.came_up_or_failed |= state in CAME_UP_OR_FAILED
        runner.since = time.time()
        self._changed.set()
        self._changed = asyncio.Event()
        if state in (State.READY, State.DONE):
            if not runner.ready_marked:
                runner.ready_marked = True
                line = marker(f"service {runner.name} ready")
                self.init_log.append(line)
                self.console.write(line)
            self._revive_dependents(runner)
        self._check_all_ready()

    def _revive_dependents(self, runner: Runner) -> None:
        """Services that failed only because this one had failed get another chance now."""
        if not self.started or self.stopping:
            return
        for other in self.runners.values():
            if (other.state == State.FAILED and runner.name in other.service.requires
                    and other.reason.startswith("requirement ")):
                self.log(f"{other.name}: {runner.name} is back; starting")
                self.start(other)

    def _check_all_ready(self) -> None:
        if self.started and not self.all_ready and all(r.state in SETTLED for r in self.runners.values()):
            self.all_ready = True
            line = marker("ready")
            self.init_log.append(line)
            self.console.write(line)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float | None = None) -> bool:
        """Wait until `predicate()` holds after some state change (or the timeout passes)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not predicate():
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return True

    # --- reaping -----------------------------------------------------------------------------------
    def reap(self) -> None:
        """SIGCHLD: collect every exited child, ours or an orphan, and notify the owners."""
        for pid, code in exited_children():
            runner = self.by_pid.pop(pid, None)
            if runner is None:
                self.orphans_reaped += 1
                continue
            try:
                self._exited(runner, code)
            except Exception as error:  # never lose the next child over one bad dispatch
                self.log(f"init: error handling exit of {runner.name}: {error!r}")

    def _exited(self, runner: Runner, code: int) -> None:
        if runner.popen is not None:
            runner.popen.returncode = code  # so Popen never waits for this pid itself
            runner.popen = None
        pid, runner.pid, runner.exit_code = runner.pid, None, code
        if pid is not None:  # leftovers of the service must not outlive it
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
            self.cgroups.kill(runner.name)
        if runner.exited is not None and not runner.exited.done():
            runner.exited.set_result(code)

    # --- starting ----------------------------------------------------------------------------------
    def start_all(self) -> None:
        for runner in self.runners.values():
            if runner.task is not None:
                continue
            if runner.state != State.DISABLED:
                self.log(f"{runner.name}: waiting" if runner.service.requires else f"{runner.name}: queued")
                runner.task = asyncio.get_running_loop().create_task(self._supervise(runner))
            else:
                self.log(f"{runner.name}: disabled ({runner.reason})")
        self.started = True
        self._check_all_ready()

    def _environment(self, service: Service) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin")
        env["PYTHONUNBUFFERED"] = "1"  # log lines must arrive as they are printed
        # The kernel command line sets PYTHONHASHSEED=0 so that Python can start before the entropy pool is
        # ready. Services (and the untrusted apps they host) must not inherit a fixed seed: hash flooding.
        if env.get("PYTHONHASHSEED") == "0":
            env["PYTHONHASHSEED"] = "random"
        env["LLMOS_SERVICE"] = service.name
        env.update(service.environment)
        return env

    def _spawn(self, runner: Runner) -> bool:
        service = runner.service
        argv = list(service.argv)
        if argv[0] == "python3":  # the interpreter PID 1 runs on (the venv in host tests)
            argv[0] = sys.executable
        env = self._environment(service)
        user: dict[str, Any] = {}
        if service.user:
            try:
                entry = pwd.getpwnam(service.user)
            except KeyError:
                self._fail(runner, f"no such user {service.user!r}")
                return False
            user = {"user": entry.pw_uid, "group": entry.pw_gid,
                    "extra_groups": os.getgrouplist(entry.pw_name, entry.pw_gid)}
            env.update(HOME=entry.pw_dir, USER=entry.pw_name, LOGNAME=entry.pw_name)
        procs_fd = self.cgroups.prepare(service.name, {"memory.max": service.memory_max,
                                                       "pids.max": service.pids_max,
                                                       "cpu.weight": str(service.cpu_weight)})
        read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
        awaited_fd, tell_fd = os.pipe2(os.O_CLOEXEC) if service.awaits else (-1, -1)
        if service.awaits:
            env[awaited.FD_ENV] = str(awaited_fd)
        try:
            popen = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=write_fd, stderr=write_fd, env=env, cwd="/",
                close_fds=True, pass_fds=(awaited_fd,) if service.awaits else (), start_new_session=True,
                preexec_fn=(lambda: join(procs_fd)) if procs_fd is not None else None, **user)
        except Exception as error:  # PID 1 survives anything Popen raises, and leaks no descriptor
            os.close(read_fd)
            if service.awaits:
                os.close(tell_fd)
            reason = f"cannot start {argv[0]}: {getattr(error, 'strerror', None) or error}"
            if isinstance(error, FileNotFoundError | PermissionError | TypeError | ValueError):
                self._fail(runner, reason)  # retrying cannot make a binary appear or fix the table
            else:
                self.log(f"{service.name}: {reason}")
            return False
        finally:
            os.close(write_fd)
            if procs_fd is not None:
                os.close(procs_fd)
            if service.awaits:
                os.close(awaited_fd)
        runner.popen, runner.pid, runner.exit_code = popen, popen.pid, None
        runner.exited = asyncio.get_running_loop().create_future()
        runner.exited_pid = popen.pid
        runner.exit_handled = False
        self.by_pid[popen.pid] = runner
        self._watch_output(runner, read_fd)
        if service.awaits:
            runner.telling = asyncio.get_running_loop().create_task(self._tell_awaited(runner, tell_fd))
        self._set(runner, State.STARTING)
        self.log(f"{service.name}: started pid {popen.pid}")
        return True

    async def _tell_awaited(self, runner: Runner, fd: int) -> None:
        """One line on the service's await pipe once every service it awaits has settled: "ready", or
        which did not come up and why (init/awaited.py reads it). Closed unsaid if the process ends first."""
        pid, awaits = runner.pid, runner.service.awaits
        try:
            await self.wait_for(lambda: runner.pid != pid or all(self.runners[name].state in SETTLED
                                                                 for name in awaits))
            if runner.pid != pid:
                return
            missing = [f"{name} {self.runners[name].state}: {self.runners[name].reason}"
                       for name in awaits if self.runners[name].state not in SATISFIES]
            line = f"not ready: {'; '.join(missing)}" if missing else awaited.READY
            os.write(fd, (line[:awaited.LINE_MAX - 1] + "\n").encode())  # one short line: never blocks
        except OSError:
            pass  # the service closed its end: nobody is waiting
        finally:
            os.close(fd)

    def _watch_output(self, runner: Runner, fd: int) -> None:
        os.set_blocking(fd, False)
        loop = asyncio.get_running_loop()

        def readable() -> None:
            try:
                data = os.read(fd, 65536)  # one bounded read per wake-up keeps the loop fair
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                loop.remove_reader(fd)
                os.close(fd)
                lines = runner.log.flush()
            else:
                lines = runner.log.feed(data)
            for line in lines:
                if line.text.startswith("!"):
                    self.console.echo(runner.name, line.text[1:].lstrip())

        loop.add_reader(fd, readable)

    def _fail(self, runner: Runner, reason: str) -> None:
        self._set(runner, State.FAILED, reason)
        self.log(f"{runner.name}: failed: {reason}")

    # --- supervision ---------------------------------------------------------------------------------
    async def _supervise(self, runner: Runner) -> None:
        while True:
            try:
                await self._cycle(runner)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self.log(f"{runner.name}: supervisor error {type(error).__name__}: {error}; resuming")
                await asyncio.sleep(0.2)

    async def _idle(self, runner: Runner) -> None:
        runner.wake.clear()
        await runner.wake.wait()

    @staticmethod
    def _check_fault(runner: Runner) -> None:
        if runner.fault:
            fault, runner.fault = runner.fault, ""
            raise RuntimeError(f"injected fault: {fault}")

    async def _wait_exit(self, runner: Runner) -> int:
        """Wait for the process to exit; a wake-up in between only checks the fault hook."""
        assert runner.exited is not None
        while not runner.exited.done():
            runner.wake.clear()
            woken = asyncio.ensure_future(runner.wake.wait())
            either: list[asyncio.Future[Any]] = [runner.exited, woken]
            try:
                await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            finally:
                woken.cancel()
            self._check_fault(runner)
        return runner.exited.result()

    async def _cycle(self, runner: Runner) -> None:
        self._check_fault(runner)
        if runner.pid is None and runner.exited is not None and runner.exited.done() \
                and not runner.exit_handled:  # it ended while this coroutine was recovering
            await self._after_exit(runner, runner.exited.result(), runner.exited_pid)
            return
        if runner.pid is None:
            if not runner.wanted or self.stopping or runner.state in (State.FAILED, State.DONE,
                                                                       State.STOPPED):
                await self._idle(runner)
                return
            if not await self._requirements(runner):
                return
            if not self._spawn(runner):
                if not runner.failed:  # _spawn gives up for good on what a retry cannot fix
                    await self._after_failure(runner, "could not start")
                return
        if runner.state == State.STARTING and not await self._until_ready(runner):
            return
        pid = runner.exited_pid
        code = await self._wait_exit(runner)
        await self._after_exit(runner, code, pid)

    async def _requirements(self, runner: Runner) -> bool:
        service = runner.service
        before = [name for name in service.after if not self.runners[name].came_up_or_failed]
        if before:
            self._set(runner, State.WAITING, f"starts after {', '.join(before)}")
            await self.wait_for(lambda: all(self.runners[name].came_up_or_failed for name in service.after)
                                or not runner.wanted)
        missing = [name for name in service.requires if self.runners[name].state not in SATISFIES]
        if not missing:
            return True
        self._set(runner, State.WAITING, f"waiting for {', '.join(missing)}")

        def settled() -> bool:
            states = [self.runners[name].state for name in service.requires]
            return all(s in SATISFIES for s in states) or State.FAILED in states or not runner.wanted

        await self.wait_for(settled)
        failed = [n for n in service.requires if self.runners[n].state == State.FAILED]
        if failed and runner.wanted:
            self._fail(runner, f"requirement {', '.join(failed)} failed")
            return False
        # Checked again: a stop and start may both have happened while this coroutine slept.
        ready = all(self.runners[n].state in SATISFIES for n in service.requires)
        return ready and runner.wanted and not self.stopping

    async def _until_ready(self, runner: Runner) -> bool:
        """Poll the readiness check until it passes, the process exits, or the ready timeout."""
        service = runner.service
        assert runner.exited is not None
        if service.oneshot:
            return True  # ready = exit 0, handled in _after_exit
        if service.ready.kind == "none":
            self._set(runner, State.READY)
            return True
        deadline = time.monotonic() + service.ready_timeout
        interval = 0.005
        while not runner.exited.done():
            if self._check_ready(service):
                self._set(runner, State.READY)
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.log(f"{runner.name}: not ready after {service.ready_timeout:g} s; killing it")
                pid = runner.pid
                self._kill(runner, signal.SIGKILL)
                code = await asyncio.shield(runner.exited)
                await self._after_exit(runner, code, pid, timed_out=True)
                return False
            await asyncio.wait([runner.exited], timeout=min(interval, remaining))
            interval = min(interval * 2, 0.1)
        return True  # exited before ready: _after_exit decides

    @staticmethod
    def _check_ready(service: Service) -> bool:
        target = service.ready.target()
        if service.ready.kind == "path":
            return target.exists()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.setblocking(False)
            try:
                probe.connect(str(target))
            except (BlockingIOError, InterruptedError):
                return True  # the backlog is full but someone is listening
            except OSError:
                return False
            return True

    def _kill(self, runner: Runner, sig: signal.Signals) -> None:
        if runner.pid is None:
            return
        try:
            os.killpg(runner.pid, sig)
        except ProcessLookupError:
            pass
        except OSError:
            with contextlib.suppress(OSError):
                os.kill(runner.pid, sig)

    async def _after_exit(self, runner: Runner, code: int, pid: int | None,
                          timed_out: bool = False) -> None:
        name = runner.name
        runner.exit_handled = True
        if pid == runner.stopped_pid or not runner.wanted or self.stopping:
            return  # stop() owns the rest
        self.log(f"{name}: {describe_exit(code)}")
        if not timed_out and code == 0:
            self._set(runner, State.DONE, "exited 0")
            return
        if not timed_out and code == DO_NOT_RESTART:
            self._set(runner, State.STOPPED, "exited 125: not restarting")
            self.log(f"{name}: exit 125, not restarting")
            return
        if runner.service.restart == "no":
            self._fail(runner, describe_exit(code))
            return
        await self._after_failure(runner, "not ready in time" if timed_out else describe_exit(code))

    async def _after_failure(self, runner: Runner, reason: str) -> None:
        service = runner.service
        now = time.monotonic()
        runner.failures.append(now)
        while runner.failures and now - runner.failures[0] > service.give_up_window:
            runner.failures.popleft()
        if len(runner.failures) >= service.give_up_count:
            self._fail(runner, f"gave up after {len(runner.failures)} failures in "
                               f"{service.give_up_window:g} s ({reason})")
            return
        delay = min(service.backoff_max, service.backoff_initial * 2 ** (len(runner.failures) - 1))
        self._set(runner, State.BACKOFF, reason)
        self.log(f"{runner.name}: restarting in {delay:.2f} s")
        runner.wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(runner.wake.wait(), delay)
        if runner.wanted and not self.stopping:
            runner.restarts += 1
            self._set(runner, State.WAITING, "restarting")

    # --- control -----------------------------------------------------------------------------------
    async def stop(self, runner: Runner) -> None:
        """SIGTERM to the process group, SIGKILL after the service's stop timeout."""
        runner.wanted = False
        runner.wake.set()
        if runner.pid is None or runner.exited is None:
            if runner.state not in (State.DISABLED, State.FAILED, State.DONE):
                self._set(runner, State.STOPPED, "stopped")
            return
        runner.stopped_pid = runner.pid
        self._set(runner, State.STOPPING)
        self.log(f"{runner.name}: stopping")
        self._kill(runner, signal.SIGTERM)
        try:
            code = await asyncio.wait_for(asyncio.shield(runner.exited), runner.service.stop_timeout)
        except TimeoutError:
            self.log(f"{runner.name}: no exit {runner.service.stop_timeout:g} s after SIGTERM; SIGKILL")
            self._kill(runner, signal.SIGKILL)
            self.cgroups.kill(runner.name)
            code = await asyncio.shield(runner.exited)
        self._set(runner, State.STOPPED, "stopped")
        self.log(f"{runner.name}: stopped ({describe_exit(code)})")

    def start(self, runner: Runner) -> None:
        if runner.pid is not None:
            return
        runner.wanted = True
        runner.failures.clear()
        self._set(runner, State.WAITING, "start requested")
        if runner.task is None or runner.task.done():
            runner.task = asyncio.get_running_loop().create_task(self._supervise(runner))
        runner.wake.set()

    async def restart(self, runner: Runner) -> None:
        await self.stop(runner)
        self.start(runner)

    async def stop_all(self) -> None:
        """Stop every service after everything that requires, awaits or starts after it (reverse
        dependency order)."""
        self.stopping = True
        done = {name: asyncio.Event() for name in self.runners}

        async def stop_one(runner: Runner) -> None:
            try:
                for other in self.runners.values():
                    if runner.name in other.service.dependencies:
                        await done[other.name].wait()
                await self.stop(runner)
            except Exception as error:
                self.log(f"{runner.name}: error while stopping: {error!r}")
            finally:
                done[runner.name].set()

        await asyncio.gather(*(stop_one(runner) for runner in self.runners.values()))
        for runner in self.runners.values():
            if runner.task is not None:
                runner.task.cancel()

    def request_shutdown(self, kind: str) -> None:
        if self.shutdown_request is not None and not self.shutdown_request.done():
            self.log(f"init: {kind} requested")
            self.shutdown_request.set_result(kind)

    def status(self) -> list[dict[str, Any]]:
        return [{"name": r.name, "state": str(r.state), "pid": r.pid, "restarts": r.restarts,
                 "since": r.since, "reason": r.reason} for r in self.runners.values()]
