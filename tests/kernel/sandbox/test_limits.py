"""Resource abuse is contained: each misbehaviour stops only the offending app, with a reason,
while a bystander app and the kernel keep working."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from llmos.kernel.sandbox.limits import GuestLimits

from .conftest import app_source
from .test_attacks import button

LIMITS = GuestLimits(memory_bytes=8 * 1024 * 1024, deadline_s=1.5, max_nodes=500)


def test_runaway_memory_recursion_and_huge_tree_each_stop_only_that_app(make_kernel):
    async def scenario():
        async with make_kernel(limits=LIMITS) as kernel:
            bystander = await kernel.manager.launch(
                app_source("pomodoro.ts"), kernel.authority.mint("pomodoro", ["storage:local", "timer",
                                                                              "notify", "ui:window"]))
            cases = {"spin": "deadline", "hog": "memory", "dive": "stack", "grow": "tree"}
            apps = await asyncio.gather(*[
                kernel.manager.launch(app_source("abuse.ts"), kernel.authority.mint(f"abuse-{label}",
                                                                                   ["ui:window"]))
                for label in cases])
            for app, (label, kind) in zip(apps, cases.items(), strict=True):
                tree = (await app.tree())["tree"]
                answer = await app.event(button(tree, label))
                assert answer["state"] == "stopped", label
                code, stopped = await app.wait()
                assert code == 1, label
                assert stopped["kind"] == kind, (label, stopped)
            # Nothing else was affected: the bystander still renders and handles a click.
            tree = (await bystander.tree())["tree"]
            clicked = await bystander.event(button(tree, "Start"))
            assert clicked["state"] == "running" and button(clicked["tree"], "Pause")
    asyncio.run(asyncio.wait_for(scenario(), 90))


def test_runaway_top_level_code_fails_the_launch_with_a_reason(make_kernel):
    async def scenario():
        async with make_kernel(limits=LIMITS) as kernel:
            from llmos.kernel.sandbox.manager import LaunchError
            source = ("import { ui } from '@llm-os/sdk';\nwhile (true) {}\n"
                      "export default () => ui.Text('x');\n")
            try:
                await kernel.manager.launch(source, kernel.authority.mint("loop", ["ui:window"]))
            except LaunchError as error:
                assert error.status["kind"] == "deadline"
            else:
                raise AssertionError("a runaway module body must not launch")
    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_watchdog_kills_a_host_that_stops_answering(make_kernel):
    """SIGSTOP stands in for native code that never reaches QuickJS's interrupt poll."""
    import os
    import signal

    async def scenario():
        async with make_kernel(limits=GuestLimits(deadline_s=0.2)) as kernel:
            kernel.manager.watchdog_interval = 0.2
            app = await kernel.manager.launch(app_source("abuse.ts"),
                                              kernel.authority.mint("frozen", ["ui:window"]))
            os.kill(app.pid, signal.SIGSTOP)
            code, stopped = await app.wait(timeout=20)
            assert code == -signal.SIGKILL and stopped["kind"] == "hang"
    asyncio.run(asyncio.wait_for(scenario(), 60))


def _host_children() -> list[int]:
    """Our app host children, from /proc (the manager keeps no handle to a launch that was cancelled)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == os.getpid() and b"llmos.kernel.sandbox.host" in command:
            found.append(int(entry.name))
    return found


def test_cancelling_a_launch_mid_wait_leaves_no_host_running(make_kernel):
    async def scenario():
        # a module body that spins until the load deadline keeps the host "starting" for seconds
        async with make_kernel(limits=GuestLimits(deadline_s=1.5)) as kernel:
            source = ("import { ui } from '@llm-os/sdk';\nwhile (true) {}\n"
                      "export default () => ui.Text('x');\n")
            launch = asyncio.ensure_future(
                kernel.manager.launch(source, kernel.authority.mint("slow", ["ui:window"])))
            deadline = asyncio.get_running_loop().time() + 20
            while not (hosts := _host_children()) or not list(kernel.manager.run_dir.glob("*.sock")):
                assert asyncio.get_running_loop().time() < deadline and not launch.done()
                await asyncio.sleep(0.01)
            launch.cancel()
            with pytest.raises(asyncio.CancelledError):
                await launch
            assert _host_children() == []
            for pid in hosts:
                with pytest.raises(ProcessLookupError):
                    os.kill(pid, 0)  # killed and reaped, not a zombie
            assert kernel.manager.running == set()
    asyncio.run(asyncio.wait_for(scenario(), 60))


GARBLER = """import { ui } from '@llm-os/sdk';
export default function App() {
  const [n, setN] = ui.useState<number>(0);
  const garble = () => {
    // the runtime keeps its own JSON.stringify, so replace both that global and what it calls
    (JSON as any).stringify = () => '"garbage"';
    (Object.prototype as any).toJSON = function () {
      const self = this as any;
      return self.next !== undefined && self.tree !== undefined
        ? { tree: { type: 'Window', children: 7 }, next: null } : self;
    };
    setN(n + 1);
  };
  return ui.Window({ title: 'garbler' }, [ui.Button({ onClick: garble }, 'garble'), ui.Text({}, n)]);
}
"""


def test_a_garbled_render_answer_stops_the_app_with_a_tree_fault(make_kernel):
    async def scenario():
        async with make_kernel(limits=LIMITS) as kernel:
            app = await kernel.manager.launch(GARBLER, kernel.authority.mint("garbler", ["ui:window"]))
            tree = (await app.tree())["tree"]
            answer = await app.event(button(tree, "garble"), [])
            assert answer["state"] == "stopped"
            code, stopped = await app.wait()
            assert code == 1 and stopped["kind"] == "tree", stopped
            assert stopped["message"] == "tree.children is not a list", stopped  # located, no traceback
    asyncio.run(asyncio.wait_for(scenario(), 60))
