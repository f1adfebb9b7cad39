"""Defence in depth for an app host process, applied after its sockets are open and its wasm module
is loaded: an empty network namespace (all app networking is brokered by the kernel anyway),
no-new-privileges, no core dumps or ptrace by peers, and a drop to an unprivileged per-app uid.
Each step that needs root is skipped with a logged reason when we are not root."""

from __future__ import annotations

import ctypes
import fcntl
import json
import logging
import os
import resource
import zlib
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("llmos.sandbox.confine")

CLONE_NEWNET = 0x40000000
PR_SET_NO_NEW_PRIVS = 38
PR_SET_DUMPABLE = 4


@dataclass
class Confinement:
    uid: int
    netns: bool
    skipped: list[str] = field(default_factory=list)


class UidTable:
    """A persisted app id -> uid table, so every app gets its own unprivileged uid (apps cannot signal
    or ptrace each other) and keeps it across reboots (its files stay its own). A hash alone would let
    two apps collide; here a collision just probes to the next free slot. Concurrent app hosts
    serialise on a lock file; the table is replaced atomically (temp file + rename)."""

    def __init__(self, path: Path, base: int = 100_000, count: int = 50_000) -> None:
        self.path, self.base, self.count = path, base, count

    def _load(self) -> dict[str, int]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            raise RuntimeError(f"{self.path}: unreadable uid table: {error}") from None
        if not isinstance(data, dict) or not all(isinstance(v, int) for v in data.values()):
            raise RuntimeError(f"{self.path}: the uid table must map app ids to integer uids")
        return data

    def uid(self, app_id: str) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            table = self._load()
            if app_id in table:
                return table[app_id]
            used = set(table.values())
            if len(used) >= self.count:
                raise RuntimeError(f"{self.path}: all {self.count} app uids are taken")
            slot = zlib.crc32(app_id.encode()) % self.count
            while self.base + slot in used:
                slot = (slot + 1) % self.count
            table[app_id] = self.base + slot
            temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            temp.write_text(json.dumps(table, sort_keys=True))
            os.replace(temp, self.path)
            return table[app_id]


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def confine(uid: int, new_netns: bool = True) -> Confinement:
    libc = _libc()
    result = Confinement(uid=os.getuid(), netns=False)
    if os.geteuid() != 0:
        result.skipped.append(f"not root (euid {os.geteuid()}): no network namespace, no uid change")
    else:
        if new_netns:
            if libc.unshare(CLONE_NEWNET) != 0:
                errno = ctypes.get_errno()
                result.skipped.append(f"unshare(CLONE_NEWNET) failed: {os.strerror(errno)}")
            else:
                result.netns = True
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        if os.getuid() != uid or os.geteuid() != uid:
            raise PermissionError(f"could not drop to uid {uid}")
        try:
            os.setuid(0)
        except PermissionError:
            pass
        else:
            raise PermissionError("regained root after dropping privileges")
        result.uid = uid
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        result.skipped.append("prctl(NO_NEW_PRIVS) failed")
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    for reason in result.skipped:
        log.info("confine: skipped: %s", reason)
    return result
