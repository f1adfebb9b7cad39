"""One holder at a time across processes: an exclusive flock on a lock file. The kernel drops a flock
when its holder dies, so a process killed while holding it blocks nobody. Not re-entrant: a second
`flocked` of the same file in the same process waits for the first (it opens its own descriptor)."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def flocked(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
