"""`llmos flash` against real loop devices (needs root): every refusal must leave the device untouched."""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from waiting import wait_for

from llmos import progress
from llmos.host import flash

MiB = 1 << 20
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="loop devices need root")


def sh(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()


def gpt_image(path: Path, size: int) -> Path:
    """A real GPT image from sfdisk, with random bytes in its partition so verification means something."""
    with path.open("wb") as f:
        f.truncate(size)
    subprocess.run(["sfdisk", "-q", str(path)], input="label: gpt\n,\n", text=True, check=True)
    with path.open("r+b") as f:
        f.seek(MiB)
        f.write(os.urandom(size - 2 * MiB))
    return path


def sha256_of(path: Path, length: int | None = None) -> str:
    with path.open("rb") as f:
        return hashlib.sha256(f.read(length) if length is not None else f.read()).hexdigest()


@pytest.fixture
def image(tmp_path: Path) -> Path:
    return gpt_image(tmp_path / "llmos.raw", 6 * MiB)  # more than one 4 MiB chunk


@pytest.fixture
def loop(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """Factory: a loop device over a temp file filled with a known pattern; always detached afterwards."""
    attached: list[str] = []

    def make(size: int, *, partscan: bool = False) -> Path:
        backing = tmp_path / f"disk{len(attached)}.img"
        backing.write_bytes(b"\xa5" * size)
        device = sh("losetup", "--find", "--show", *(["--partscan"] if partscan else []), str(backing))
        attached.append(device)
        return Path(device)

    yield make
    for device in attached:
        subprocess.run(["losetup", "--detach", device], check=False)


@pytest.fixture
def mountpoint(tmp_path: Path) -> Iterator[Path]:
    target = tmp_path / "mnt"
    target.mkdir()
    yield target
    if os.path.ismount(target):
        subprocess.run(["umount", str(target)], check=True)


def refusal(image: Path, device: Path, **kwargs: bool) -> flash.Refused:
    calls: list[tuple[str, int, int]] = []
    with pytest.raises(flash.Refused) as caught:
        flash.flash_image(image, device, force=kwargs.get("force", True),
                          progress=lambda *a: calls.append(a))
    assert calls == [], "progress means a write started"
    return caught.value


def gpt_ids(path: Path) -> tuple[str, list[str]]:
    """The disk GUID and the partition UUIDs, as sfdisk reads them (it checks the CRC32s)."""
    found = json.loads(sh("sfdisk", "-J", str(path)))["partitiontable"]
    return found["id"], [partition["uuid"] for partition in found["partitions"]]


def test_flash_writes_and_verifies(image: Path, loop) -> None:
    device = loop(8 * MiB)
    calls: list[tuple[str, int, int]] = []
    result = flash.flash_image(image, device, force=True, progress=lambda *a: calls.append(a))
    assert result.sha256 == sha256_of(image) and result.fresh_ids
    assert result.bytes_written == image.stat().st_size
    assert sha256_of(device, result.bytes_written) == result.written_sha256 != result.sha256
    # The copy's own GUIDs, in a GPT that reads back whole; every other byte is the image's.
    disk, partitions = gpt_ids(device)
    assert disk != gpt_ids(image)[0] and set(partitions).isdisjoint(gpt_ids(image)[1]) and partitions
    with image.open("rb") as source, device.open("rb") as copy:
        original, written = source.read(), copy.read(result.bytes_written)
    gpt = 34 * 512
    assert written[gpt:-gpt] == original[gpt:-gpt]
    with device.open("rb") as f:  # bytes past the image are left alone
        f.seek(result.bytes_written)
        assert f.read(MiB) == b"\xa5" * MiB
    for stage in ("write", "verify"):
        done = [d for s, d, t in calls if s == stage]
        assert done == sorted(done) and done[0] == 0 and done[-1] == result.bytes_written
        assert len(set(done)) >= 3  # 0, 4 MiB, 6 MiB
    assert [s for s, _, _ in calls] == sorted((s for s, _, _ in calls), key=["write", "verify"].index)


def test_each_copy_has_its_own_ids_unless_a_bit_for_bit_copy_is_asked(image: Path, loop) -> None:
    first, second, exact = loop(8 * MiB), loop(8 * MiB), loop(8 * MiB)
    for device in (first, second):
        flash.flash_image(image, device, force=True, progress=lambda *a: None)
    assert gpt_ids(first)[0] != gpt_ids(second)[0]
    assert set(gpt_ids(first)[1]).isdisjoint(gpt_ids(second)[1])
    result = flash.flash_image(image, exact, force=True, progress=lambda *a: None, same_ids=True)
    assert not result.fresh_ids
    assert result.written_sha256 == result.sha256 == sha256_of(exact, result.bytes_written)


def test_an_image_without_a_whole_backup_gpt_is_refused_unless_copied_as_it_is(image: Path, loop) -> None:
    device = loop(8 * MiB)
    with image.open("r+b") as f:  # the backup header, in the image's last sector
        f.seek(image.stat().st_size - 512)
        f.write(b"not a GPT header")
    error = refusal(image, device)
    assert error.reason == "not-gpt" and "no backup GPT header" in str(error) and "--same-ids" in str(error)
    assert sha256_of(device, MiB) == hashlib.sha256(b"\xa5" * MiB).hexdigest()
    assert flash.flash_image(image, device, force=True, progress=lambda *a: None, same_ids=True).bytes_written


def test_refuses_too_small_device_without_writing(image: Path, loop) -> None:
    device = loop(4 * MiB)
    before = sha256_of(device)
    assert refusal(image, device).reason == "too-small"
    assert sha256_of(device) == before


def test_refuses_non_removable_without_force(image: Path, loop) -> None:
    device = loop(8 * MiB)
    error = refusal(image, device, force=False)
    assert error.reason == "not-removable"
    assert "--force" in str(error)
    assert sha256_of(device, MiB) == hashlib.sha256(b"\xa5" * MiB).hexdigest()


def test_refuses_mounted_device(image: Path, loop, mountpoint: Path) -> None:
    device = loop(8 * MiB)
    sh("mkfs.ext4", "-q", str(device))
    sh("mount", str(device), str(mountpoint))
    before = sha256_of(device)
    error = refusal(image, device)
    assert error.reason == "mounted"
    assert str(mountpoint) in str(error)
    assert sha256_of(device) == before


def test_refuses_disk_with_mounted_partition(image: Path, tmp_path: Path, mountpoint: Path) -> None:
    disk_file = gpt_image(tmp_path / "disk.img", 8 * MiB)
    device = Path(sh("losetup", "--find", "--show", "--partscan", str(disk_file)))
    try:
        part = Path(f"{device}p1")
        if not part.exists():  # this kernel's partscan misses GPT; partx adds it via BLKPG
            subprocess.run(["partx", "--add", str(device)], check=False, capture_output=True)
        wait_for(part.is_block_device)
        sh("mkfs.ext4", "-q", str(part))
        sh("mount", str(part), str(mountpoint))
        error = refusal(image, device)
        assert error.reason == "mounted" and part.name in str(error)
        assert refusal(image, part).reason == "partition"
    finally:
        if os.path.ismount(mountpoint):
            sh("umount", str(mountpoint))
        subprocess.run(["losetup", "--detach", str(device)], check=False)


def test_refuses_root_disk(tmp_path: Path) -> None:
    roots = flash.root_disks()
    if not roots:
        pytest.skip("/ is not on a block device here")
    disk = next(iter(roots))
    device = Path("/dev") / disk.name
    if not device.is_block_device():
        pytest.skip(f"no device node for {disk.name}")
    # Belt and braces: the image is larger than the root disk, so even a broken root check
    # could not write a byte (the size check would refuse).
    huge = gpt_image(tmp_path / "huge.raw", 4 * MiB)
    with huge.open("r+b") as f:
        f.truncate(int((disk / "size").read_text()) * 512 + MiB)
    assert refusal(huge, device).reason == "root-disk"


def test_refuses_non_gpt_image(tmp_path: Path, loop) -> None:
    device = loop(8 * MiB)
    zeros = tmp_path / "zeros.raw"
    zeros.write_bytes(bytes(2 * MiB))
    assert refusal(zeros, device).reason == "not-gpt"
    corrupt = gpt_image(tmp_path / "corrupt.raw", 4 * MiB)
    with corrupt.open("r+b") as f:
        f.seek(512 + 40)  # inside the GPT header, covered by its CRC32
        f.write(b"\xff")
    error = refusal(corrupt, device)
    assert error.reason == "not-gpt" and "CRC32" in str(error)
    assert sha256_of(device, MiB) == hashlib.sha256(b"\xa5" * MiB).hexdigest()


def test_refuses_non_block_paths(image: Path, tmp_path: Path) -> None:
    regular = tmp_path / "not-a-disk"
    regular.write_bytes(bytes(8 * MiB))
    assert refusal(image, regular).reason == "not-block"
    assert regular.read_bytes() == bytes(8 * MiB)
    assert refusal(image, Path("/dev/null")).reason == "not-block"
    assert refusal(image, tmp_path / "missing").reason == "not-block"


def test_verification_catches_a_flipped_byte(image: Path, loop) -> None:
    """The progress hook flips one device byte after the write and cache drop, before the read-back:
    a real change on the device that only the read-back can notice."""
    device = loop(8 * MiB)

    def corrupt(stage: str, done: int, total: int) -> None:
        if stage == "verify" and done == 0:
            fd = os.open(device, os.O_RDWR)
            try:
                byte = os.pread(fd, 1, 3 * MiB)
                os.pwrite(fd, bytes([byte[0] ^ 0xFF]), 3 * MiB)
                os.fsync(fd)
            finally:
                os.close(fd)

    with pytest.raises(flash.VerifyFailed) as caught:
        flash.flash_image(image, device, force=True, progress=corrupt)
    read_back = sha256_of(device, image.stat().st_size)
    assert caught.value.device_sha256 == read_back != caught.value.written_sha256


def test_held_device_is_refused_through_sysfs_holders(tmp_path: Path, monkeypatch) -> None:
    """This kernel has no device-mapper, so a dm holder is modelled as a small fake sysfs tree:
    loop9 is held by dm-0, and dm-0 is mounted."""
    disk, dm = tmp_path / "loop9", tmp_path / "dm-0"
    (disk / "holders").mkdir(parents=True)
    dm.mkdir()
    (disk / "dev").write_text("7:9\n")
    (dm / "dev").write_text("253:0\n")
    (disk / "holders/dm-0").symlink_to(dm)
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text("27 1 254:0 / / rw - ext4 /dev/vda rw\n")
    monkeypatch.setattr(flash, "MOUNTINFO", mountinfo)
    monkeypatch.setattr(flash, "SWAPS", tmp_path / "no-swaps")
    assert flash._in_use(disk) == ("held", "held by dm-0 (device-mapper/LVM/RAID); deactivate it first")
    with mountinfo.open("a") as f:
        f.write("90 27 253:0 / /srv/data rw - xfs /dev/dm-0 rw\n")
    assert flash._in_use(disk) == ("mounted", "dm-0 is mounted on /srv/data; unmount it first")


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    flash.add_arguments(parser)
    return flash.run(parser.parse_args(list(argv)))


def test_cli_needs_yes_off_a_terminal_then_flashes(image: Path, loop, capsys) -> None:
    device = loop(8 * MiB)
    before = sha256_of(device)
    assert run_cli(str(image), str(device), "--force") == 2  # pytest's stdin is not a tty
    assert sha256_of(device) == before
    assert run_cli(str(image), str(device)) == 2  # not removable
    assert run_cli(str(image), str(device), "--force", "--yes") == 0
    out, err = capsys.readouterr()
    assert sha256_of(image) in out and "partition UUIDs of its own" in out
    assert "--yes" in err and "not a removable" in err
    assert "verify:" in err and "100.0%" in err


def test_console_progress_prints_periodic_lines_off_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter(float(tick) / 100 for tick in range(1000))  # 10 ms a call: 1 MiB in 10 ms is 104.9 MB/s
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    stream = io.StringIO()
    show = flash.ConsoleProgress(stream)
    for done in range(0, 101 * MiB, MiB):
        show("write", done, 100 * MiB)
    lines = stream.getvalue().splitlines()
    assert 10 <= len(lines) <= 12
    assert lines[-1].startswith("write: 100.0 MiB / 100.0 MiB") and "100.0%" in lines[-1]
    assert "MB/s" not in lines[0]  # no rate before a tenth of a second has passed: it would be noise
    assert lines[-1].endswith(" 104.9 MB/s")


def test_console_progress_rewrites_one_line_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    show = flash.ConsoleProgress(stream)
    for done in range(0, 101 * MiB, MiB):
        show("verify", done, 100 * MiB)
    text = stream.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")  # one line, ended once the stage is done
    assert "100.0%" in text.rsplit("\r", 1)[1]
    assert text.startswith("\r\x1b[Kverify: 0.0 MiB") and "\r\x1b[Kverify: 100.0 MiB" in text
