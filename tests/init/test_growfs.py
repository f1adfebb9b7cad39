"""growfs on a real loop device: a 20 MiB data partition on an image that was then made bigger
(so the GPT backup header is also in the wrong place), mounted like /var/lib/llmos. Needs root."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .init_harness import wait_until

LINUX_FS = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"


def sh(*argv: str, stdin: str | None = None) -> str:
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, check=True, timeout=60).stdout


@pytest.fixture
def small_data_partition(tmp_path):
    tools = ["losetup", "sfdisk", "partx", "mkfs.ext4", "resize2fs", "dumpe2fs", "mount", "umount"]
    if os.geteuid() != 0 or any(shutil.which(tool) is None for tool in tools):
        pytest.skip("needs root and util-linux/e2fsprogs")
    image = tmp_path / "disk.img"
    with image.open("wb") as file:
        file.truncate(32 * 2**20)
    sh("sfdisk", "-q", str(image), stdin=f"label: gpt\nstart=2048, size=40960, type={LINUX_FS}\n")
    with image.open("r+b") as file:
        file.truncate(96 * 2**20)  # "flashed onto a bigger disk"
    try:
        loop = sh("losetup", "--show", "-f", "-P", str(image)).strip()
    except subprocess.CalledProcessError as error:
        pytest.skip(f"no loop device: {error.stderr}")
    part = f"{loop}p1"
    mountpoint = tmp_path / "data"
    mountpoint.mkdir()
    try:
        if not Path(part).exists():  # partition scanning is asynchronous or off on some kernels
            subprocess.run(["partx", "-a", loop], capture_output=True, check=False)
        wait_until(lambda: Path(part).exists(), 5, f"{part}")
        sh("mkfs.ext4", "-q", part)
        sh("mount", part, str(mountpoint))
        yield part, mountpoint
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            sh("umount", str(mountpoint))
        sh("losetup", "-d", loop)


def growfs(mountpoint: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "llmos.init.growfs", str(mountpoint)], capture_output=True,
                          text=True, timeout=120, check=False)


def _can_resize_online() -> bool:
    """ext4 online resize needs CAP_SYS_RESOURCE, which some containers (this host) drop."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) & (1 << 24))
    return False


def test_growfs_fills_the_disk_and_is_idempotent(small_data_partition):
    part, mountpoint = small_data_partition
    name = Path(part).name
    before = os.statvfs(mountpoint)
    first = growfs(mountpoint)
    assert "moving the GPT backup header" in first.stdout
    assert "growing /dev/" in first.stdout
    part_mib = int(Path(f"/sys/class/block/{name}/size").read_text()) * 512 / 2**20
    assert 93 < part_mib < 96  # from 20 MiB to the end of the 96 MiB disk, seen by the kernel
    table = sh("sfdisk", "--json", part[: -len("p1")])
    assert '"lastlba": 196574' in table  # backup GPT at the very end of 96 MiB
    second = growfs(mountpoint)
    assert "growing" not in second.stdout and "moving" not in second.stdout
    if not _can_resize_online():
        # The partition steps are proven; the file system step is refused by the kernel here.
        assert first.returncode == 1 and "resize2fs" in first.stdout and "Permission denied" in first.stdout
        return
    assert first.returncode == 0, first.stdout + first.stderr
    assert "! growfs: grown" in first.stdout
    after = os.statvfs(mountpoint)
    assert after.f_blocks * after.f_frsize > 4 * before.f_blocks * before.f_frsize
    assert second.returncode == 0
    assert "growfs: nothing to do" in second.stdout


def test_growfs_without_a_data_partition(tmp_path):
    result = growfs(tmp_path)
    assert result.returncode == 0
    assert "is not a mount point; nothing to do" in result.stdout
