"""Many launches at once through the real kernel service and a real headless compositor (bench/
launch_burst.py's machinery): sixteen saved apps all reach their first frame, at most four hosts start
at once, and the kernel and the compositor keep answering while they start; sixty launch requests
made within a second are all answered. Each burst runs once (a module fixture) and several tests look
at it, so a failure names what broke. Timings are measured by the bench, never asserted here beyond
bounds that only a hang or a stall would break."""

from __future__ import annotations

import asyncio
import itertools
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kernel.harness import System, running_system

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import launch_burst
from launch_burst import Launch, Probes, Watch, burst, run_probes, starter_refs, stop_all

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

BOUND = 4            # AppManager's max_starting: hosts that start (load, first render) at once
STALL_S = 5.0        # a call or a frame later than this is a hang, not a slow machine
FRAME_TIMEOUT_S = 120.0


@dataclass
class Burst:
    start: float
    end: float                       # every window mapped (or its app ended)
    launches: list[Launch]
    probes: Probes
    comms: dict[int, str | None]     # host pid -> its process name right after the burst
    frames: list[float]              # the animating client's frame callbacks
    stopped: bool                    # apps.running was empty after stop_all


@pytest.fixture(scope="module")
def system() -> Iterator[System]:
    """A fresh kernel (prefork on, the default) and compositor: the first burst comes right after
    boot, while the wasm cache is compiled and the zygote loads, as a session restored at boot."""
    with running_system() as running:
        yield running


def comm(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except FileNotFoundError:  # it has ended
        return None


async def run_burst(system: System, count: int, spread: float) -> tuple[float, float, list[Launch], Probes,
                                                                      dict[int, str | None]]:
    assert system.kernel is not None
    apps = await starter_refs(system)
    chosen = [apps[i % len(apps)] for i in range(count)]
    watch = await Watch.open(system)
    probes, stop = Probes(), asyncio.Event()
    probing = asyncio.create_task(run_probes(system, system.kernel.pid, probes, stop))
    try:
        start, end, launches = await burst(system, chosen, watch, spread=spread, timeout=FRAME_TIMEOUT_S)
        comms = {launch.pid: comm(launch.pid) for launch in launches if launch.pid}
    finally:
        stop.set()
        await probing
        await watch.close()
    return start, end, launches, probes, comms


def finish(system: System, result: tuple[float, float, list[Launch], Probes, dict[int, str | None]],
           frames: list[float]) -> Burst:
    asyncio.run(stop_all(system))
    return Burst(*result, frames=frames, stopped=system.call("apps.running") == [])


@pytest.fixture(scope="module")
def sixteen(system: System) -> Burst:
    """16 apps.run at once, with a real Wayland client animating through it all."""
    pacing = launch_burst.start_pacing_client(system)
    try:
        result = asyncio.run(run_burst(system, 16, spread=0.0))
    finally:
        frames = [t for t, _ in launch_burst.stop_pacing_client(pacing)]
    return finish(system, result, frames)


@pytest.fixture(scope="module")
def sixty(system: System) -> Burst:
    """60 apps.run requests, sent within half a second."""
    return finish(system, asyncio.run(run_burst(system, 60, spread=0.5)), [])


def longest_silence(samples: list[tuple[float, float]], start: float, end: float) -> float:
    """The longest stretch in [start, end] without an answered call (a sample counts at its answer)."""
    answered = sorted(t + seconds for t, seconds in samples if start <= t + seconds <= end)
    return max(b - a for a, b in itertools.pairwise([start, *answered, end]))


def check_bounded_and_responsive(run: Burst) -> None:
    """No more than BOUND hosts were seen starting at once (this kernel's hosts in /proc, less those
    it lists as running), and the kernel and the compositor answered all through the burst."""
    starting = [n for t, n in run.probes.starting if run.start <= t <= run.end]
    assert starting and max(starting) >= 1, f"no host was ever seen starting: {starting}"
    assert max(starting) <= BOUND, f"{max(starting)} hosts starting at once: {starting}"
    assert [s for t, s in run.probes.status if run.start <= t <= run.end], "no status answered in the burst"
    assert longest_silence(run.probes.status, run.start, run.end) < STALL_S, "the kernel stopped answering"
    assert longest_silence(run.probes.windows, run.start, run.end) < STALL_S, "the compositor went silent"


# -- sixteen at once -----------------------------------------------------------------------------------
def test_sixteen_launches_at_once_are_answered_and_started_four_at_a_time(sixteen: Burst) -> None:
    assert [launch.error for launch in sixteen.launches if not launch.pid] == []  # each apps.run launched
    assert len({launch.pid for launch in sixteen.launches}) == 16
    check_bounded_and_responsive(sixteen)
    assert sixteen.stopped


def test_the_compositor_keeps_sending_frames_while_sixteen_apps_start(sixteen: Burst) -> None:
    during = [t for t in sixteen.frames if sixteen.start <= t <= sixteen.end]
    assert during, "no frame callback during the burst"
    assert max(b - a for a, b in itertools.pairwise([sixteen.start, *during, sixteen.end])) < STALL_S


def test_a_burst_right_after_boot_forks_every_host_from_the_zygote(sixteen: Burst) -> None:
    """None spawned because the zygote was still loading (a host that has ended since has no name)."""
    spawned = [pid for pid, name in sixteen.comms.items() if name not in (launch_burst.HOST_COMM, None)]
    assert spawned == [], f"hosts spawned, not forked: {spawned}"
    assert any(sixteen.comms.values())


def test_sixteen_apps_at_once_all_reach_their_first_frame(sixteen: Burst) -> None:
    assert [launch.error for launch in sixteen.launches if launch.error] == []
    assert all(0 < launch.visible <= FRAME_TIMEOUT_S for launch in sixteen.launches)


# -- sixty within a second ------------------------------------------------------------------------------
def test_sixty_launch_requests_within_a_second_are_all_answered(sixty: Burst, system: System) -> None:
    assert max(launch.sent for launch in sixty.launches) < 1.0
    unanswered = [launch.error for launch in sixty.launches
                  if launch.error.startswith(("TimeoutError", "ConnectionError"))]
    assert unanswered == [], "a launch request hung"
    refused = [launch.error for launch in sixty.launches if not launch.pid]  # apps.run answered an error
    assert all(len(reason.split(":", 1)[-1].strip()) > 5 for reason in refused), refused
    launched = {launch.pid for launch in sixty.launches if launch.pid}
    assert len(launched) + len(refused) == 60 and launched, refused
    check_bounded_and_responsive(sixty)
    assert system.compositor_call("windows") is not None and system.call("status")["apps_running"] == 0
    assert sixty.stopped


def test_sixty_launched_apps_all_reach_their_first_frame(sixty: Burst) -> None:
    launched = [launch for launch in sixty.launches if launch.pid]
    assert [launch.error for launch in launched if launch.error] == []
    assert all(0 < launch.visible <= FRAME_TIMEOUT_S for launch in launched)
