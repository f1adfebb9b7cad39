"""A file replaced in one rename: written beside its target as a temporary, flushed to disk, then renamed
over it. A reader sees the old file or the new one, never half of one, and a power cut leaves the old.

Every service loads its settings at start, and some write small state files (llmos.toml's user
settings, resolv.conf, DHCP leases), so `tempfile` is imported only when something is written: with the
`shutil`, `random`, `bz2` and `lzma` it brings in, it was about 2 % of each service's imports.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def write_bytes(target: Path, data: bytes, mode: int = 0o600) -> None:
    """`target` now holds `data`, with permissions `mode`; on any error it is as it was."""
    import tempfile

    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def write_text(target: Path, text: str, mode: int = 0o600) -> None:
    write_bytes(target, text.encode("utf-8"), mode)
