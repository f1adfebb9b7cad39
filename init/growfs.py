"""`python3 -m llmos.init.growfs`: grow the data partition (mounted at /var/lib/llmos) to fill its disk.

The image is built small and flashed or copied onto bigger disks, so on first boot this oneshot:
1. moves a GPT backup header that is not at the end of the disk to the end (sfdisk --relocate);
2. extends the partition to the end of the disk (sfdisk -N, then partx to tell the kernel, because the
   partition is mounted and the disk cannot be re-read);
3. grows the ext4 file system online (resize2fs).
Every step checks first whether it is needed, so running it again is a no-op that exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from llmos import paths

from .mounts import mounted

SLACK = 1024 * 1024  # less than this left over counts as "already fills the disk"
SYS_BLOCK = Path("/sys/class/block")


class GrowError(Exception):
    pass


def say(text: str) -> None:
    print(f"growfs: {text}", flush=True)


def run(*argv: str, stdin: str | None = None) -> str:
    result = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise GrowError(f"{' '.join(argv)} failed ({result.returncode}): "
                        f"{(result.stderr or result.stdout).strip()}")
    return result.stdout


def sectors(name: str) -> int:
    """Size of a block device in bytes, from sysfs (always in 512-byte units)."""
    return int((SYS_BLOCK / name / "size").read_text()) * 512


@dataclass
class PartitionLayout:
    label: str
    sector: int
    last_lba: int | None  # GPT: the last usable sector
    start: int  # of our partition, in sectors
    size: int


def layout(disk: str, node: str) -> PartitionLayout:
    table = json.loads(run("sfdisk", "--json", disk))["partitiontable"]
    for part in table.get("partitions", []):
        if os.path.realpath(part["node"]) == os.path.realpath(node):
            return PartitionLayout(table["label"], int(table.get("sectorsize", 512)), table.get("lastlba"),
                          int(part["start"]), int(part["size"]))
    raise GrowError(f"{node} is not in the partition table of {disk}")


def grow_partition(disk_name: str, part_name: str, number: int) -> bool:
    """Extend partition `number` of the disk to the end; returns whether anything changed."""
    disk, node = f"/dev/{disk_name}", f"/dev/{part_name}"
    disk_bytes = sectors(disk_name)
    current = layout(disk, node)
    changed = False
    if current.label == "gpt" and current.last_lba is not None:
        backup_gap = disk_bytes - (current.last_lba + 1 + 33) * current.sector
        if backup_gap >= SLACK:
            say(f"moving the GPT backup header of {disk} to the end of the disk")
            run("sfdisk", "--relocate", "gpt-bak-std", disk)
            current = layout(disk, node)
            changed = True
    end = (current.start + current.size) * current.sector
    limit = disk_bytes if current.last_lba is None else (current.last_lba + 1) * current.sector
    if limit - end < SLACK:
        return changed
    say(f"growing {node} from {current.size * current.sector // 2**20} MiB "
        f"to about {(limit - current.start * current.sector) // 2**20} MiB")
    run("sfdisk", "--no-reread", "--no-tell-kernel", "-q", "-N", str(number), disk, stdin=", +\n")
    run("partx", "--update", "--nr", str(number), disk)  # BLKPG resize: works while mounted
    return True


def filesystem_bytes(device: str) -> int:
    fields = {}
    for line in run("dumpe2fs", "-h", device).splitlines():
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return int(fields["Block count"]) * int(fields["Block size"])


def grow(mountpoint: Path) -> str:
    """Do what is needed; returns a one-line summary."""
    entries = [m for m in mounted() if m.target == str(mountpoint)]
    if not entries:
        return f"{mountpoint} is not a mount point; nothing to do"
    entry = entries[-1]
    if not entry.source.startswith("/dev/"):
        return f"{mountpoint} is on {entry.source} ({entry.fstype}), not a disk; nothing to do"
    if entry.fstype not in ("ext4", "ext3", "ext2"):
        return f"{mountpoint} is {entry.fstype}; only ext4 is grown; nothing to do"
    part_name = os.path.basename(os.path.realpath(entry.source))
    grew = False
    partition = SYS_BLOCK / part_name / "partition"
    if partition.exists():
        disk_name = Path(os.path.realpath(SYS_BLOCK / part_name)).parent.name
        grew = grow_partition(disk_name, part_name, int(partition.read_text()))
    part_bytes = sectors(part_name)
    fs_bytes = filesystem_bytes(entry.source)
    if part_bytes - fs_bytes < SLACK:
        return ("grown" if grew else "nothing to do") + f": {entry.source} is {fs_bytes // 2**20} MiB"
    say(f"resizing the file system on {entry.source} ({fs_bytes // 2**20} -> {part_bytes // 2**20} MiB)")
    run("resize2fs", entry.source)
    return f"grown: {entry.source} is now {filesystem_bytes(entry.source) // 2**20} MiB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m llmos.init.growfs", description=__doc__.split("\n")[0])
    parser.add_argument("mountpoint", nargs="?", type=Path, default=paths.state_dir())
    args = parser.parse_args(argv)
    try:
        summary = grow(args.mountpoint)
    except (GrowError, OSError, KeyError, ValueError) as error:
        print(f"! growfs: {error}", flush=True)
        return 1
    print(f"! growfs: {summary}" if summary.startswith("grown") else f"growfs: {summary}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
