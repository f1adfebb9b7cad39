"""Where a running LLM OS keeps what the updater writes: the slots and the model store are the
partitions with their labels on the disk the running root is on, never a copy's (made-up sysfs)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from fakesysfs import add_disk, add_partition

from llmos.init.stage1 import ROOT_TYPE, Partition
from llmos.update import system

LABELS = ("esp", "llmos-root-a", "llmos-root-b", "llmos-models", "llmos-data")


@pytest.fixture
def two_copies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The image on tda and a copy on tdb (names no machine has), the root mounted from tdb's slot a."""
    sysfs = tmp_path / "sys"
    for major, disk in ((4000, "tda"), (4001, "tdb")):
        add_disk(sysfs, disk, os.makedev(major, 0))
        for index, label in enumerate(LABELS, start=1):
            running = disk == "tdb" and label == "llmos-root-a"
            add_partition(sysfs, disk, index, os.stat("/").st_dev if running else os.makedev(major, index),
                          label)
    monkeypatch.setenv("LLMOS_SYSFS", str(sysfs))
    return sysfs


def test_the_slots_are_the_root_disks(two_copies: Path) -> None:
    assert system.slot_device("a") == Path("/dev/tdb2")
    assert system.slot_device("b") == Path("/dev/tdb3")


def test_the_model_store_is_the_root_disks(two_copies: Path, tmp_path: Path) -> None:
    said: list[str] = []
    assert system.writable_store(said.append, tmp_path / "store") is None  # no /dev/tdb4 on this machine
    assert said == ["model store: no partition /dev/tdb4"]


def test_the_boot_entry_names_the_slot_by_the_uuid_in_its_disks_gpt(tmp_path: Path) -> None:
    """Read from the GPT, not udev's by-partuuid links, which a copy plugged in later takes over."""
    ours = Partition("tdb", 3, ROOT_TYPE, uuid.UUID(int=0xB), "llmos-root-b")
    copy = Partition("tda", 3, ROOT_TYPE, uuid.UUID(int=0xC), "llmos-root-b")
    table = [copy, ours]
    assert system.root_argument("b", Path("/dev/tdb3"), table) == f"PARTUUID={uuid.UUID(int=0xB)}"
    link = tmp_path / "llmos-root-b"
    link.symlink_to("/dev/tdb3")  # as a by-partlabel link names it
    assert system.partuuid(link, table) == str(uuid.UUID(int=0xB))
    assert system.root_argument("b", tmp_path / "slot.img", table) == "PARTLABEL=llmos-root-b"
