"""A cgroup v2 per app host, under <root>/llmos/apps/host-<pid>, with cpu.max as a backstop to the
host's own CPU budget (cpu.py): if that check is ever escaped, the kernel's scheduler still holds the
app below one core, so the rest of the system keeps a share whatever the app does. llmos/apps as a
whole has a low cpu.weight, so under contention the services (the compositor first) run before apps.

The kernel (root, in the cgroup init made for it) enables the cpu controller down to llmos/apps and
moves each host in right after spawning it, before the host reads its launch spec, so no app code
runs outside it. A new kernel kills what an earlier one left there. Where there is no cgroup2, no
llmos cgroup (not started by init) or no permission, this is logged once and apps run without it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

from llmos.init.cgroups import cgroup_root

log = logging.getLogger("llmos.kernel.sandbox.cgroup")

PERIOD_US = 100_000
# cpu.weight of llmos/apps, all app hosts together, against 100 for each of init's services: when the CPU
# is contended (sixteen apps starting at once), the compositor and the kernel are scheduled first, so
# frames keep coming and calls keep being answered; on an idle machine the weight changes nothing.
APPS_WEIGHT = 25


def _nothing() -> None:
    return None


class AppCgroups:
    def __init__(self, cpu_ms_per_s: int, root: Path | None = None) -> None:
        self.root = root or cgroup_root()
        self.base = self.root / "llmos" / "apps"
        # the backstop sits above the host's own budget, so the host's clear fault comes first
        quota = min(PERIOD_US, int(cpu_ms_per_s * 1.25 * PERIOD_US / 1000))
        self.cpu_max = f"{quota} {PERIOD_US}"
        self.available: bool | None = None  # None: not tried yet (the first launch sets it up)

    def _setup(self) -> bool:
        if not (self.root / "cgroup.controllers").exists():
            log.info("app cgroups: no cgroup2 at %s; apps run without a cpu.max backstop", self.root)
            return False
        if not (self.root / "llmos").is_dir():
            log.info("app cgroups: no %s (the kernel was not started by init); no cpu.max backstop",
                     self.root / "llmos")
            return False
        try:
            if "cpu" not in (self.root / "cgroup.controllers").read_text().split():
                raise OSError("the cpu controller is not offered")
            for directory in (self.root, self.root / "llmos"):
                self._enable_cpu(directory)
            self.base.mkdir(exist_ok=True)
            self._kill_leftovers()
            (self.base / "cpu.weight").write_text(str(APPS_WEIGHT))
            self._enable_cpu(self.base)
        except OSError as error:
            log.warning("app cgroups: cannot set up %s (%s); apps run without a cpu.max backstop",
                        self.base, error)
            return False
        log.info("app cgroups: each app host gets %s with cpu.max %s; all apps together weigh %d against "
                 "100 per service", self.base, self.cpu_max, APPS_WEIGHT)
        return True

    @staticmethod
    def _enable_cpu(directory: Path) -> None:
        control = directory / "cgroup.subtree_control"
        current = control.read_text().split() if control.exists() else []
        if "cpu" not in current:
            control.write_text("+cpu")

    def _kill_leftovers(self) -> None:
        """Hosts of a kernel that died: they must not run on unsupervised."""
        for leftover in self.base.glob("host-*"):
            with contextlib.suppress(OSError):
                (leftover / "cgroup.kill").write_text("1")
            with contextlib.suppress(OSError):
                leftover.rmdir()

    def place(self, pid: int) -> Callable[[], None]:
        """Move `pid` into a cgroup of its own; returns what removes that cgroup once the process
        has exited (a no-op when cgroups are unavailable)."""
        if self.available is None:
            self.available = self._setup()
        if not self.available:
            return _nothing
        path = self.base / f"host-{pid}"
        try:
            path.mkdir(exist_ok=True)
            (path / "cpu.max").write_text(self.cpu_max)
            (path / "cgroup.procs").write_text(str(pid))
        except OSError as error:
            log.warning("app cgroups: host %d runs without its cgroup: %s", pid, error)
            self._remove(path)
            return _nothing
        return lambda: self._remove(path)

    @staticmethod
    def _remove(path: Path) -> None:
        with contextlib.suppress(OSError):
            path.rmdir()
