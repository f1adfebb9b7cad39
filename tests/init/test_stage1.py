"""Stage 1 picks the root slot the boot entry names, so an A/B update boots what it wrote; it reads
ahead what the compositor will need, from a root that moves while it reads."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from llmos.init.stage1 import (
    MODELS_TYPE,
    READ_AHEAD,
    ROOT_TYPE,
    Partition,
    beside,
    choose_root,
    filesystem_type,
    read_ahead,
)
from llmos.update import store

A = Partition("vda", 2, ROOT_TYPE, uuid.uuid4(), "llmos-root-a")
B = Partition("vda", 3, ROOT_TYPE, uuid.uuid4(), "llmos-root-b")
OLD = Partition("vda", 2, ROOT_TYPE, uuid.uuid4(), "llmos-root")


def test_the_entry_names_the_slot_by_partuuid_or_by_slot() -> None:
    assert choose_root([A, B], ["quiet", f"root=PARTUUID={B.part_uuid}", "llmos.slot=a"]) is B
    assert choose_root([A, B], [f"root=PARTUUID={str(A.part_uuid).upper()}"]) is A
    assert choose_root([A, B], ["llmos.slot=b"]) is B


def test_without_a_named_slot_slot_a_boots_and_an_old_layout_still_boots() -> None:
    assert choose_root([B, A], ["console=ttyS0"]) is A  # the direct kernel boot of tests and `llmos vm`
    assert choose_root([B, A], ["root=PARTUUID=not-a-uuid", "llmos.slot=c"]) is A
    assert choose_root([OLD], ["llmos.slot=b"]) is OLD


def test_the_model_store_is_the_one_on_the_roots_disk() -> None:
    """Two LLM OS disks (a USB stick flashed from this machine): each root gets its own disk's models."""
    mine, other = (Partition(disk, 4, MODELS_TYPE, uuid.uuid4(), "llmos-models") for disk in ("vda", "sda"))
    assert beside(A, [other, A, mine], MODELS_TYPE) is mine
    assert beside(A, [other, A], MODELS_TYPE) is None  # stage 1 boots on and says the models are missing
    # Stage 1 has no llmos package, and mkosi.repart is not Python: the GUID is written three times.
    repart = (Path(__file__).resolve().parents[2] / "mkosi.repart/15-models.conf").read_text()
    assert str(MODELS_TYPE) == store.PARTITION_TYPE and f"Type={store.PARTITION_TYPE}" in repart


def test_the_root_file_system_is_told_by_its_superblock(tmp_path: Path) -> None:
    """The factory root is squashfs; a slot an older bundle wrote is ext4; anything else is refused
    with the device named, which stage 1 turns into its emergency (a reboot when on trial)."""
    if shutil.which("mksquashfs") is None or shutil.which("mkfs.ext4") is None:
        pytest.skip("needs squashfs-tools and e2fsprogs (ci/install-host.sh)")
    tree = tmp_path / "tree"
    (tree / "usr/sbin").mkdir(parents=True)
    (tree / "usr/sbin/init").write_text("#!/bin/sh\n")
    subprocess.run(["mksquashfs", str(tree), str(tmp_path / "root.sqfs"), "-noappend", "-quiet"],
                   check=True, capture_output=True)
    subprocess.run(["mkfs.ext4", "-q", "-d", str(tree), str(tmp_path / "root.ext4"), "4M"], check=True)
    (tmp_path / "zeros").write_bytes(bytes(8192))
    assert filesystem_type(str(tmp_path / "root.sqfs")) == "squashfs"
    assert filesystem_type(str(tmp_path / "root.ext4")) == "ext4"
    with pytest.raises(OSError, match="zeros holds neither squashfs nor ext4"):
        filesystem_type(str(tmp_path / "zeros"))


def test_read_ahead_reads_the_list_through_the_root_even_after_the_root_has_moved(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """switch_root moves the new root to / while the child reads: it opens names relative to its
    descriptor of the root. A fifo first in the list holds it until the root has moved (renamed here)."""
    root = tmp_path / "sysroot"
    (root / "usr/lib/llmos").mkdir(parents=True)
    (root / "sub").mkdir()
    (root / "a").write_bytes(b"abc")
    (root / "sub/b").write_bytes(b"x" * (2 << 20))
    (tmp_path / "outside").write_bytes(b"secret")
    os.mkfifo(root / "gate")
    (root / READ_AHEAD.lstrip("/")).write_text("/gate\n/a\nsub/b\n\nmissing\n../outside\n/sub/../a\n")
    pid = read_ahead(str(root), ["console=ttyS0"])
    assert pid is not None
    moved = tmp_path / "moved"
    root.rename(moved)
    with open(moved / "gate", "wb"):
        pass  # the child's open of the fifo returns, and it reads on from the moved root
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    found = re.search(r"stage1 read ahead (\d+) files, ([\d.]+) MiB", capfd.readouterr().out)
    assert found and (found[1], found[2]) == ("3", "2.0")  # the fifo, a and sub/b; nothing outside it


def test_nothing_is_read_ahead_for_the_bare_chain_or_without_a_list(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    (tmp_path / READ_AHEAD.lstrip("/")).parent.mkdir(parents=True)
    (tmp_path / READ_AHEAD.lstrip("/")).write_text("a\n")
    assert read_ahead(str(tmp_path), ["llmos.bare=1"]) is None
    assert read_ahead(str(tmp_path / "empty"), []) is None
    assert "stage1 nothing read ahead" in capfd.readouterr().out


def test_a_fork_that_fails_costs_only_the_read_ahead(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capfd: pytest.CaptureFixture[str]) -> None:
    """Stage 1 is PID 1: a read-ahead it cannot start must not stop the boot."""
    (tmp_path / READ_AHEAD.lstrip("/")).parent.mkdir(parents=True)
    (tmp_path / READ_AHEAD.lstrip("/")).write_text("a\n")

    def no_fork() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    assert read_ahead(str(tmp_path), []) is None
    assert "stage1 nothing read ahead: [Errno 11]" in capfd.readouterr().out
