"""One cgroup v2 per service under /sys/fs/cgroup/llmos/<name>, with memory.max, pids.max and cpu.weight.

A child joins its cgroup before exec (it writes 0 to a cgroup.procs descriptor that the parent opened),
so nothing it forks can escape the limits. When cgroup2 is missing or read-only (host tests, old
kernels) this is logged once and services run without limits.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

CONTROLLERS = ("cpu", "memory", "pids")
CPU_WEIGHT_DEFAULT = 100  # the kernel's own cpu.weight
# A limit at the kernel's own default needs no controller: its absence is not worth a warning.
KERNEL_DEFAULTS = {"memory.max": "max", "pids.max": "max", "cpu.weight": str(CPU_WEIGHT_DEFAULT)}


def cgroup_root() -> Path:
    return Path(os.environ.get("LLMOS_CGROUP_ROOT", "/sys/fs/cgroup"))


class Cgroups:
    def __init__(self, log: Callable[[str], None], root: Path | None = None) -> None:
        self.log = log
        self.root = root or cgroup_root()
        self.base = self.root / "llmos"
        self.available = False
        self._warned: set[str] = set()

    def warn_once(self, key: str, text: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.log(text)

    def setup(self) -> bool:
        if not (self.root / "cgroup.controllers").exists():
            self.warn_once("setup", f"cgroups: no cgroup2 at {self.root}; services run without limits")
            return False
        try:
            self.base.mkdir(exist_ok=True)
        except OSError as error:
            self.warn_once("setup", f"cgroups: cannot create {self.base} ({error}); "
                                    "services run without limits")
            return False
        self.available = True
        offered = (self.root / "cgroup.controllers").read_text().split()
        for directory in (self.root, self.base):
            for controller in CONTROLLERS:
                if controller not in offered:
                    continue
                try:
                    (directory / "cgroup.subtree_control").write_text(f"+{controller}")
                except OSError as error:
                    self.warn_once(f"enable-{controller}", f"cgroups: cannot enable {controller} ({error})")
        missing = [c for c in CONTROLLERS if c not in offered]
        if missing:
            self.warn_once("missing", f"cgroups: controllers {', '.join(missing)} unavailable; "
                                      "no such limits")
        return True

    def prepare(self, name: str, limits: dict[str, str]) -> int | None:
        """Create and configure the service's cgroup; returns a cgroup.procs fd for the child, or None."""
        if not self.available:
            return None
        path = self.base / name
        try:
            path.mkdir(exist_ok=True)
            for key, value in limits.items():
                target = path / key
                if target.exists():
                    target.write_text(value)
                elif value != KERNEL_DEFAULTS.get(key):
                    self.warn_once(f"limit-{key}", f"cgroups: {key} unavailable; {name} runs without it")
            return os.open(path / "cgroup.procs", os.O_WRONLY | os.O_CLOEXEC)
        except OSError as error:
            self.warn_once(f"prepare-{name}", f"cgroups: {name}: {error}; it runs without a cgroup")
            return None

    def kill(self, name: str) -> bool:
        """SIGKILL every process left in the service's cgroup (cgroup.kill, Linux 5.14+)."""
        if not self.available:
            return False
        try:
            (self.base / name / "cgroup.kill").write_text("1")
            return True
        except OSError:
            return False

    def procs(self, name: str) -> list[int]:
        try:
            return [int(pid) for pid in (self.base / name / "cgroup.procs").read_text().split()]
        except (OSError, ValueError):
            return []

    def remove(self, name: str) -> None:
        with contextlib.suppress(OSError):
            (self.base / name).rmdir()


def join(fd: int) -> None:
    """Runs in the forked child before exec: move this process into the cgroup."""
    os.write(fd, b"0")
