"""The cpu.max backstop: each app host in a cgroup of its own under llmos/apps, set up by the kernel
where init made the cgroups, and skipped with a reason elsewhere. Tried on a directory tree shaped
like cgroupfs (this host has no writable cgroup2)."""

from __future__ import annotations

import logging
from pathlib import Path

from llmos.kernel.sandbox.cgroup import AppCgroups


def fake_cgroupfs(root: Path, controllers: str = "cpu memory pids") -> Path:
    (root / "llmos").mkdir(parents=True)
    (root / "cgroup.controllers").write_text(controllers + "\n")
    (root / "cgroup.subtree_control").write_text("memory pids\n")
    (root / "llmos" / "cgroup.subtree_control").write_text("memory pids\n")
    return root


def test_each_host_gets_a_cgroup_with_cpu_max_above_its_own_budget(tmp_path):
    root = fake_cgroupfs(tmp_path)
    (root / "llmos" / "apps" / "host-7").mkdir(parents=True)  # left by a kernel that died
    cgroups = AppCgroups(cpu_ms_per_s=700, root=root)
    remove = cgroups.place(4242)
    host = root / "llmos" / "apps" / "host-4242"
    assert (host / "cpu.max").read_text() == "87500 100000"
    assert (host / "cgroup.procs").read_text() == "4242"
    for directory in (root, root / "llmos", root / "llmos" / "apps"):
        assert (directory / "cgroup.subtree_control").read_text() == "+cpu"
    assert (root / "llmos" / "apps" / "host-7" / "cgroup.kill").read_text() == "1"
    assert (root / "llmos" / "apps" / "cpu.weight").read_text() == "25"  # apps yield to the services
    for name in ("cpu.max", "cgroup.procs"):  # cgroupfs removes these itself; a plain directory needs help
        (host / name).unlink()
    remove()
    assert not host.exists()


def test_without_cgroup2_or_the_cpu_controller_apps_run_without_it_and_it_is_said_once(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="llmos.kernel.sandbox.cgroup")
    plain = AppCgroups(cpu_ms_per_s=700, root=tmp_path / "none")
    assert plain.place(1)() is None and plain.place(2)() is None
    no_cpu = AppCgroups(cpu_ms_per_s=700, root=fake_cgroupfs(tmp_path / "v2", "memory pids"))
    no_cpu.place(3)
    assert not (tmp_path / "v2" / "llmos" / "apps").exists()
    messages = [r.getMessage() for r in caplog.records]
    assert sum("no cgroup2" in m for m in messages) == 1
    assert any("cpu controller is not offered" in m for m in messages)
