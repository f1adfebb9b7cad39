"""PID 1: early mounts, signals, the supervisor and the control socket, then shutdown and reboot(2).

It never exits as PID 1 (that would panic the kernel): every exception is logged and supervision goes
on. Outside PID 1 (host tests) it makes itself a child subreaper so that the same reaping code runs,
and after a shutdown request it stops the services and exits, never unmounting or rebooting.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from llmos import config as llmos_config
from llmos import paths

from . import assess, mounts, power, services
from .cgroups import Cgroups
from .console import Console, marker
from .control import Control
from .supervisor import Supervisor

# Busybox conventions, plus SIGINT, which the kernel sends for ctrl-alt-del after RB_DISABLE_CAD.
PID1_SIGNALS = {signal.SIGTERM: "reboot", signal.SIGINT: "reboot", signal.SIGPWR: "poweroff",
                signal.SIGUSR1: "poweroff", signal.SIGUSR2: "poweroff"}
HOST_SIGNALS = {signal.SIGTERM: "exit", signal.SIGINT: "exit"}


def _cmdline() -> str:
    path = os.environ.get("LLMOS_CMDLINE_FILE", "/proc/cmdline")
    try:
        return Path(path).read_text()
    except OSError:
        return ""


ExceptionHandler = Callable[[asyncio.AbstractEventLoop, dict[str, object]], None]


def _exception_handler(supervisor: Supervisor) -> ExceptionHandler:
    def handle(_loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
        error = context.get("exception")
        detail = f"{type(error).__name__}: {error}" if error else context.get("message", "?")
        supervisor.log(f"init: survived an error: {detail}")
        if isinstance(error, BaseException):  # asyncio's "exception" key always holds one
            for line in traceback.format_exception(error)[-6:]:
                supervisor.init_log.append(line.rstrip())

    return handle


async def supervise(supervisor: Supervisor, pid1: bool) -> str:
    """Run until a shutdown is requested; returns "poweroff", "reboot" or "exit"."""
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(_exception_handler(supervisor))
    supervisor.shutdown_request = loop.create_future()
    for sig, kind in (PID1_SIGNALS if pid1 else HOST_SIGNALS).items():
        loop.add_signal_handler(sig, supervisor.request_shutdown, kind)
    loop.add_signal_handler(signal.SIGCHLD, supervisor.reap)
    supervisor.reap()  # children that ended before the handler existed

    supervisor.start_all()  # before the socket: a control request must find every runner set up
    control = Control(supervisor)
    try:
        await control.server.start(paths.socket_path("init"))
    except OSError as error:
        supervisor.log(f"init: control socket unavailable: {error}")

    background: list[asyncio.Task[None]] = [loop.create_task(_safety_reaper(supervisor))]
    if pid1:  # A/B updates: bless a boot on trial once it is good, or reboot it (docs/update.md)
        good_within = supervisor.config.settings.init.boot_good_within_s
        background.append(loop.create_task(assess.run(supervisor, good_within)))
    button = None
    wanted = supervisor.config.settings.init.power_button
    if wanted and (pid1 or os.environ.get("LLMOS_INIT_POWERBUTTON") == "1"):
        button = power.PowerButton(lambda: supervisor.request_shutdown("poweroff"), supervisor.log)
        background.append(loop.create_task(button.run()))

    kind = await supervisor.shutdown_request
    supervisor.log(f"init: shutting down ({kind})")
    await supervisor.stop_all()
    for task in background:
        task.cancel()
    if button:
        button.close()
    with contextlib.suppress(Exception):  # newer Pythons wait for open connections (log followers)
        await asyncio.wait_for(control.server.close(), 2.0)
    return kind


async def _safety_reaper(supervisor: Supervisor) -> None:
    """SIGCHLD can coalesce or be lost across a handler error; an occasional sweep costs nothing."""
    while True:
        await asyncio.sleep(5)
        supervisor.reap()


def _early(console: Console, pid1: bool) -> None:
    if pid1:
        os.umask(0o022)
        os.environ.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin")
        for target in mounts.mount_early(lambda text: console.write(f"llmos: {text}")):
            console.write(f"llmos: mounted {target}")
        try:
            power.disable_cad()
        except OSError as error:
            console.write(f"llmos: {error}")
    else:
        try:
            power.set_subreaper()
        except OSError as error:
            console.write(f"llmos: {error}; orphans will not be reaped here")
    with contextlib.suppress(OSError):
        paths.run_dir().mkdir(parents=True, exist_ok=True)


def _finish(kind: str, console: Console) -> None:
    """As PID 1: sync, unmount everything, reboot(2). This function does not return.

    LLMOS_INIT_DRY_SHUTDOWN=1 (tests running PID 1 in a PID namespace) lists the unmounts and exits
    instead: remounting read-only acts on shared superblocks, so a namespace cannot contain it."""
    os.sync()
    if os.environ.get("LLMOS_INIT_DRY_SHUTDOWN") == "1":
        targets = [m.target for m in reversed(mounts.mounted()) if m.target != "/"]
        console.write(f"llmos: dry run: would unmount {len(targets)} mounts, first {targets[:3]}")
        console.write(f"llmos: shutdown complete (dry run, {kind})")
        sys.exit(0)
    data = str(paths.state_dir())
    result = mounts.unmount_all(lambda text: console.write(f"llmos: {text}"))
    if data in result.unmounted:
        console.write("llmos: data unmounted cleanly")
    elif data in result.read_only:
        console.write("llmos: data remounted read-only (busy)")
    os.sync()
    console.write("llmos: shutdown complete")
    while True:
        try:
            power.reboot(power.RB_AUTOBOOT if kind == "reboot" else power.RB_POWER_OFF)
        except Exception as error:
            console.write(f"llmos: {error}; retrying")
        time.sleep(1)


def _kill_leftovers(supervisor: Supervisor | None, pid1: bool) -> None:
    for runner in supervisor.runners.values() if supervisor else ():
        if runner.pid is not None:
            with contextlib.suppress(OSError):
                os.killpg(runner.pid, signal.SIGKILL)
    if pid1:
        with contextlib.suppress(OSError):
            os.kill(-1, signal.SIGKILL)


def main() -> int:
    pid1 = os.getpid() == 1
    console = Console(pid1)
    console.write(marker("pid1 start"))
    _early(console, pid1)
    config = llmos_config.load()
    for problem in config.problems:
        console.write(f"llmos: config: {problem}")
    supervisor: Supervisor | None = None
    while True:
        try:
            table = services.load(config, _cmdline())
            for problem in table.problems:
                console.write(f"llmos: services: {problem}")
            cgroups = Cgroups(lambda text: console.write(f"llmos: {text}"))
            cgroups.setup()
            supervisor = Supervisor(table, config, console, cgroups, _cmdline())
            kind = asyncio.run(supervise(supervisor, pid1))
        except BaseException as error:  # PID 1 must outlive its own bugs
            console.write(f"llmos: init: supervision crashed: {type(error).__name__}: {error}")
            if not pid1 and isinstance(error, KeyboardInterrupt | SystemExit):
                return 1
            _kill_leftovers(supervisor, pid1)  # start over from a clean slate: nothing runs twice
            time.sleep(1)
            continue
        if not pid1:
            console.write("llmos: init: services stopped, exiting")
            return 0
        _finish(kind, console)


if __name__ == "__main__":
    sys.exit(main())
