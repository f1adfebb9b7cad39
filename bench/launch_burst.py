"""Sixteen saved apps launched at once through the real kernel service and a real headless compositor
(both subprocesses, as PID 1 runs them): each app's time to its first frame, the time until all are
up, and what the burst does to everything else, against a baseline of the same length in the same run:

- frame pacing: a real Wayland client animates (a new buffer on every frame callback) and records the
  intervals between its callbacks; median / p95 / max and the count over 2x the refresh period;
- responsiveness: a kernel `status` and a compositor `windows` call every 50 ms;
- the launch bound: this kernel's app hosts in /proc less the pids `apps.running` lists = hosts
  still starting (at most 4 at once);
- apps that did not survive the burst (killed for their CPU use, say), with the kernel's reason.

"First frame" = the compositor announced a mapped window from the app host's pid (a toplevel maps
once it committed its first buffer: what `windows` then lists). Apps are the starter set, several
instances of each, run with `apps.run` (no questions). Each figure is taken with hosts forked from
the zygote (the default) and spawned anew ([sandbox] prefork = false).

    .venv/bin/python bench/launch_burst.py [--apps 16] [--modes forked,spawned]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import select
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from kernel.harness import System, make_system, remove

from llmos import ipc

TESTS = Path(__file__).resolve().parents[1] / "tests"

REFRESH_S = 1 / 60  # the headless output's refresh rate
PROBE_S = 0.05
MODES = {"forked": "", "spawned": "[sandbox]\nprefork = false\n"}
HOST_COMM = "llmos-app-host"  # a forked host's name (zygote.py); a spawned one runs sandbox.host
HOST_MODULE = b"llmos.kernel.sandbox.host\0"
ZYGOTE_MODULE = b"llmos.kernel.sandbox.zygote\0"


# -- the pacing client (a subprocess: its frame callbacks are not delayed by this process's loop) ---
def pacing_client() -> None:
    """Animate one 200x150 toplevel: on every frame callback, record the time, ask for the next
    callback and commit the other of two buffers. Prints 'ready' after 10 frames, and on stdin's end
    one JSON line: [[monotonic seconds at receipt, the compositor's ms stamp], ...]."""
    sys.path.insert(0, str(TESTS / "compositor"))
    from wlclient import Client, solid

    client = Client(dict(os.environ))
    window = client.toplevel("pacing", "bench.pacing")
    width, height = 200, 150
    buffers = [client.buffer(width, height, bytes([b, g, r, 0]) * width * height)
               for r, g, b in ((200, 40, 40), (40, 200, 40))]
    frames: list[tuple[float, int]] = []

    def commit() -> None:
        callback = window.surface.frame()
        callback.dispatcher["done"] = done
        client._keep.append(callback)
        window.surface.attach(buffers[len(frames) % 2], 0, 0)
        window.surface.damage_buffer(0, 0, width, height)
        window.surface.commit()

    def done(callback: Any, stamp: int) -> None:
        frames.append((time.monotonic(), stamp))
        client._keep.remove(callback)
        if len(frames) == 10:
            print("ready", flush=True)
        commit()

    window.draw(width, height, solid((40, 40, 200)))
    commit()
    fd = client.display.get_fd()
    while True:
        client.display.flush()
        readable, _, _ = select.select([fd, sys.stdin], [], [], 1.0)
        if sys.stdin in readable and not sys.stdin.readline():
            break
        if fd in readable:
            client.display.dispatch(block=True)
    print(json.dumps(frames), flush=True)


def start_pacing_client(system: System) -> subprocess.Popen[str]:
    env = {**system.env, "XDG_RUNTIME_DIR": str(system.root / "wl"), "WAYLAND_DISPLAY": "wayland-0"}
    process = subprocess.Popen([sys.executable, __file__, "--pacing-client"], env=env, text=True,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], 30)
    line = process.stdout.readline() if ready else ""
    if line.strip() != "ready":
        process.kill()
        process.wait()
        raise AssertionError(f"pacing client: {line!r}")
    return process


def stop_pacing_client(process: subprocess.Popen[str]) -> list[tuple[float, int]]:
    output, _ = process.communicate("", timeout=30)  # stdin's end: it prints its frames and exits
    return [(t, stamp) for t, stamp in json.loads(output.strip().splitlines()[-1])]


# -- what runs beside the burst ---------------------------------------------------------------------
def host_pids(kernel_pid: int) -> set[int]:
    """This kernel's app host processes: spawned by it, or forked by its zygote. Only those: a host's
    own short-lived child (ctypes running ldconfig, say) carries the host's command line until it
    execs, and is not a host."""
    processes: dict[int, tuple[int, str, bytes]] = {}  # pid -> (parent, comm, command line)
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = Path(f"/proc/{entry.name}/stat").read_text()
            comm, rest = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
            if rest[0] != "Z" and int(rest[1]) > 1:
                processes[int(entry.name)] = (int(rest[1]), comm,
                                              Path(f"/proc/{entry.name}/cmdline").read_bytes())
    zygotes = {pid for pid, (parent, _, command) in processes.items()
               if parent == kernel_pid and ZYGOTE_MODULE in command}
    return {pid for pid, (parent, comm, command) in processes.items()
            if (parent == kernel_pid and HOST_MODULE in command) or (parent in zygotes and comm == HOST_COMM)}


@dataclass
class Probes:
    """Timestamped samples taken while the bench runs: (when, seconds) of each ipc call, and (when,
    hosts starting) from /proc and the kernel's count of running apps."""

    status: list[tuple[float, float]] = field(default_factory=list)
    windows: list[tuple[float, float]] = field(default_factory=list)
    starting: list[tuple[float, int]] = field(default_factory=list)


async def every(interval: float, action: Callable[[], Awaitable[None]]) -> None:
    while True:
        started = time.monotonic()
        await action()
        await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))


def alive(pids: set[int]) -> set[int]:
    """Those of `pids` still running (not gone, not a zombie)."""
    living = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{pid}/stat").read_text()
            if stat[stat.rindex(")") + 2] != "Z":
                living.add(pid)
    return living


async def run_probes(system: System, kernel_pid: int, probes: Probes, stop: asyncio.Event) -> None:
    kernel = await ipc.Client.connect(system.kernel_socket)
    listing = await ipc.Client.connect(system.kernel_socket)  # not queued behind the status probe
    comp = await ipc.Client.connect(system.run / "compositor.sock")

    def timed(client: ipc.Client, method: str,
              into: list[tuple[float, float]]) -> Callable[[], Awaitable[None]]:
        async def once() -> None:
            started = time.monotonic()
            await client.call(method, timeout=60)
            into.append((started, time.monotonic() - started))
        return once

    async def count_starting() -> None:
        """Hosts alive now, less those the kernel lists as running after, less those that have died
        since (a crash takes an app off the list): what is left was starting now, or counted short."""
        now = time.monotonic()
        hosts = await asyncio.to_thread(host_pids, kernel_pid)
        running = {app["pid"] for app in await listing.call("apps.running", timeout=60)}
        starting = await asyncio.to_thread(alive, hosts - running)
        probes.starting.append((now, len(starting)))

    tasks = [asyncio.create_task(every(PROBE_S, timed(kernel, "status", probes.status))),
             asyncio.create_task(every(PROBE_S, timed(comp, "windows", probes.windows))),
             asyncio.create_task(every(0.1, count_starting))]
    try:
        await stop.wait()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for task in tasks:  # a probe that failed is a finding, not a figure
            if not task.cancelled() and (error := task.exception()) is not None:
                raise error
        for client in (kernel, listing, comp):
            await client.close()


# -- the burst ----------------------------------------------------------------------------------------
@dataclass
class Launch:
    ref: str
    sent: float = 0.0       # apps.run sent, seconds after the burst began
    pid: int = 0
    app_id: str = ""
    answered: float = 0.0   # apps.run returned (host ready), seconds after the burst began
    visible: float = 0.0    # its window mapped
    error: str = ""         # not launched, or ended before its first frame


async def starter_refs(system: System) -> list[tuple[str, list[str]]]:
    """(hash, capabilities) of each seeded starter app, the counter first (the warm-up runs it)."""
    client = await ipc.Client.connect(system.kernel_socket)
    try:
        listed = await client.call("apps.list")
    finally:
        await client.close()
    # not an app that calls other apps (app:... scopes): it would start more hosts than were asked for
    listed = [entry for entry in listed if not any(s.startswith("app:") for s in entry["capabilities"])]
    listed.sort(key=lambda entry: "counter" not in entry["prompt"].lower())
    return [(entry["hash"], list(entry["capabilities"])) for entry in listed]


class Watch:
    """What the compositor and the kernel announce: when each pid's first window mapped (a
    toplevel maps on its first buffer), and how each app that ended did (a crash: killed for its
    CPU use, say), so a launch that dies before its first frame is seen at once, not waited for."""

    def __init__(self, compositor: ipc.Client, kernel: ipc.Client) -> None:
        self.clients = (compositor, kernel)
        self.mapped: dict[int, float] = {}
        self.ended: dict[int, tuple[str, str]] = {}  # pid -> (state, "title: reason")
        self.changed = asyncio.Event()
        self._tasks = [asyncio.create_task(self._read(client)) for client in self.clients]

    @classmethod
    async def open(cls, system: System) -> Watch:
        compositor = await ipc.Client.connect(system.run / "compositor.sock")
        await compositor.call("subscribe", events=["window"])
        kernel = await ipc.Client.connect(system.kernel_socket)
        await kernel.call("subscribe", events=["app"])
        return cls(compositor, kernel)

    async def _read(self, client: ipc.Client) -> None:
        while True:
            name, data = await client.events.get()
            if name == "window" and data.get("change") == "mapped" and data.get("pid"):
                self.mapped.setdefault(int(data["pid"]), time.monotonic())
            elif name == "app" and data.get("state") in ("exited", "crashed", "stopped"):
                self.ended[int(data["pid"])] = (data["state"], f"{data.get('title')}: {data.get('reason')}")
            self.changed.set()

    @property
    def crashed(self) -> dict[int, str]:
        return {pid: reason for pid, (state, reason) in self.ended.items() if state == "crashed"}

    async def until(self, pids: set[int], timeout: float) -> None:
        """Until each pid has mapped a window or has ended."""
        async def settled() -> None:
            while not pids <= self.mapped.keys() | self.ended.keys():
                self.changed.clear()
                await self.changed.wait()
        await asyncio.wait_for(settled(), timeout)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for client in self.clients:
            await client.close()


async def burst(system: System, apps: list[tuple[str, list[str]]], watch: Watch,
                spread: float = 0.0, timeout: float = 180.0) -> tuple[float, float, list[Launch]]:
    """Launch every app at once (or spread evenly over `spread` seconds), each on its own connection;
    returns (start, end = the last window mapped or app ended, the launches)."""
    clients = [await ipc.Client.connect(system.kernel_socket) for _ in apps]
    launches = [Launch(ref) for ref, _ in apps]
    started = time.monotonic()

    async def one(index: int, client: ipc.Client) -> None:
        await asyncio.sleep(spread * index / max(1, len(apps)))
        launch = launches[index]
        launch.sent = time.monotonic() - started
        try:
            app = await client.call("apps.run", timeout=timeout, ref=apps[index][0], granted=apps[index][1])
        except (ipc.RpcError, ConnectionError, TimeoutError) as error:
            launch.error = f"{type(error).__name__}: {error}"
        else:
            launch.pid, launch.app_id = app["pid"], app["app_id"]
        launch.answered = time.monotonic() - started

    try:
        await asyncio.gather(*(one(i, c) for i, c in enumerate(clients)))
        await watch.until({launch.pid for launch in launches if launch.pid}, timeout)
    finally:
        for client in clients:
            await client.close()
    for launch in launches:
        if launch.pid in watch.mapped:
            launch.visible = watch.mapped[launch.pid] - started
        elif launch.pid:
            launch.error = f"ended before its first frame: {' '.join(watch.ended[launch.pid])}"
    return started, time.monotonic(), launches


async def stop_all(system: System, timeout: float = 60.0) -> None:
    """Stop every running app (also any an app started: a composed app's callees), all at once, and
    wait until none runs."""
    async def stop(app_id: str) -> None:
        client = await ipc.Client.connect(system.kernel_socket)
        try:
            with contextlib.suppress(ipc.RpcError):  # it stopped meanwhile
                await client.call("apps.stop", timeout=timeout, app_id=app_id)
        finally:
            await client.close()

    client = await ipc.Client.connect(system.kernel_socket)
    try:
        deadline = time.monotonic() + timeout
        while running := await client.call("apps.running"):
            assert time.monotonic() < deadline, f"apps still running {timeout} s after apps.stop: {running}"
            await asyncio.gather(*(stop(app["app_id"]) for app in running))
    finally:
        await client.close()


async def warm_up(system: System, app: tuple[str, list[str]], watch: Watch, forked: bool) -> None:
    """Fill the wasm cache, wait for the zygote, and launch once more through it, so the burst
    measures warm launches, as a running system has them."""
    await burst(system, [app], watch)
    await stop_all(system)
    if forked:
        log = system.root / "kernel.log"
        deadline = time.monotonic() + 120
        while "zygote ready" not in log.read_text(errors="replace"):
            assert time.monotonic() < deadline, f"zygote not ready\n{system.log_tail()}"
            await asyncio.sleep(0.1)
    await burst(system, [app], watch)
    await stop_all(system)


# -- figures ------------------------------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


@dataclass
class Window:
    """Figures of one stretch of time (the burst, or the baseline)."""

    seconds: float
    intervals: list[float]        # between frame callbacks, as the client received them
    stamped: list[float]          # the same, by the compositor's own ms stamps
    status: list[float]
    windows: list[float]
    starting_max: int
    compositor_cpu: float         # seconds of CPU the compositor used in the stretch

    def pacing(self, values: list[float]) -> str:
        if not values:
            return "no frames"
        late = sum(1 for v in values if v > 2 * REFRESH_S)
        return (f"{latency(values).rsplit(' (', 1)[0]}, "
                f"{late} of {len(values)} over {2 * REFRESH_S * 1000:.0f} ms")


def slice_window(start: float, end: float, frames: list[tuple[float, int]], probes: Probes,
                 compositor_cpu: float) -> Window:
    inside = [(t, stamp) for t, stamp in frames if start <= t <= end]
    intervals = [b[0] - a[0] for a, b in itertools.pairwise(inside)]
    stamped = [((b[1] - a[1]) & 0xFFFFFFFF) / 1000 for a, b in itertools.pairwise(inside)]
    return Window(end - start, intervals, stamped,
                  [s for t, s in probes.status if start <= t <= end],
                  [s for t, s in probes.windows if start <= t <= end],
                  max((n for t, n in probes.starting if start <= t <= end), default=0), compositor_cpu)


def latency(values: list[float]) -> str:
    if not values:
        return "no samples"
    return (f"median {statistics.median(values) * 1000:.1f} / p95 {percentile(values, 0.95) * 1000:.1f} / "
            f"max {max(values) * 1000:.0f} ms ({len(values)} calls)")


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "-"


@dataclass
class Result:
    mode: str
    launches: list[Launch]
    crashed: dict[int, str]
    burst: Window
    baseline: Window


async def measure_async(system: System, count: int, forked: bool) -> Result:
    assert system.kernel is not None and system.compositor is not None
    apps = await starter_refs(system)
    chosen = [apps[i % len(apps)] for i in range(count)]
    watch = await Watch.open(system)
    pacing = None
    try:
        await warm_up(system, apps[0], watch, forked)
        pacing = await asyncio.to_thread(start_pacing_client, system)
        probes, stop = Probes(), asyncio.Event()
        probing = asyncio.create_task(run_probes(system, system.kernel.pid, probes, stop))
        cpu_before = cpu_seconds(system.compositor.pid)
        start, end, launches = await burst(system, chosen, watch)
        cpu_burst = cpu_seconds(system.compositor.pid) - cpu_before
        await stop_all(system)
        crashed = {pid: reason for pid, reason in watch.crashed.items()
                   if pid in {launch.pid for launch in launches}}
        # the baseline: as long as the burst, nothing launching, nothing else running
        base_start = time.monotonic()
        cpu_before = cpu_seconds(system.compositor.pid)
        await asyncio.sleep(end - start)
        base_end = time.monotonic()
        cpu_base = cpu_seconds(system.compositor.pid) - cpu_before
        stop.set()
        await probing
        frames = await asyncio.to_thread(stop_pacing_client, pacing)
        pacing = None
    finally:
        if pacing is not None:
            pacing.kill()
        await watch.close()
    return Result("forked" if forked else "spawned", launches, crashed,
                  slice_window(start, end, frames, probes, cpu_burst),
                  slice_window(base_start, base_end, frames, probes, cpu_base))


def measure(mode: str, count: int) -> Result:
    system = make_system(MODES[mode])
    try:
        system.start_compositor()
        system.start_kernel()
        return asyncio.run(measure_async(system, count, mode == "forked"))
    except BaseException:
        print(system.log_tail(), file=sys.stderr)
        raise
    finally:
        remove(system)


def report(result: Result) -> None:
    launches, b, base = result.launches, result.burst, result.baseline
    failed = [launch for launch in launches if launch.error]
    visible = [launch.visible for launch in launches if not launch.error]
    answered = [launch.answered for launch in launches if not launch.error]
    print(f"-- app hosts {result.mode}: {len(launches)} apps.run at once, "
          f"{len(failed)} without a first frame")
    for launch in failed:
        print(f"   {launch.ref[:12]}: {launch.error}")
    print(f"crashed before they were stopped: {len(result.crashed)}")
    for pid, reason in result.crashed.items():
        print(f"   pid {pid}: {reason}")
    if visible:
        print(f"apps.run answered (host ready): {latency(answered).rsplit(' (', 1)[0]}")
        print(f"first frame per app:            median {statistics.median(visible) * 1000:.0f} / "
              f"p95 {percentile(visible, 0.95) * 1000:.0f} / max {max(visible) * 1000:.0f} ms "
              f"(first {min(visible) * 1000:.0f} ms)")
        print(f"all {len(visible)} first frames:          {max(visible) * 1000:.0f} ms")
    print(f"hosts starting at once, most seen: {b.starting_max} (the bound is 4)")
    print(f"frame callbacks, burst ({b.seconds:.2f} s):     {b.pacing(b.intervals)}")
    print(f"frame callbacks, baseline ({base.seconds:.2f} s):  {base.pacing(base.intervals)}")
    print(f"  by the compositor's stamps, burst:   {b.pacing(b.stamped)}")
    print(f"  by the compositor's stamps, baseline: {base.pacing(base.stamped)}")
    if b.intervals and base.intervals:
        median = ratio(statistics.median(b.intervals), statistics.median(base.intervals))
        print(f"  burst / baseline: median {median}"
              f", p95 {ratio(percentile(b.intervals, 0.95), percentile(base.intervals, 0.95))}"
              f", max {ratio(max(b.intervals), max(base.intervals))}")
    print(f"kernel 'status', burst:        {latency(b.status)}")
    print(f"kernel 'status', baseline:     {latency(base.status)}")
    print(f"compositor 'windows', burst:   {latency(b.windows)}")
    print(f"compositor 'windows', baseline: {latency(base.windows)}")
    for name, burst_values, base_values in (("status", b.status, base.status),
                                            ("windows", b.windows, base.windows)):
        if burst_values and base_values:
            print(f"  {name} burst / baseline: median "
                  f"{ratio(statistics.median(burst_values), statistics.median(base_values))}, p95 "
                  f"{ratio(percentile(burst_values, 0.95), percentile(base_values, 0.95))}")
    print(f"compositor CPU: burst {b.compositor_cpu / b.seconds * 100:.0f} % of a core, "
          f"baseline {base.compositor_cpu / base.seconds * 100:.0f} %")


def main(count: int, modes: list[str]) -> None:
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    results = []
    for mode in modes:
        results.append(measure(mode, count))
        report(results[-1])
    if len(results) == 2:
        forked, spawned = results
        f = [launch.visible for launch in forked.launches if not launch.error]
        s = [launch.visible for launch in spawned.launches if not launch.error]
        if f and s:
            print(f"all first frames, forked / spawned: {ratio(max(f), max(s))}; "
                  f"median per app {ratio(statistics.median(f), statistics.median(s))}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--apps", type=int, default=16)
    parser.add_argument("--modes", default="forked,spawned")
    parser.add_argument("--pacing-client", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.pacing_client:
        pacing_client()
    else:
        main(arguments.apps, arguments.modes.split(","))
