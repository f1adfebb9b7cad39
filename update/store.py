"""The model store: the models both root slots share, on one ext4 partition, each file named by its
sha256. A root carries only symlinks into it (`/usr/share/llmos/models/NAME -> ../store/SHA256`), so a
slot pins its models by content and an update that keeps the model writes no model at all.

What keeps the A/B guarantee (docs/update.md, "The model store"): `llmos update apply` first works out
what the store must keep (the objects the running root links to, and the bundle's) and refuses before
writing anything when the new objects would not fit; then it deletes what neither root needs (the
inactive slot's entries are already off the menu, so nothing deletes a model the fallback slot
needs) and writes each missing object as temp file, fsync, read back, rename.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from llmos.update import atomic

STORE_DIR = "usr/share/llmos/store"  # inside a root: the mount point of the models partition
MODELS_DIR = "usr/share/llmos/models"  # inside a root: the names the system opens, symlinks into the store
PARTLABEL = "llmos-models"
PARTITION_TYPE = "3dc9ca95-ed52-49ad-a4a2-4522b21ac1dd"  # LLM OS model store (mkosi.repart/15-models.conf)
SHA256_RE = re.compile(r"[0-9a-f]{64}")
READ_CHUNK = 4 << 20
SPARE = 1 << 20  # kept free beyond what the objects need: ext4's own blocks for a new file

#: progress(stage, done_bytes, total_bytes)
Progress = Callable[[str, int, int], None]


class StoreRefused(Exception):
    """The store cannot take the bundle's objects; found before anything was written or deleted."""


class StoreWriteError(Exception):
    """Writing an object failed or read back wrong; the partial object was removed."""


@dataclass(frozen=True)
class Plan:
    """What one apply does to the store: delete `doomed`, then write `missing` (sha256 -> size)."""

    doomed: tuple[Path, ...]
    missing: tuple[tuple[str, int], ...]

    @property
    def needed(self) -> int:
        return sum(size for _, size in self.missing)


def _links(models: Path) -> Iterator[tuple[Path, str]]:
    """Each link in a root's models directory whose target is named by a sha256, with that name."""
    for here, _dirs, files in os.walk(models):
        for name in files:
            path = Path(here, name)
            if path.is_symlink() and SHA256_RE.fullmatch(target := Path(os.readlink(path)).name):
                yield path, target


def linked_objects(models: Path) -> set[str]:
    """The objects a root's models directory links to."""
    return {target for _path, target in _links(models)}


@dataclass(frozen=True)
class Usage:
    """What `llmos update status` says of the store."""

    objects: int
    used: int  # bytes of the objects
    free: int  # bytes the file system has left
    missing: tuple[str, ...]  # links of the running root whose object is not there

    def line(self) -> str:
        state = (f"MISSING {len(self.missing)} model file(s) the running root links to: "
                 f"{', '.join(self.missing)}" if self.missing
                 else "every model the running root links to is there")
        return (f"Model store: {self.objects} files, {self.used >> 20} MiB, {self.free >> 20} MiB free; "
                f"{state}.")


def usage(store: Path, models: Path) -> Usage | None:
    """None where the image has no store (its roots carry their models)."""
    if not store.is_dir():
        return None
    present = {entry.name: entry for entry in store.iterdir() if SHA256_RE.fullmatch(entry.name)}
    missing = sorted(str(path.relative_to(models)) for path, target in _links(models)
                     if target not in present)
    stats = os.statvfs(store)
    return Usage(len(present), sum(_size(path) for path in present.values()), stats.f_bavail * stats.f_frsize,
                 tuple(missing))


def plan(store: Path, keep: Iterable[str], wanted: Mapping[str, int]) -> Plan:
    """Decide, without touching the store, what to delete and what to write; raises StoreRefused when
    the wanted objects that are missing would not fit even after the deletions."""
    if not store.is_dir():
        raise StoreRefused(f"the model store {store} is not there (an image without a models partition "
                           "cannot take a bundle that carries models)")
    kept = set(keep) | set(wanted)
    present = {entry.name: entry for entry in store.iterdir()}
    doomed = tuple(sorted(path for name, path in present.items()
                          if name not in kept and name != "lost+found"))
    missing = tuple(sorted((sha, size) for sha, size in wanted.items() if sha not in present))
    usage = os.statvfs(store)
    free = usage.f_bavail * usage.f_frsize + sum(_size(path) for path in doomed)
    result = Plan(doomed, missing)
    if missing and result.needed + SPARE > free:
        raise StoreRefused(f"the model store {store} has {free >> 20} MiB free once unused models are "
                           f"deleted; the bundle's {len(missing)} new model file(s) need "
                           f"{(result.needed + SPARE) >> 20} MiB")
    return result


def _size(path: Path) -> int:
    with contextlib.suppress(OSError):
        return path.lstat().st_blocks * 512
    return 0


def collect(doomed: Iterable[Path]) -> None:
    """Delete objects no root links to (and temp files a power cut left); the directory is synced."""
    removed = [path for path in doomed if _remove(path)]
    if removed:
        atomic.fsync_dir(removed[0].parent)


def _remove(path: Path) -> bool:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:
        return False
    return True


def write_object(store: Path, sha256: str, size: int, chunks: Iterable[bytes], progress: Progress) -> Path:
    """Write one object atomically and read it back before it gets its name: an object in the store is
    always whole and matches its name."""
    if not SHA256_RE.fullmatch(sha256):
        raise ValueError(f"object name {sha256!r} is not a sha256")
    target = store / sha256
    stage = f"write model {sha256[:12]}"
    done = 0

    def counted() -> Iterable[bytes]:
        nonlocal done
        for chunk in chunks:
            done += len(chunk)
            progress(stage, done, size)
            yield chunk

    temp = store / f".{sha256}.partial"
    try:
        written = atomic.write_chunks(temp, counted())
        if written != sha256:
            raise StoreWriteError(f"model {sha256}: the bundle's bytes hash to {written}")
        _drop_cache(temp)
        read = _hash(temp)
        if read != sha256:
            raise StoreWriteError(f"model {sha256}: read back from {store} as {read}")
        atomic.rename(temp, target)
    except OSError as error:
        temp.unlink(missing_ok=True)
        raise StoreWriteError(f"model {sha256}: cannot write it to {store}: {error}") from error
    except StoreWriteError:
        temp.unlink(missing_ok=True)
        raise
    return target


def _drop_cache(path: Path) -> None:
    """So the read-back reads the disk, not the page cache the write filled."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(READ_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def move_into_store(root: Path) -> dict[str, int]:
    """The build's step: every file under root's models directory moves into root's store directory
    under its sha256 and is replaced by a relative symlink. Returns the objects (sha256 -> size)."""
    models, store = root / MODELS_DIR, root / STORE_DIR
    store.mkdir(parents=True, exist_ok=True)
    objects: dict[str, int] = {}
    for path in sorted(p for p in models.rglob("*") if p.is_file() and not p.is_symlink()):
        sha256 = _hash(path)
        objects[sha256] = path.stat().st_size
        target = store / sha256
        if target.exists():
            path.unlink()
        else:
            path.rename(target)
        path.symlink_to(os.path.relpath(target, path.parent))
    return objects
