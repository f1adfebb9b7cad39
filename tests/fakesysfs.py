"""A made-up sysfs of disks and partitions, laid out as the kernel lays out /sys (block/<disk>,
dev/block/<major>:<minor>, a partition's `partition` and `uevent`), for what reads LLMOS_SYSFS."""

from __future__ import annotations

import os
from pathlib import Path


def add_disk(sysfs: Path, disk: str, number: int) -> Path:
    """A whole disk with device number `number`."""
    directory = sysfs / "devices" / "virtual" / "block" / disk
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "uevent").write_text(f"DEVNAME={disk}\nDEVTYPE=disk\n")
    _link(sysfs / "block" / disk, directory)
    _link(sysfs / "dev" / "block" / f"{os.major(number)}:{os.minor(number)}", directory)
    return directory


def add_partition(sysfs: Path, disk: str, index: int, number: int, label: str) -> Path:
    """Partition `index` of `disk` (which must exist), with device number `number` and GPT label `label`."""
    name = f"{disk}p{index}" if disk[-1].isdigit() else f"{disk}{index}"
    directory = sysfs / "devices" / "virtual" / "block" / disk / name
    directory.mkdir(parents=True)
    (directory / "partition").write_text(f"{index}\n")
    (directory / "uevent").write_text(f"MAJOR={os.major(number)}\nMINOR={os.minor(number)}\nDEVNAME={name}\n"
                                      f"DEVTYPE=partition\nPARTN={index}\nPARTNAME={label}\n")
    _link(sysfs / "dev" / "block" / f"{os.major(number)}:{os.minor(number)}", directory)
    return directory


def _link(link: Path, target: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    link.unlink(missing_ok=True)
    link.symlink_to(os.path.relpath(target, link.parent))
