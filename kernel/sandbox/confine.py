"""Defence in depth for an app host process, applied after its sockets are open and its wasm module
is loaded: an empty network namespace (all app networking is brokered by the kernel anyway),
no-new-privileges, no core dumps or ptrace by peers, and a drop to an unprivileged per-app uid.
Each step that needs root is skipped with a logged reason when we are not root."""

from __future__ import annotations

import ctypes
import logging
import os
import resource
import zlib
from dataclasses import dataclass, field

log = logging.getLogger("llmos.sandbox.confine")

CLONE_NEWNET = 0x40000000
PR_SET_NO_NEW_PRIVS = 38
PR_SET_DUMPABLE = 4


@dataclass
class Confinement:
    uid: int
    netns: bool
    skipped: list[str] = field(default_factory=list)


def app_uid(app_id: str, base: int = 100_000, count: int = 50_000) -> int:
    """A stable unprivileged uid per app, so apps cannot signal or ptrace each other."""
    return base + zlib.crc32(app_id.encode()) % count


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
