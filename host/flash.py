"""`llmos flash IMAGE DEVICE`: write the raw disk image to a USB stick, then read it back and compare.

Every refusal happens before the device is opened for writing, because a wrong device name wipes
somebody's disk: the image must be a GPT disk image, the device a whole-disk block device that is not
the disk holding /, has nothing mounted (directly, on a partition, or through a dm/LVM holder), is
removable or USB-attached (else --force), and is at least as large as the image. Facts come from
/proc/self/mountinfo and sysfs, matched by major:minor so that /dev/disk/by-id aliases cannot slip by.
Loop devices get no special treatment: sysfs reports them non-removable, so they need --force.
Each copy is written with a disk GUID and partition UUIDs of its own (host/gptids.py says why), unless
--same-ids asks for a bit-for-bit copy; the read-back compares with what was written.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import hashlib
import mmap
import os
import stat
import struct
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from llmos.host import gptids
from llmos.init.rootdisk import sysfs_dir, whole_disk
from llmos.progress import ConsoleProgress, mib

CHUNK = 4 << 20  # 4 MiB: large enough to keep USB sticks streaming, page-aligned via mmap
SYNC_EVERY = 64 << 20  # flush this often so progress and MB/s track the stick, not the page cache
BLKFLSBUF = 0x1261  # _IO(0x12, 97): flush and drop the block device's buffer cache
MOUNTINFO = Path("/proc/self/mountinfo")
SWAPS = Path("/proc/swaps")

#: progress(stage, done_bytes, total_bytes); stage is "write" or "verify".
Progress = Callable[[str, int, int], None]


class FlashError(Exception):
    """Base class: everything `run` turns into a one-line message and a non-zero exit."""


class Refused(FlashError):
    """A safety check failed before a single byte was written; `reason` is a stable short code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class VerifyFailed(FlashError):
    """The bytes read back from the device differ from those written."""

    def __init__(self, device: Path, written_sha256: str, device_sha256: str) -> None:
        super().__init__(f"{device}: verification FAILED: wrote sha256 {written_sha256}, "
                         f"device read back {device_sha256}")
        self.written_sha256 = written_sha256
        self.device_sha256 = device_sha256


@dataclass(frozen=True)
class Target:
    """What the checks learned about the device; shown to the user before confirmation."""

    device: Path
    sysfs: Path  # /sys/devices/... directory of the whole disk
    size: int
    model: str
    removable: bool


@dataclass(frozen=True)
class FlashResult:
    device: Path
    bytes_written: int
    sha256: str  # of the image file
    written_sha256: str  # of what was written, equal to the device read back over the image length
    fresh_ids: bool  # written with a disk GUID and partition UUIDs of its own (host/gptids.py)
    write_seconds: float
    verify_seconds: float


# --- image -------------------------------------------------------------------------------------------

def check_gpt_image(image: Path) -> int:
    """Return the image size if it starts with a protective MBR and a valid GPT header (512 or 4096 LBA)."""
    try:
        with image.open("rb") as f:
            head = f.read(8192)
            size = os.fstat(f.fileno()).st_size
    except OSError as error:
        raise Refused("image-unreadable", f"{image}: cannot read image: {error.strerror}") from error
    if len(head) < 1024 or head[510:512] != b"\x55\xaa" or 0xEE not in head[446 + 4:510:16]:
        raise Refused("not-gpt", f"{image}: not a GPT disk image (no protective MBR with a 0xEE partition)")
    for sector in (512, 4096):
        header = head[sector:sector + 512]
        if header[:8] != b"EFI PART":
            continue
        (header_size,) = struct.unpack_from("<I", header, 12)
        (crc,) = struct.unpack_from("<I", header, 16)
        if 92 <= header_size <= len(header):
            blank = header[:16] + b"\0\0\0\0" + header[20:header_size]
            if zlib.crc32(blank) == crc:
                return size
        raise Refused("not-gpt", f"{image}: GPT header at byte {sector} has a bad size or CRC32")
    raise Refused("not-gpt", f"{image}: not a GPT disk image (no 'EFI PART' header at LBA 1)")


# --- sysfs and mounts --------------------------------------------------------------------------------

def _devno(major_minor: str) -> int:
    major, minor = major_minor.split(":")
    return os.makedev(int(major), int(minor))


def _read(path: Path, default: str = "") -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return default


def _dev_of(sysdir: Path) -> int:
    return _devno(_read(sysdir / "dev"))


def partitions(disk: Path) -> list[Path]:
    return [child for child in disk.iterdir() if (child / "partition").exists()]


def _related(sysdir: Path, link: str) -> Iterator[Path]:
    """Block devices named in sysdir/holders or sysdir/slaves, recursively (dm, LVM, md, dm-crypt)."""
    directory = sysdir / link
    if not directory.is_dir():
        return
    for entry in directory.iterdir():
        child = entry.resolve()
        yield child
        yield from _related(child, link)


def stack_below(sysdir: Path) -> set[Path]:
    """sysdir and everything it is built on: dm/md slaves, recursively, and each partition's disk."""
    found = {sysdir, whole_disk(sysdir)}
    slaves = sysdir / "slaves"
    for entry in slaves.iterdir() if slaves.is_dir() else ():
        found |= stack_below(entry.resolve())
    return found


@dataclass(frozen=True)
class MountEntry:
    devno: int
    mountpoint: str
    source: str


def mounts() -> list[MountEntry]:
    """Mount table of our namespace; btrfs and friends report major 0, so resolve /dev sources too."""
    found = []
    for line in MOUNTINFO.read_text().splitlines():
        fields = line.split()
        sep = fields.index("-")
        devno, source = _devno(fields[2]), fields[sep + 2]
        if os.major(devno) == 0 and source.startswith("/dev/"):
            with contextlib.suppress(OSError):
                st = os.stat(source)
                if stat.S_ISBLK(st.st_mode):
                    devno = st.st_rdev
        found.append(MountEntry(devno, fields[4].replace("\\040", " "), source))
    return found


def swaps() -> list[MountEntry]:
    found = []
    for line in _read(SWAPS).splitlines()[1:]:
        source = line.split()[0]
        with contextlib.suppress(OSError):
            st = os.stat(source)
            if stat.S_ISBLK(st.st_mode):
                found.append(MountEntry(st.st_rdev, "[swap]", source))
    return found


def root_disks() -> set[Path]:
    """Block devices and disks holding the root file system; empty when / is not on one (tmpfs, overlay)."""
    roots = [m for m in mounts() if m.mountpoint == "/" and os.major(m.devno) != 0]
    if not roots:
        return set()
    sysdir = sysfs_dir(roots[-1].devno)  # the last mount on / is the visible one
    return stack_below(sysdir) if sysdir.exists() else set()


def _in_use(disk: Path) -> tuple[str, str] | None:
    """(reason, message) if the disk, a partition, or anything stacked on them is mounted or held."""
    members = [disk, *partitions(disk)]
    stacked = {h for m in members for h in _related(m, "holders")}
    devnos = {_dev_of(d): d.name for d in (*members, *stacked)}
    for mount in (*mounts(), *swaps()):
        if mount.devno in devnos:
            via = devnos[mount.devno]
            return "mounted", f"{via} is mounted on {mount.mountpoint}; unmount it first"
    if stacked:
        names = ", ".join(sorted(h.name for h in stacked))
        return "held", f"held by {names} (device-mapper/LVM/RAID); deactivate it first"
    return None


def _is_usb(disk: Path) -> bool:
    return "/usb" in str(disk)


def _model(disk: Path) -> str:
    words = [_read(disk / "device/vendor"), _read(disk / "device/model")]
    model = " ".join(w for w in words if w)
    backing = _read(disk / "loop/backing_file")
    if backing:
        model = f"loop device backed by {backing}"
    return model or disk.name


def inspect(image: Path, device: Path, *, force: bool) -> tuple[Target, int]:
    """Run every safety check; return the target and the image size, or raise Refused."""
    image_size = check_gpt_image(image)
    try:
        st = os.stat(device)
    except OSError as error:
        raise Refused("not-block", f"{device}: {error.strerror}") from error
    if not stat.S_ISBLK(st.st_mode):
        raise Refused("not-block", f"{device}: not a block device")
    sysdir = sysfs_dir(st.st_rdev)
    if whole_disk(sysdir) != sysdir:
        raise Refused("partition", f"{device}: is partition {sysdir.name} of {sysdir.parent.name}; "
                      f"give the whole disk, e.g. /dev/{sysdir.parent.name}")
    if sysdir in root_disks():
        raise Refused("root-disk", f"{device}: holds the running system's root file system (/)")
    busy = _in_use(sysdir)
    if busy:
        raise Refused(busy[0], f"{device}: {busy[1]}")
    removable = _read(sysdir / "removable") == "1" or _is_usb(sysdir)
    if not removable and not force:
        raise Refused("not-removable", f"{device}: not a removable or USB disk ({_model(sysdir)}); "
                      "pass --force if you really mean it")
    size = int(_read(sysdir / "size", "0")) * 512
    if size < image_size:
        raise Refused("too-small", f"{device}: {size} bytes is smaller than the image ({image_size} bytes)")
    return Target(device, sysdir, size, _model(sysdir), removable), image_size


# --- writing and verifying ---------------------------------------------------------------------------

def _open_exclusive(device: Path) -> int:
    """O_EXCL on a block device makes the kernel refuse if anything claims it, and keeps others out."""
    try:
        return os.open(device, os.O_RDWR | os.O_EXCL | os.O_CLOEXEC)
    except OSError as error:
        if error.errno == errno.EBUSY:
            raise Refused("busy", f"{device}: busy (the kernel reports it in use)") from error
        raise FlashError(f"{device}: cannot open for writing: {error.strerror}") from error


def _drop_cache(fd: int) -> None:
    """Make the read-back come from the device, not from pages we just wrote."""
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    fcntl.ioctl(fd, BLKFLSBUF, 0)


def _write(fd: int, image: Path, total: int, progress: Progress,
           patches: list[gptids.Patch]) -> tuple[str, str]:
    """Write the image with `patches` over it; the sha256 of the image and of what was written."""
    digest, written_digest = hashlib.sha256(), hashlib.sha256()
    buffer = mmap.mmap(-1, CHUNK)
    view = memoryview(buffer)
    done = 0
    progress("write", 0, total)
    try:
        with image.open("rb", buffering=0) as source:
            while done < total:
                n = source.readinto(view[:min(CHUNK, total - done)])
                if not n:
                    raise FlashError(f"{image}: shrank while being written")
                digest.update(view[:n])
                gptids.apply(patches, done, view[:n])
                written_digest.update(view[:n])
                written = 0
                while written < n:
                    written += os.write(fd, view[written:n])
                done += n
                if done % SYNC_EVERY == 0:
                    os.fdatasync(fd)
                progress("write", done, total)
        os.fsync(fd)
    finally:
        view.release()
        buffer.close()
    return digest.hexdigest(), written_digest.hexdigest()


def _read_back(fd: int, total: int, progress: Progress) -> str:
    digest = hashlib.sha256()
    done = 0
    progress("verify", 0, total)
    while done < total:
        chunk = os.pread(fd, min(CHUNK, total - done), done)
        if not chunk:
            raise FlashError(f"device ended after {done} of {total} bytes during verification")
        digest.update(chunk)
        done += len(chunk)
        progress("verify", done, total)
    return digest.hexdigest()


def fresh_ids(image: Path, size: int) -> list[gptids.Patch]:
    """New GUIDs for this copy (host/gptids.py), worked out before the device is opened."""
    try:
        with image.open("rb") as source:
            return gptids.fresh_ids(lambda offset, length: os.pread(source.fileno(), length, offset), size)
    except gptids.GptError as error:
        raise Refused("not-gpt", f"{image}: {error}; pass --same-ids to copy it as it is") from error
    except OSError as error:
        raise Refused("image-unreadable", f"{image}: cannot read image: {error.strerror}") from error


def flash_image(image: Path, device: Path, *, force: bool, progress: Progress,
                same_ids: bool = False) -> FlashResult:
    """Check, write (with GUIDs of the copy's own unless `same_ids`), fsync, drop caches, read back and
    compare sha256; raises Refused or VerifyFailed."""
    _, total = inspect(image, device, force=force)
    patches = [] if same_ids else fresh_ids(image, total)
    fd = _open_exclusive(device)
    try:
        started = time.monotonic()
        image_sha, written_sha = _write(fd, image, total, progress, patches)
        written_at = time.monotonic()
        _drop_cache(fd)
        device_sha = _read_back(fd, total, progress)
        verified_at = time.monotonic()
    finally:
        os.close(fd)
    if device_sha != written_sha:
        raise VerifyFailed(device, written_sha, device_sha)
    return FlashResult(device, total, image_sha, written_sha, not same_ids, written_at - started,
                       verified_at - written_at)


# --- command line ------------------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", metavar="IMAGE", type=Path, help="raw GPT disk image (llmos.raw)")
    parser.add_argument("device", metavar="DEVICE", type=Path, help="whole-disk block device, e.g. /dev/sdb")
    parser.add_argument("--force", action="store_true",
                        help="allow a disk that is neither removable nor USB-attached (never the root disk)")
    parser.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    parser.add_argument("--same-ids", action="store_true",
                        help="keep the image's disk GUID and partition UUIDs: a bit-for-bit copy (by default "
                             "each copy gets its own, so that two copies in one machine stay apart)")


def _confirm(target: Target, image: Path, image_size: int) -> bool:
    print(f"About to ERASE {target.device}: {target.model}, {target.size / 1e9:.1f} GB "
          f"({'removable' if target.removable else 'NOT removable'})\n"
          f"and write {image} ({mib(image_size)}) to it.", file=sys.stderr)
    try:
        return input("Type 'yes' to continue: ").strip().lower() == "yes"
    except EOFError:
        return False


def run(args: argparse.Namespace) -> int:
    try:
        target, image_size = inspect(args.image, args.device, force=args.force)
        if not args.yes:
            if not sys.stdin.isatty():
                print(f"llmos flash: {args.device}: not asking on a non-terminal; pass --yes",
                      file=sys.stderr)
                return 2
            if not _confirm(target, args.image, image_size):
                print("llmos flash: cancelled, nothing written", file=sys.stderr)
                return 1
        result = flash_image(args.image, args.device, force=args.force, progress=ConsoleProgress(),
                             same_ids=args.same_ids)
    except Refused as error:
        print(f"llmos flash: refused: {error}", file=sys.stderr)
        return 2
    except FlashError as error:
        print(f"llmos flash: {error}", file=sys.stderr)
        return 1
    print(f"{result.device}: wrote and verified {mib(result.bytes_written)} in "
          f"{result.write_seconds:.1f}s + {result.verify_seconds:.1f}s; image sha256 {result.sha256}"
          + ("; the copy has a disk GUID and partition UUIDs of its own" if result.fresh_ids else
             "; a bit-for-bit copy"))
    return 0
