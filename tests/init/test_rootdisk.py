"""The disk LLM OS runs from, over a made-up sysfs: with a copy of the image attached, the slots and the
store are looked up on the running root's disk, and a partition of the other disk is refused."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from fakesysfs import add_disk, add_partition

from llmos.init import rootdisk

LABELS = ("esp", "llmos-root-a", "llmos-root-b", "llmos-models", "llmos-data")
# Device numbers no test machine uses (majors go up to 4095), so that none is tmp_path's own.
FIRST, SECOND = 4000, 4001
OTHER_DISK = os.makedev(SECOND, 0)


@pytest.fixture
def sysfs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two disks with the same labels (an image and a copy of it). `tmp_path`'s filesystem stands for
    the running root: its device number is partition 2 of vdb, the second disk, so that by-partlabel's
    order (vda first) would be the wrong one."""
    root = tmp_path / "sys"
    running = os.stat(tmp_path).st_dev
    add_disk(root, "vda", os.makedev(FIRST, 0))
    add_disk(root, "vdb", OTHER_DISK)
    for index, label in enumerate(LABELS, start=1):
        add_partition(root, "vda", index, os.makedev(FIRST, index), label)
        add_partition(root, "vdb", index, running if index == 2 else os.makedev(SECOND, index), label)
    monkeypatch.setenv("LLMOS_SYSFS", str(root))
    return root


def test_the_root_disk_is_the_one_whose_partition_holds_the_root(tmp_path: Path, sysfs: Path) -> None:
    assert rootdisk.root_disk(tmp_path) == "vdb"
    assert rootdisk.disk_of(os.makedev(FIRST, 3)) == "vda"
    assert rootdisk.disk_of(OTHER_DISK) is None  # a whole disk is no partition
    assert rootdisk.disk_of(os.makedev(1, 99)) is None  # not a block device sysfs knows


def test_labelled_partitions_are_found_on_the_root_disk(tmp_path: Path, sysfs: Path) -> None:
    assert rootdisk.labelled("llmos-root-b", tmp_path) == Path("/dev/vdb3")
    assert rootdisk.labelled("llmos-models", tmp_path) == Path("/dev/vdb4")
    # Not there: udev's link, which `elsewhere` checks before anything is written to it.
    assert rootdisk.labelled("llmos-root-c", tmp_path) == Path("/dev/disk/by-partlabel/llmos-root-c")


def test_without_a_root_on_a_disk_partition_the_by_partlabel_link(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMOS_SYSFS", str(tmp_path / "empty"))
    assert rootdisk.root_disk(tmp_path) is None
    assert rootdisk.labelled("llmos-root-b", tmp_path) == Path("/dev/disk/by-partlabel/llmos-root-b")


def node(path: Path, number: int) -> Path:
    """A block device node (not opened: only its device number is read)."""
    os.mknod(path, stat.S_IFBLK | 0o600, number)
    return path


@pytest.mark.skipif(os.geteuid() != 0, reason="device nodes need root (mknod)")
def test_a_partition_of_another_disk_is_refused(tmp_path: Path, sysfs: Path) -> None:
    assert rootdisk.elsewhere(node(tmp_path / "vda3", os.makedev(FIRST, 3)), tmp_path) == \
        "is on vda, not on vdb, the disk LLM OS runs from"
    assert rootdisk.elsewhere(node(tmp_path / "vdb", OTHER_DISK), tmp_path) == \
        "is no partition of vdb, the disk LLM OS runs from"
    assert rootdisk.elsewhere(node(tmp_path / "vdb3", os.makedev(SECOND, 3)), tmp_path) is None
    # What cannot be told: a file (tests, an image being prepared), nothing at all.
    (tmp_path / "slot.img").write_bytes(b"")
    assert rootdisk.elsewhere(tmp_path / "slot.img", tmp_path) is None
    assert rootdisk.elsewhere(tmp_path / "absent", tmp_path) is None
