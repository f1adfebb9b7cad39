"""The one-time QuickJS compile happens in the kernel's warm-up, never inside an app's start.

On a slow machine (a busy TCG guest) compiling the guest takes ~36 s, longer than an app host may take
to report ready (30 s): the host was killed mid-compile, the cache stayed empty, and no app could ever
start there (issue 16, item 10: the approval dialog's Enter "did nothing"). A host that starts on a cold
cache after `AppManager.warm()` must load the compiled guest, not compile it within its ready clock.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from .conftest import app_source

SCOPES = ["storage:local", "timer", "notify", "ui:window"]


def test_the_first_launch_on_a_cold_cache_waits_for_the_warm_up_instead_of_compiling(make_kernel, tmp_path):
    async def scenario() -> None:
        async with make_kernel() as kernel:
            cold = Path(tempfile.mkdtemp(dir=tmp_path))  # 0700, ours: what the cache check wants
            kernel.manager.cache_dir = cold
            warming = kernel.manager.warm()
            assert not warming.done()  # the launch below starts while the compile runs
            app = await kernel.manager.launch(app_source("pomodoro.ts"),
                                              kernel.authority.mint("pomodoro", SCOPES))
            assert warming.done()
            assert app.ready is not None and app.ready["cache"] == "loaded", app.ready
            assert [p.name for p in cold.glob("guest-*.cwasm")], "the warm-up wrote the compiled guest"
            assert kernel.manager.warm() is warming  # once per manager
    asyncio.run(asyncio.wait_for(scenario(), 120))


def test_a_launch_without_a_warm_up_still_compiles_for_itself(make_kernel, tmp_path):
    async def scenario() -> None:
        async with make_kernel() as kernel:
            kernel.manager.cache_dir = Path(tempfile.mkdtemp(dir=tmp_path))
            app = await kernel.manager.launch(app_source("pomodoro.ts"),
                                              kernel.authority.mint("pomodoro", SCOPES))
            assert app.ready is not None and app.ready["cache"] == "compiled", app.ready
    asyncio.run(asyncio.wait_for(scenario(), 120))
