"""Writes that a power cut cannot leave half done: temp file in the same directory, fsync, rename,
fsync the directory. Used for the slot state file, loader entries, loader.conf and boot files."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
from collections.abc import Iterable
from pathlib import Path


def fsync_dir(directory: Path) -> None:
    """Persist a rename: the directory entry lives in the directory, not in the file."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError:  # vfat (the ESP) may refuse fsync on a directory; the file itself was synced
        pass
    finally:
        os.close(fd)


def write_chunks(path: Path, chunks: Iterable[bytes], mode: int = 0o644) -> str:
    """Write chunks to path atomically and return their sha256; the old file stays until the rename."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    digest = hashlib.sha256()
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        try:
            for chunk in chunks:
                digest.update(chunk)
                view = memoryview(chunk)
                while view:
                    written = os.write(fd, view)
                    if written == 0:
                        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
                    view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    fsync_dir(path.parent)
    return digest.hexdigest()


def write_bytes(path: Path, data: bytes, mode: int = 0o644) -> None:
    write_chunks(path, [data], mode)


def rename(source: Path, target: Path) -> None:
    """A rename that is on disk when this returns (the boot counter lives in file names)."""
    os.replace(source, target)
    fsync_dir(target.parent)


def remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
        fsync_dir(path.parent)
