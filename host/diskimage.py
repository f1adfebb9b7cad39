"""Reading a finished disk image without mounting it (sfdisk, unsquashfs, debugfs): its root partition,
its model store, and whether fontconfig in it will trust the font caches the build made.

Why: fontconfig rejects a cache whose recorded directory mtime differs from the directory's to the
nanosecond, and squashfs keeps whole seconds, so a cache that looked right in the build tree was
rejected in the guest and every app host rescanned the fonts. The build checks the finished disk.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmos.update import store as model_store


class DiskImageError(RuntimeError):
    """The disk image is not laid out as expected; the message names the disk."""


ROOT_PARTITION_TYPE = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"  # DPS root-x86-64
FACTORY_SLOT = "llmos-root-a"
FONTCONFIG_CACHE = "/var/cache/fontconfig"
FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts")
OS_RELEASE = "usr/lib/os-release"
SQUASHFS_MAGIC = b"hsqs"
_SQUASHFS_BYTES_USED = struct.Struct("<Q")  # at offset 40 of the superblock: the file system's length
_FC_MAGIC = 0xFC02FC04  # FC_CACHE_MAGIC_MMAP
_FC_HEADER = struct.Struct("<IiqqqiiqiiQ")  # FcCache on x86-64 (le64): ... dir, ..., checksum, checksum_nano


@dataclass(frozen=True)
class RootPartition:
    """Where slot a's root file system lies in a disk image file, in bytes."""

    disk: Path
    offset: int
    size: int

    def __str__(self) -> str:
        return f"{self.disk} slot a" if self.offset else str(self.disk)  # offset 0: a root image file


def _table(disk: Path) -> tuple[int, list[dict[str, Any]]]:
    done = subprocess.run(["sfdisk", "-J", str(disk)], capture_output=True, text=True)
    if done.returncode != 0:
        raise DiskImageError(f"{disk}: no partition table: {done.stderr.strip()[-300:]}")
    table = json.loads(done.stdout)["partitiontable"]
    return table.get("sectorsize", 512), table["partitions"]


def root_partition(disk: Path) -> RootPartition:
    """Slot a's root partition (the factory slot; a disk of the old one-root layout has one root)."""
    sector, partitions = _table(disk)
    roots = [p for p in partitions if p["type"].upper() == ROOT_PARTITION_TYPE]
    root = next((p for p in roots if p.get("name") == FACTORY_SLOT), roots[0] if roots else None)
    if root is None:
        raise DiskImageError(f"{disk}: no root partition (type {ROOT_PARTITION_TYPE})")
    return RootPartition(disk, int(root["start"]) * sector, int(root["size"]) * sector)


def partition_named(disk: Path, label: str) -> RootPartition:
    """Where the partition with that GPT name lies in the disk image."""
    sector, partitions = _table(disk)
    found = next((p for p in partitions if p.get("name") == label), None)
    if found is None:
        raise DiskImageError(f"{disk}: no partition named {label}")
    return RootPartition(disk, int(found["start"]) * sector, int(found["size"]) * sector)


def extract_store(disk: Path, into: Path) -> list[Path]:
    """The model store's objects out of a built disk image (debugfs reads its ext4 in place): the
    files an update bundle carries beside the root that links to them. [] for a disk without one."""
    try:
        store = partition_named(disk, model_store.PARTLABEL)
    except DiskImageError:
        return []
    source = f"{disk}?offset={store.offset}"
    into.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["debugfs", "-R", f"rdump / {into}", source], capture_output=True, text=True)
    objects = sorted(path for path in into.iterdir()
                     if model_store.SHA256_RE.fullmatch(path.name) and path.is_file())
    if done.returncode != 0 or not objects:  # a built store always holds the models
        raise DiskImageError(f"{disk}: no models read from its model store (debugfs: "
                             f"{done.stderr.strip()[-300:]})")
    return objects


def squashfs_length(part: RootPartition) -> int:
    """The bytes the root's squashfs uses, rounded up to 4 KiB as mksquashfs pads it; refuses anything
    else, so a bundle never carries a root the image's stage 1 cannot mount."""
    with open(part.disk, "rb") as raw:
        raw.seek(part.offset)
        head = raw.read(48)
    if head[:4] != SQUASHFS_MAGIC or len(head) < 48:
        raise DiskImageError(f"{part}: the root is not a squashfs file system (starts {head[:4].hex()})")
    used: int = _SQUASHFS_BYTES_USED.unpack_from(head, 40)[0]
    return -(-used // 4096) * 4096


def extract_root(disk: Path, out: Path) -> Path:
    """Slot a's root file system out of a built disk image, only the bytes the squashfs uses: the root
    image an update bundle carries. Written beside `out`, then renamed."""
    part = root_partition(disk)
    remaining = squashfs_length(part)
    if remaining > part.size:
        raise DiskImageError(f"{disk}: the root file system claims {remaining} bytes, its partition "
                             f"holds {part.size}")
    temp = out.with_name(f".{out.name}.partial")
    with open(disk, "rb") as source, open(temp, "wb") as target:
        source.seek(part.offset)
        while remaining:
            chunk = source.read(min(remaining, 8 << 20))
            if not chunk:
                raise DiskImageError(f"{disk}: the root partition runs past the end of the file")
            target.write(chunk)
            remaining -= len(chunk)
    temp.replace(out)
    return out


def unpack(part: RootPartition, paths: list[str], into: Path) -> None:
    """Copy `paths` (absolute, inside the root) out of the squashfs with their modes and mtimes."""
    wanted = [p.lstrip("/") for p in paths]
    done = subprocess.run(["unsquashfs", "-no-progress", "-no-xattrs", "-f", "-o", str(part.offset),
                           "-d", str(into), str(part.disk), *wanted], capture_output=True, text=True)
    if done.returncode != 0:
        raise DiskImageError(f"{part.disk}: unsquashfs could not read slot a's root: "
                             f"{(done.stderr or done.stdout).strip()[-500:]}")


def image_version(part: RootPartition) -> str | None:
    """IMAGE_VERSION from the root's os-release (mkosi.postinst stamps it), None when it has none."""
    squashfs_length(part)
    done = subprocess.run(["unsquashfs", "-o", str(part.offset), "-cat", str(part.disk), OS_RELEASE],
                          capture_output=True, text=True)
    if done.returncode != 0 and "no matches" in done.stdout + done.stderr:
        return None  # no os-release at all: a root made by hand
    if done.returncode != 0:
        raise DiskImageError(f"{part.disk}: cannot read {OS_RELEASE} from its squashfs root: "
                             f"{(done.stderr or done.stdout).strip()[-300:]}")
    for line in done.stdout.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "IMAGE_VERSION":
            return value.strip().strip("\"'") or None
    return None


def font_cache_problems(part: RootPartition) -> list[str]:
    """Why fontconfig in the image would not trust its font cache: a font directory without a cache, a
    cache whose recorded mtime differs from its directory's (fontconfig compares seconds and
    nanoseconds), or a font file the cache does not list. Empty when every cache is valid."""
    with tempfile.TemporaryDirectory() as scratch:
        tree = Path(scratch)
        unpack(part, [FONTCONFIG_CACHE, *FONT_DIRS], tree)
        return tree_font_cache_problems(tree)


def tree_font_cache_problems(tree: Path) -> list[str]:
    """font_cache_problems for a root unpacked at `tree`, whose mtimes are the image's."""
    problems: list[str] = []
    caches: dict[str, tuple[int, int, bytes]] = {}
    for cache in sorted((tree / FONTCONFIG_CACHE.lstrip("/")).glob("*-le64.cache-*")):
        blob = cache.read_bytes()
        magic, _version, _size, name_at, *_rest, checksum, _pad, nano = _FC_HEADER.unpack_from(blob)
        if magic != _FC_MAGIC:
            problems.append(f"{cache.name}: not a fontconfig cache")
            continue
        directory = blob[name_at:blob.index(b"\0", name_at)].decode()
        caches[directory] = (checksum, nano, blob)
    for top in FONT_DIRS:
        for here, subdirs, files in os.walk(tree / top.lstrip("/")):
            directory = "/" + str(Path(here).relative_to(tree))
            subdirs.sort()
            if directory not in caches:
                problems.append(f"{directory}: no cache in {FONTCONFIG_CACHE}")
                continue
            checksum, nano, blob = caches[directory]
            mtime = divmod(os.stat(here).st_mtime_ns, 10**9)
            if mtime != (checksum, nano):
                problems.append(f"{directory}: cache made for mtime {checksum}.{nano:09d}, directory has "
                                f"{mtime[0]}.{mtime[1]:09d}")
            problems += [f"{directory}/{name}: not in its cache" for name in sorted(files)
                         if name.endswith((".ttf", ".otf", ".pfb", ".ttc")) and name.encode() not in blob]
    return problems
