"""mount(2) and umount(2) through ctypes (Python has neither), the early mounts of PID 1, and the
final unmount: reverse order of /proc/self/mounts, remounting read-only what stays busy."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MNT_DETACH = 2

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def mount(source: str, target: str, fstype: str, flags: int = 0, data: str = "") -> None:
    result = _libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None,
                         ctypes.c_ulong(flags), data.encode() if data else None)
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"mount {fstype} on {target}: {os.strerror(error)}")


def umount(target: str, flags: int = 0) -> None:
    if _libc.umount2(target.encode(), flags) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"umount {target}: {os.strerror(error)}")


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    fstype: str
    flags: int = 0
    data: str = ""


_NOSUID_NODEV_NOEXEC = MS_NOSUID | MS_NODEV | MS_NOEXEC
EARLY: tuple[Mount, ...] = (
    Mount("proc", "/proc", "proc", _NOSUID_NODEV_NOEXEC),
    Mount("sysfs", "/sys", "sysfs", _NOSUID_NODEV_NOEXEC),
    Mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755"),
    Mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "gid=5,mode=0620,ptmxmode=0666"),
    Mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"),
    Mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"),
    Mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"),
    Mount("cgroup2", "/sys/fs/cgroup", "cgroup2", _NOSUID_NODEV_NOEXEC, "nsdelegate"),
)


def _unescape(field: str) -> str:
    """/proc/self/mounts writes space, tab, newline and backslash as octal escapes."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def mounted(table: str | None = None) -> list[Mount]:
    """The current mounts in mount order (from /proc/self/mounts)."""
    if table is None:
        try:
            table = Path("/proc/self/mounts").read_text()
        except OSError:
            return []
    result = []
    for line in table.splitlines():
        parts = line.split()
        if len(parts) >= 4:
            result.append(Mount(_unescape(parts[0]), _unescape(parts[1]), parts[2], 0, parts[3]))
    return result


def mount_early(log: Callable[[str], None], root: str = "",
                wanted: tuple[Mount, ...] = EARLY) -> list[str]:
    """Mount what is not mounted yet (stage 1 may have moved some over); returns what it mounted.

    `root` prefixes every target so tests can run this inside a private mount namespace."""
    done: list[str] = []
    for item in wanted:
        target = root + item.target
        try:
            if os.path.ismount(target):
                continue
            os.makedirs(target, exist_ok=True)
            mount(item.source, target, item.fstype, item.flags, item.data)
            done.append(target)
        except OSError as error:
            log(f"mounts: {error}")
    return done


@dataclass
class UnmountResult:
    unmounted: list[str]
    read_only: list[str]
    failed: list[str]


def unmount_all(log: Callable[[str], None], under: str = "/") -> UnmountResult:
    """Unmount everything at or below `under` in reverse mount order; remount read-only what is busy.

    The root itself (or `under`) is remounted read-only, never unmounted."""
    result = UnmountResult([], [], [])
    base = under.rstrip("/")
    for item in reversed(mounted()):
        target = item.target
        if target == (base or "/"):
            continue
        if base and not target.startswith(base + "/"):
            continue
        try:
            umount(target)
            result.unmounted.append(target)
            continue
        except OSError as error:
            reason = error
        if item.source.startswith("/dev/"):  # a disk: at least make its filesystem clean
            try:
                mount(item.source, target, "", MS_REMOUNT | MS_RDONLY)
                result.read_only.append(target)
                log(f"mounts: {target} busy ({reason.strerror}); remounted read-only")
                continue
            except OSError as error:
                log(f"mounts: {target}: {error}")
        result.failed.append(target)
    with contextlib.suppress(OSError):
        mount("", base or "/", "", MS_REMOUNT | MS_RDONLY)
    return result
