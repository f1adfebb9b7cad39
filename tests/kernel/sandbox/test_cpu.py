"""Every way an app can keep a core busy ends with the app stopped and a reason, within about two
seconds: timers, promise jobs, re-renders it forces without the timer capability, the painting of
what it renders, and native built-ins that never reach QuickJS's interrupt poll."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time

from llmos.kernel.sandbox.limits import GuestLimits

from .conftest import app_source
from .test_attacks import button

# Budgets below the default (700 ms/s): the mechanism is under test, and a machine loaded by other
# work gives a hot app less than a core, which must not decide whether these tests pass.
BUDGET = GuestLimits(cpu_ms_per_s=200)
TIMER = ["ui:window", "timer"]
CPU_MESSAGE = re.compile(r"^used (\d+) ms of CPU in the last second, limit (\d+)$")

ZERO_INTERVAL = """import { ui, timer } from '@llm-os/sdk';
export default function App() {
  const [n, setN] = ui.useState<number>(0);
  const t = timer.useInterval(() => setN((v: number) => v + 1), 0);
  return ui.Window({ title: 'zero' }, [ui.Button({ onClick: t.start }, 'go'), ui.Text({}, String(n))]);
}
"""

ENDLESS_JOB = """import { ui, timer } from '@llm-os/sdk';
export default function App() {
  const t = timer.useInterval(() => { Promise.resolve().then(() => { for (;;) { /* spin */ } }); }, 50);
  return ui.Window({ title: 'jobs' }, [ui.Button({ onClick: t.start }, 'go')]);
}
"""

# No timer capability: the flush answer is forged to ask for a wake-up at once, with a new tree.
FORGED_WAKE = """import { ui } from '@llm-os/sdk';
export default function App() {
  const [n, setN] = ui.useState<number>(0);
  const go = () => {
    let k = 0;
    (Object.prototype as any).toJSON = function () {
      const self = this as any;
      if (self.next !== undefined && self.tree !== undefined) {
        k++;
        return { tree: { type: 'Window', props: { title: 'w' }, children: [String(k)] }, next: 0 };
      }
      return self;
    };
    setN(n + 1);
  };
  return ui.Window({ title: 'forged' }, [ui.Button({ onClick: go }, 'go'), ui.Text({}, String(n))]);
}
"""

# Cheap for the app to build, costly to paint: every command fills the whole canvas.
BIG_CANVAS = """import { ui, timer } from '@llm-os/sdk';
const commands: any[] = [];
for (let i = 0; i < 3000; i++) commands.push(['fillRect', 0, 0, 600, 400, i % 2 ? '#336699' : '#993366']);
export default function App() {
  const [n, setN] = ui.useState<number>(0);
  const t = timer.useInterval(() => setN((v: number) => v + 1), 1);
  return ui.Window({ title: 'canvas' }, [
    ui.Button({ onClick: t.start }, 'go'), ui.Text({}, String(n)),
    ui.Canvas({ width: 600, height: 400, commands }),
  ]);
}
"""

NATIVE_LOOP = """import { ui } from '@llm-os/sdk';
export default function App() {
  const go = () => { const a: number[] = []; (a as any).length = 4294967295; a.lastIndexOf(1); };
  return ui.Window({ title: 'native' }, [ui.Button({ onClick: go }, 'go')]);
}
"""


async def click_and_time_the_stop(app, label: str = "go", timeout: float = 6.0) -> tuple[float, int, dict]:
    """Click without waiting for the answer (a host stuck in native code never answers); return the
    seconds until the host exited, its exit code and its 'stopped' line."""
    tree = (await app.tree())["tree"]
    handler = button(tree, label)
    started = time.monotonic()
    click = asyncio.ensure_future(app.event(handler))
    try:
        code, stopped = await app.wait(timeout=timeout)
    finally:
        with contextlib.suppress(Exception):
            await click
    return time.monotonic() - started, code, stopped


def test_a_zero_ms_interval_is_stopped_for_cpu_and_spares_a_bystander(make_kernel):
    async def scenario():
        async with make_kernel(limits=BUDGET) as kernel:
            bystander = await kernel.manager.launch(
                app_source("pomodoro.ts"), kernel.authority.mint("pomodoro", ["storage:local", "timer",
                                                                              "notify", "ui:window"]))
            app = await kernel.manager.launch(ZERO_INTERVAL, kernel.authority.mint("hot", TIMER))
            seconds, code, stopped = await click_and_time_the_stop(app)
            assert code == 1 and stopped["kind"] == "cpu", stopped
            used, limit = map(int, CPU_MESSAGE.match(stopped["message"]).groups())
            assert used > limit == BUDGET.cpu_ms_per_s
            assert seconds < 3.0, seconds
            tree = (await bystander.tree())["tree"]
            assert (await bystander.event(button(tree, "Start")))["state"] == "running"
    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_a_promise_job_that_never_ends_is_a_deadline_fault(make_kernel):
    async def scenario():
        async with make_kernel() as kernel:
            app = await kernel.manager.launch(ENDLESS_JOB, kernel.authority.mint("jobs", TIMER))
            seconds, code, stopped = await click_and_time_the_stop(app)
            assert code == 1 and stopped["kind"] == "deadline", stopped
            assert seconds < 3.0, seconds
    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_a_forged_wake_up_without_the_timer_capability_stops_the_app(make_kernel):
    async def scenario():
        async with make_kernel() as kernel:
            app = await kernel.manager.launch(FORGED_WAKE, kernel.authority.mint("forged", ["ui:window"]))
            seconds, code, stopped = await click_and_time_the_stop(app)
            assert code == 1 and stopped["kind"] == "tree", stopped
            assert "timer" in stopped["message"], stopped
            assert seconds < 3.0, seconds
    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_painting_counts_against_the_cpu_budget(make_kernel):
    async def scenario():
        # deadlines the app's own JS never comes near, even on a loaded machine: only painting is hot
        limits = GuestLimits(deadline_s=2.0, load_deadline_s=4.0, cpu_ms_per_s=100)
        async with make_kernel(limits=limits) as kernel:
            kernel.manager.renderer = "tests.kernel.sandbox.paint_renderer"
            app = await kernel.manager.launch(BIG_CANVAS, kernel.authority.mint("canvas", TIMER))
            seconds, code, stopped = await click_and_time_the_stop(app)
            assert code == 1 and stopped["kind"] == "cpu", stopped
            assert seconds < 3.5, seconds
    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_a_native_loop_that_never_polls_is_stopped_by_the_hosts_own_watchdog(make_kernel):
    async def scenario():
        async with make_kernel() as kernel:
            app = await kernel.manager.launch(NATIVE_LOOP, kernel.authority.mint("native", ["ui:window"]))
            seconds, code, stopped = await click_and_time_the_stop(app)
            assert code == 1 and stopped["kind"] == "deadline", stopped
            assert "did not return" in stopped["message"], stopped
            assert seconds < 3.0, seconds
    asyncio.run(asyncio.wait_for(scenario(), 60))


class FakeCpu:
    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self) -> float:
        return self.seconds


def test_the_budget_counts_the_last_second_only_and_says_by_how_much() -> None:
    from llmos.kernel.sandbox.cpu import CpuBudget

    cpu = FakeCpu()
    budget = CpuBudget(limit_ms=500, clock=cpu)
    budget.reset(100.0)
    for step in range(1, 21):  # 40% of a core, sampled every 50 ms for a second
        cpu.seconds += 0.02
        assert budget.over(100.0 + step * 0.05) is None
    assert round(budget.used_ms(101.0)) == 400
    for step in range(1, 21):  # then 90% of a core: over once the window holds enough of it
        cpu.seconds += 0.045
        now = 101.0 + step * 0.05
        if (over := budget.over(now)) is not None:
            break
    used, limit = map(int, CPU_MESSAGE.match(over).groups())
    assert limit == 500 and 500 < used <= 600 and now < 101.6
    budget.charge(0.3)  # time the kernel spent on the app's calls counts too
    assert budget.used_ms(now) >= used + 299
    for step in range(1, 12):  # a second of rest (sampled, as the host's tick does) forgets it all
        rested = budget.used_ms(now + step * 0.1)
    assert rested == 0


def test_waiting_for_a_cpu_counts_only_in_proportion_to_the_cpu_used(monkeypatch) -> None:
    """A quiet app on a crowded machine waits long for its little CPU and must not be charged the
    queue; a hot app that gets only part of a core is charged its waiting, up to the cap."""
    from llmos.kernel.sandbox import cpu as cpu_module

    readings = {"cpu": 10.0, "wait": 5.0}
    monkeypatch.setattr(cpu_module.time, "process_time", lambda: readings["cpu"])
    clock = cpu_module.DemandClock()
    monkeypatch.setattr(clock, "_fd", 0)
    monkeypatch.setattr(clock, "_waited", lambda: readings["wait"])
    clock._wait = readings["wait"]
    start = clock()
    readings["cpu"] += 0.02  # a Pomodoro's tick: 20 ms of CPU after 800 ms in the run queue
    readings["wait"] += 0.8
    assert round((clock() - start) * 1000) == 20 + 40  # 20 ms used, waiting capped at twice that
    before = clock()
    readings["cpu"] += 0.2  # a busy loop given a fifth of a core: all its waiting counts
    readings["wait"] += 0.3
    assert round((clock() - before) * 1000) == 500


def test_the_start_allowance_is_an_amount_of_cpu_not_a_time() -> None:
    """The first `allowance_ms` of CPU after ready never put the app over budget, however fast they are
    used; after that the per-second limit holds at once, even in the app's first second."""
    from llmos.kernel.sandbox.cpu import CpuBudget

    cpu = FakeCpu()
    budget = CpuBudget(limit_ms=500, clock=cpu, allowance_ms=800)
    budget.reset(0.0)
    for step in range(1, 16):  # a whole core from the first moment: the allowance covers 0.75 s of it
        cpu.seconds = now = step * 0.05
        assert budget.over(now) is None, (now, budget.total_ms())
    cpu.seconds = now = 0.85
    assert budget.over(now) is not None  # at 0.85 s, not 2 s later as with a wall-clock grace
    quiet = CpuBudget(limit_ms=500, clock=cpu, allowance_ms=800)
    quiet.reset(now)
    cpu.seconds += 0.6  # a start that costs more than the per-second limit, within the allowance
    assert quiet.over(now + 0.7) is None


# Spends ~600 ms of CPU in its first moments (as a full-screen first paint under an emulated CPU does),
# then rests.
START_BURST = """import { ui, timer } from '@llm-os/sdk';
export default function App() {
  const [phase, setPhase] = ui.useState<string>('starting');
  const spin = (ms: number) => { const end = Date.now() + ms; while (Date.now() < end) { /* warm up */ } };
  timer.useTimeout(() => { spin(300); setPhase('half'); }, 0);
  timer.useTimeout(() => { spin(300); setPhase('warm'); }, 20);
  return ui.Window({ title: 'burst' }, [ui.Text({}, phase)]);
}
"""


def test_a_costly_start_within_the_allowance_runs_and_the_same_start_without_it_is_stopped(make_kernel):
    async def scenario():
        for allowance, survives in ((3000, True), (0, False)):
            async with make_kernel(limits=GuestLimits(cpu_ms_per_s=200, start_cpu_ms=allowance)) as kernel:
                app = await kernel.manager.launch(START_BURST, kernel.authority.mint("burst", TIMER))
                if survives:
                    for _ in range(100):
                        answer = await app.tree()
                        if answer["tree"]["children"][0]["children"] == ["warm"]:
                            break
                        await asyncio.sleep(0.05)
                    await asyncio.sleep(1.2)
                    answer = await app.tree()
                    assert answer["state"] == "running", answer
                    assert answer["tree"]["children"][0]["children"] == ["warm"], answer
                    await app.stop()
                else:
                    code, stopped = await app.wait(timeout=6)
                    assert code == 1 and stopped["kind"] == "cpu", stopped
    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_an_app_that_burns_from_its_start_is_stopped_within_two_seconds_with_the_default_limits(make_kernel):
    """bench/abuse.py's target, with the limits the kernel uses on the reference machine (the start
    allowance once was a 2 s wall-clock grace, which let an abuser run 2-2.5 s)."""
    async def scenario():
        limits = GuestLimits()
        assert limits.cpu_ms_per_s == 500 and limits.start_cpu_ms == 600
        async with make_kernel(limits=limits) as kernel:
            app = await kernel.manager.launch(ZERO_INTERVAL, kernel.authority.mint("hot", TIMER))
            seconds, code, stopped = await click_and_time_the_stop(app)
            assert code == 1 and stopped["kind"] == "cpu", stopped
            assert seconds < 2.0, seconds
    asyncio.run(asyncio.wait_for(scenario(), 60))
