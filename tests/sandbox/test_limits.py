"""Resource abuse is contained: each misbehaviour stops only the offending app, with a reason,
while a bystander app and the kernel keep working."""

from __future__ import annotations

import asyncio

from llmos.kernel.sandbox.guest import GuestLimits

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
