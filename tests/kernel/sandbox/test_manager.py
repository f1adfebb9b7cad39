"""AppManager's quiet clock: work that can wait (the example library's index) waits for a stretch
without launches, so it does not slow the first apps after boot."""

from __future__ import annotations

import asyncio
import math

from .conftest import app_source

SCOPES = ["storage:local", "timer", "notify", "ui:window"]


def test_quiet_is_zero_while_a_launch_is_under_way_and_counts_from_the_last_one(make_kernel) -> None:
    async def scenario() -> None:
        async with make_kernel() as kernel:
            manager = kernel.manager
            assert manager.quiet_for() == math.inf  # nothing launched yet
            token = kernel.authority.mint("pomodoro", SCOPES)
            launching = asyncio.create_task(manager.launch(app_source("pomodoro.ts"), token))
            await asyncio.sleep(0)  # the launch has begun
            assert manager.quiet_for() == 0.0
            app = await launching
            assert 0.0 < manager.quiet_for() < 60.0
            await app.stop()
    asyncio.run(asyncio.wait_for(scenario(), 120))
