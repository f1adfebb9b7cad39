"""The app host drops to a per-app uid in an empty network namespace (checked from outside, in /proc)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from llmos.kernel.sandbox.confine import UidTable

from .conftest import app_source

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to setuid and unshare")


@needs_root
def test_app_host_is_unprivileged_and_has_no_network(make_kernel, tmp_path):
    async def scenario():
        async with make_kernel() as kernel:
            token = kernel.authority.mint("pomodoro", ["storage:local", "timer", "notify", "ui:window"])
            app = await kernel.manager.launch(app_source("pomodoro.ts"), token)
            status = await app.status()
            uid = UidTable(tmp_path / "state" / "sandbox" / "uids.json").uid("pomodoro")
            assert status["confinement"] == {"uid": uid, "netns": True, "skipped": []}
            proc = Path("/proc") / str(app.pid)
            uids = next(line for line in (proc / "status").read_text().splitlines()
                        if line.startswith("Uid:")).split()[1:]
            assert uids == [str(uid)] * 4
            assert os.readlink(proc / "ns" / "net") != os.readlink("/proc/self/ns/net")
            interfaces = [line.split(":")[0].strip() for line in (proc / "net" / "dev").read_text()
                          .splitlines()[2:]]
            assert interfaces == ["lo"]
            # Still fully working after the drop: a storage call goes through the kernel.
            tree = (await app.tree())["tree"]
            slider = tree["children"][2]["props"]["onChange"]["$handler"]
            await app.event(slider, [5])
            assert kernel.broker.storage.get("pomodoro", "minutes") == "5"
    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_sandbox_settings_from_config():
    from llmos import config
    from llmos.kernel.sandbox.limits import GuestLimits
    from llmos.settings import SandboxSettings
    values = config.parse('[sandbox]\nmemory_mb = 8\ndeadline_ms = "fast"\n').settings.sandbox
    assert values.memory_mb == 8 and values.deadline_ms == 500  # wrong type keeps the default
    limits = GuestLimits.from_settings(values)
    assert limits.memory_bytes == 8 * 1024 * 1024 and limits.deadline_s == 0.5
    assert GuestLimits.from_settings(SandboxSettings()) == GuestLimits()  # one set of defaults


def test_uid_table_gives_distinct_apps_distinct_uids_that_survive_a_reopen(tmp_path):
    import zlib
    path = tmp_path / "sandbox" / "uids.json"
    table = UidTable(path, base=1000, count=50)
    # two ids that a crc32 % count scheme would put on the same uid
    first = "app-a"
    second = next(f"app-{i}" for i in range(10_000)
                  if zlib.crc32(f"app-{i}".encode()) % 50 == zlib.crc32(first.encode()) % 50
                  and f"app-{i}" != first)
    uids = {name: table.uid(name) for name in [first, second, *(f"other-{i}" for i in range(30))]}
    assert len(set(uids.values())) == len(uids), "two apps share a uid"
    assert all(1000 <= uid < 1050 for uid in uids.values())
    reopened = UidTable(path, base=1000, count=50)
    assert {name: reopened.uid(name) for name in uids} == uids
    assert not list(path.parent.glob("*.tmp"))
