"""Reading a finished disk image without mounting it (sfdisk and debugfs): its root partition, and
whether fontconfig in it will trust the font caches the build made.

Why: fontconfig rejects a cache whose recorded directory mtime differs from the directory's to the
nanosecond, and a disk image keeps whole seconds, so a cache that looked right in the build tree was
rejected in the guest and every app host rescanned the fonts. The build checks the finished disk.
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
import tempfile
from pathlib import Path


class DiskImageError(RuntimeError):
    """The disk image is not laid out as expected; the message names the disk."""


ROOT_PARTITION_TYPE = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"  # DPS root-x86-64
FONTCONFIG_CACHE = "/var/cache/fontconfig"
_FC_MAGIC = 0xFC02FC04  # FC_CACHE_MAGIC_MMAP
_FC_HEADER = struct.Struct("<IiqqqiiqiiQ")  # FcCache on x86-64 (le64): ... dir, ..., checksum, checksum_nano


def root_filesystem(disk: Path) -> str:
    """The root partition of a disk image as debugfs opens it ("disk?offset=N")."""
    table = json.loads(subprocess.run(["sfdisk", "-J", str(disk)], capture_output=True, text=True,
                                      check=True).stdout)["partitiontable"]
    for part in table["partitions"]:
        if part["type"].upper() == ROOT_PARTITION_TYPE:
            return f"{disk}?offset={part['start'] * table.get('sectorsize', 512)}"
    raise DiskImageError(f"{disk}: no root partition (type {ROOT_PARTITION_TYPE})")


def extract_root(disk: Path, out: Path) -> Path:
    """Slot a's root file system out of a built disk image, shrunk to its content (e2fsck, then
    resize2fs -M): the root image an update bundle carries. Written beside `out`, then renamed."""
    table = json.loads(subprocess.run(["sfdisk", "-J", str(disk)], capture_output=True, text=True,
                                      check=True).stdout)["partitiontable"]
    sector = table.get("sectorsize", 512)
    roots = [p for p in table["partitions"] if p["type"].upper() == ROOT_PARTITION_TYPE]
    root = next((p for p in roots if p.get("name") == "llmos-root-a"), roots[0] if roots else None)
    if root is None:
        raise DiskImageError(f"{disk}: no root partition (type {ROOT_PARTITION_TYPE})")
    temp = out.with_name(f".{out.name}.partial")
    with open(disk, "rb") as source, open(temp, "wb") as target:
        source.seek(root["start"] * sector)
        remaining = root["size"] * sector
        while remaining:
            chunk = source.read(min(remaining, 8 << 20))
            if not chunk:
                raise DiskImageError(f"{disk}: the root partition runs past the end of the file")
            target.write(chunk)
            remaining -= len(chunk)
    checked = subprocess.run(["e2fsck", "-f", "-y", str(temp)], capture_output=True, text=True)
    if checked.returncode > 1:  # 1: errors corrected
        raise DiskImageError(f"{disk}: its root file system does not check: {checked.stdout[-500:]}")
    subprocess.run(["resize2fs", "-M", str(temp)], capture_output=True, text=True, check=True)
    temp.replace(out)
    return out


def _debugfs(filesystem: str, request: str) -> str:
    return subprocess.run(["debugfs", "-R", request, filesystem], capture_output=True, text=True,
                          check=True).stdout


def _mtime(filesystem: str, path: str) -> tuple[int, int] | None:
    """(seconds, nanoseconds) of a path inside an ext4 file system, None if it is absent."""
    found = re.search(r"^ ?mtime: 0x([0-9a-f]+)(?::([0-9a-f]+))?", _debugfs(filesystem, f"stat {path}"), re.M)
    if found is None:
        return None
    seconds, extra = int(found.group(1), 16), int(found.group(2) or "0", 16)
    return seconds, extra >> 2  # ext4's extra time field: nanoseconds << 2 | epoch bits


def font_cache_problems(filesystem: str) -> list[str]:
    """Why fontconfig in the image would not trust its font cache: a font directory without a cache, a
    cache whose recorded mtime differs from its directory's (fontconfig compares seconds and
    nanoseconds), or a font file the cache does not list. Empty when every cache is valid."""
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as scratch:
        _debugfs(filesystem, f"rdump {FONTCONFIG_CACHE} {scratch}")
        caches: dict[str, tuple[int, int, bytes]] = {}
        for cache in sorted((Path(scratch) / Path(FONTCONFIG_CACHE).name).glob("*-le64.cache-*")):
            blob = cache.read_bytes()
            magic, _version, _size, name_at, *_rest, checksum, _pad, nano = _FC_HEADER.unpack_from(blob)
            if magic != _FC_MAGIC:
                problems.append(f"{cache.name}: not a fontconfig cache")
                continue
            directory = blob[name_at:blob.index(b"\0", name_at)].decode()
            caches[directory] = (checksum, nano, blob)
    font_dirs = [d for d in ("/usr/share/fonts", "/usr/local/share/fonts") if _mtime(filesystem, d)]
    pending = list(font_dirs)
    while pending:
        directory = pending.pop()
        listing = _debugfs(filesystem, f"ls -p {directory}")
        # `ls -p` lines: /inode/mode/uid/gid/name/size/
        entries = [line.strip("/").split("/") for line in listing.splitlines() if line.startswith("/")]
        files = [e[4] for e in entries if len(e) > 4 and e[1].startswith("100")]  # regular files
        pending += [f"{directory}/{e[4]}" for e in entries if len(e) > 4 and e[1].startswith("040")
                    and e[4] not in (".", "..")]
        if directory not in caches:
            problems.append(f"{directory}: no cache in {FONTCONFIG_CACHE}")
            continue
        checksum, nano, blob = caches[directory]
        mtime = _mtime(filesystem, directory)
        if mtime != (checksum, nano):
            problems.append(f"{directory}: cache made for mtime {checksum}.{nano:09d}, directory has "
                            f"{mtime[0]}.{mtime[1]:09d}" if mtime else f"{directory}: missing")
        problems += [f"{directory}/{name}: not in its cache" for name in files
                     if name.endswith((".ttf", ".otf", ".pfb", ".ttc")) and name.encode() not in blob]
    return problems
