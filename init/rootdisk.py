"""The disk LLM OS runs from: the one whose partition is mounted at /.

Two LLM OS disks can be attached at once: an appliance's own, and a USB stick flashed from the same
image, with the same partition labels (and the same UUIDs too, unless `llmos flash` gave it its own).
udev's by-partlabel links then name whichever disk it saw last, and "the first disk with a slot" may
be the other one. What writes to partitions (an update's slot, the model store, the boot entries on
the ESP) looks them up here, on the running root's disk.
Everything is read from sysfs, where a partition's uevent names its GPT label (PARTNAME);
LLMOS_SYSFS names another sysfs root, for tests.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

DEV = Path("/dev")
BY_PARTLABEL = DEV / "disk" / "by-partlabel"


def sysfs() -> Path:
    return Path(os.environ.get("LLMOS_SYSFS", "/sys"))


def sysfs_dir(device: int) -> Path:
    """A block device's directory in sysfs, by device number (it need not exist)."""
    return (sysfs() / "dev" / "block" / f"{os.major(device)}:{os.minor(device)}").resolve()


def whole_disk(directory: Path) -> Path:
    """The disk's sysfs directory for a partition's (which sits inside it); a disk's own otherwise."""
    return directory.parent if (directory / "partition").exists() else directory


def disk_of(device: int) -> str | None:
    """The disk a partition belongs to, by device number ("vda" for vda2); None unless it is a
    partition of a disk."""
    directory = sysfs_dir(device)
    disk = whole_disk(directory)
    return disk.name if disk != directory else None


def root_disk(root: Path = Path("/")) -> str | None:
    """The disk whose partition holds `root`'s filesystem; None where it is on none (a host's root on
    an overlay or a whole disk, a test)."""
    try:
        return disk_of(os.stat(root).st_dev)
    except OSError:
        return None


def _uevent(partition: Path) -> dict[str, str]:
    try:
        lines = (partition / "uevent").read_text().splitlines()
    except OSError:
        return {}
    return dict(line.partition("=")[::2] for line in lines)


def labelled(label: str, root: Path = Path("/")) -> Path:
    """The partition with this GPT label on the running root's disk. Where the root is on no disk
    partition (a host), udev's by-partlabel link; where its disk has no such partition, that link's path
    too, which then either does not exist or is refused by `elsewhere`."""
    disk = root_disk(root)
    if disk is not None:
        for partition in sorted((sysfs() / "block" / disk).glob(f"{disk}*")):
            event = _uevent(partition)
            if event.get("DEVTYPE") == "partition" and event.get("PARTNAME") == label:
                return DEV / event.get("DEVNAME", partition.name)
    return BY_PARTLABEL / label


def elsewhere(device: Path, root: Path = Path("/")) -> str | None:
    """Why `device` must not be written as one of the running system's partitions ("is on sda, not on
    vda, the disk LLM OS runs from"); None when it may be. It may unless it is a block device that is
    no partition of the root's disk: a regular file (tests, an image being prepared), nothing at all
    (writing fails with its own error), and anything on a host whose root is on no disk partition
    cannot be told apart."""
    try:
        info = os.stat(device)
    except OSError:
        return None
    running = root_disk(root)
    if not stat.S_ISBLK(info.st_mode) or running is None:
        return None
    disk = disk_of(info.st_rdev)
    if disk == running:
        return None
    where = f"is on {disk}, not on {running}" if disk else f"is no partition of {running}"
    return f"{where}, the disk LLM OS runs from"


__all__ = ["disk_of", "elsewhere", "labelled", "root_disk", "sysfs_dir", "whole_disk"]
