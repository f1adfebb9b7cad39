"""Services land in their own cgroup v2 before exec, and leftovers die with the service.

This host mounts cgroup2 at /sys/fs/cgroup/unified with no memory/pids controllers, which is exactly
the "limits unavailable" case: the test checks membership, cgroup.kill and the one-time warning."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .init_harness import wait_until

UNIFIED = Path("/sys/fs/cgroup/unified")


@pytest.fixture
def cgroup_root():
    if not (UNIFIED / "cgroup.controllers").exists() or not os.access(UNIFIED, os.W_OK):
        pytest.skip("no writable cgroup2 hierarchy on this host")
    root = UNIFIED / f"llmos-test-{os.getpid()}"
    root.mkdir()
    yield root
    for directory in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if directory.is_dir():
            (directory / "cgroup.kill").write_text("1")
            wait_until(lambda d=directory: not (d / "cgroup.procs").read_text().strip(), 5, "empty cgroup")
            directory.rmdir()
    root.rmdir()


def test_service_runs_in_its_cgroup_and_leftovers_are_killed(start_init, cgroup_root, tmp_path):
    escaped = tmp_path / "escaped.pid"
    init = start_init([
        {"name": "limited", "argv": "sleep 1000 & exec sleep 1000", "memory_max": "64M", "cpu_weight": 400},
        # setsid leaves the process group, but not the cgroup
        {"name": "leaky", "argv": f"setsid sleep 1000 & echo $! > {escaped}; sleep 0.2; exit 125"},
    ], env={"LLMOS_CGROUP_ROOT": str(cgroup_root)})
    limited = init.wait_state("limited", "ready")
    members = cgroup_root / "llmos/limited/cgroup.procs"
    wait_until(lambda: len(members.read_text().split()) == 2, what="main process and its child in the cgroup")
    assert limited["pid"] in [int(p) for p in members.read_text().split()]
    init.wait_line("cgroups: controllers cpu, memory, pids unavailable")
    init.wait_line("cgroups: memory.max unavailable; limited runs without it")
    init.wait_line("cgroups: cpu.weight unavailable; limited runs without it")
    assert init.output().count("memory.max unavailable") == 1

    init.wait_state("leaky", "stopped")
    pid = int(wait_until(lambda: escaped.exists() and escaped.read_text().strip(), what="escaped pid"))
    wait_until(lambda: not Path(f"/proc/{pid}").exists(), 5, "the escaped process to be killed and reaped")
    assert (cgroup_root / "llmos/leaky/cgroup.procs").read_text() == ""
