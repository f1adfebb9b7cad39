#!/usr/bin/python3
"""Stage 1: the initramfs /init. Finds the LLM OS disk, mounts it and hands over to the PID-1 supervisor.

It runs before anything else exists, so it uses only the standard library (no udev, no llmos package):
1. mount /proc, /sys and /dev;
2. load storage drivers by modalias until a disk with our partitions shows up (USB sticks take seconds);
3. find the root, model store and data partitions by their type GUIDs in the GPT; of the two
   root slots (A/B updates, docs/update.md) the one the boot entry names with `llmos.slot=` or
   `root=PARTUUID=`, else slot a;
4. check and mount them (root and model store read-only), then switch_root and exec /usr/sbin/init.
A slot on trial (its boot entry still counts tries) that cannot be mounted reboots instead, so the
boot loader falls back to the previous slot once the tries are used up.
Anything missing gets a message naming what was looked for and what was found, then an emergency shell:
never a kernel panic.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import struct
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass

ROOT_TYPE = uuid.UUID("4f68bce3-e8cd-4db1-96e7-fbcaf984b709")  # DPS: root partition, x86-64
DATA_TYPE = uuid.UUID("c855d2a6-d623-44ad-9e6a-c0d48c63bcce")  # LLM OS data (/var/lib/llmos)
MODELS_TYPE = uuid.UUID("3dc9ca95-ed52-49ad-a4a2-4522b21ac1dd")  # LLM OS model store (update/store.py)
ESP_TYPE = uuid.UUID("c12a7328-f81f-11d2-ba4b-00a0c93ec93b")
LOADER_PART_VAR = "LoaderDevicePartUUID-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f"
LOADER_COUNT_VAR = "LoaderBootCountPath-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f"
SLOT_LABEL = "llmos-root-{slot}"  # the A/B slots' partition labels (mkosi.repart)
NEW_ROOT = "/sysroot"
DATA_MOUNT = "/var/lib/llmos"
STORE_MOUNT = "/usr/share/llmos/store"
INIT = "/usr/sbin/init"
READ_AHEAD = "/usr/lib/llmos/readahead.list"  # written by the image build (llmos/readahead.py)
BARE = "llmos.bare=1"  # PID 1 with no services (init/services.py): nothing to read ahead for
DISK_TIMEOUT = 30.0
MAX_GPT_TABLE = 1 << 20  # a real GPT has 128 entries of 128 bytes; anything far bigger is garbage

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_NOATIME, MS_BIND, MS_MOVE = 1024, 4096, 8192
RB_AUTOBOOT = 0x01234567
libc = ctypes.CDLL(None, use_errno=True)


def now() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def say(message: str) -> None:
    """Print to the console; the kernel's `quiet` hides its own lines, ours carry boot-time stamps."""
    print(f"llmos: {message} t={now():.3f}", flush=True)


def mount(source: str, target: str, fstype: str | None, flags: int = 0, data: str = "") -> None:
    os.makedirs(target, exist_ok=True)
    if libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None,
                  ctypes.c_ulong(flags), data.encode() if data else None) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount {source} on {target} ({fstype}): {os.strerror(errno)}")


@dataclass
class Partition:
    disk: str
    number: int
    type_guid: uuid.UUID
    part_uuid: uuid.UUID
    label: str

    @property
    def device(self) -> str:
        separator = "p" if self.disk[-1].isdigit() else ""
        return f"/dev/{self.disk}{separator}{self.number}"


def read_gpt(disk: str) -> list[Partition]:
    """Parse the GPT of /dev/<disk> (standard 512-byte or 4096-byte sectors)."""
    with open(f"/dev/{disk}", "rb") as device:
        for sector in (512, 4096):
            device.seek(sector)
            header = device.read(92)
            if header[:8] != b"EFI PART":
                continue
            entries_lba, count, size = struct.unpack_from("<QII", header, 72)
            if size < 128 or count * size > MAX_GPT_TABLE:
                raise ValueError(f"/dev/{disk}: implausible GPT ({count} entries of {size} bytes)")
            device.seek(entries_lba * sector)
            table = device.read(count * size)
            found = []
            for index in range(count):
                entry = table[index * size:(index + 1) * size]
                if len(entry) < 128 or entry[:16] == bytes(16):
                    continue
                label = entry[56:128].decode("utf-16-le", "replace").rstrip("\0")
                found.append(Partition(disk, index + 1, uuid.UUID(bytes_le=entry[:16]),
                                       uuid.UUID(bytes_le=entry[16:32]), label))
            return found
    return []


def disks() -> list[str]:
    names = []
    for path in sorted(glob.glob("/sys/block/*")):
        name = os.path.basename(path)
        if not name.startswith(("loop", "ram", "zram", "sr")):
            names.append(name)
    return names


def load_drivers(probed: set[str]) -> None:
    """Coldplug by hand: ask modprobe for each new modalias the buses report; new buses appear as we go."""
    aliases = set()
    for path in glob.glob("/sys/bus/*/devices/*/modalias"):
        try:
            with open(path) as file:
                aliases.add(file.read().strip())
        except OSError:
            continue
    new = aliases - probed
    if new:
        probed.update(new)
        subprocess.run(["modprobe", "-q", "-a", *sorted(new)], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def mount_efivars() -> None:
    """The boot loader's variables (an EFI boot only; the module first, where it is not built in)."""
    efivars = "/sys/firmware/efi/efivars"
    if not os.path.isdir("/sys/firmware/efi") or os.path.exists(f"{efivars}/{LOADER_PART_VAR}"):
        return
    subprocess.run(["modprobe", "-q", "efivarfs"], check=False)
    with contextlib.suppress(OSError):
        mount("efivarfs", efivars, "efivarfs", MS_NOSUID | MS_NODEV | MS_NOEXEC)


def booted_from() -> uuid.UUID | None:
    """The ESP systemd-boot started from, so that a machine with two LLM OS disks boots the right one."""
    mount_efivars()
    try:
        with open(f"/sys/firmware/efi/efivars/{LOADER_PART_VAR}", "rb") as file:
            return uuid.UUID(file.read()[4:].decode("utf-16-le").rstrip("\0"))
    except (OSError, ValueError):
        return None


def kernel_cmdline() -> list[str]:
    try:
        with open("/proc/cmdline") as file:
            return file.read().split()
    except OSError:
        return []


def choose_root(roots: list[Partition], cmdline: list[str]) -> Partition:
    """The root slot to boot: the one the entry names (`root=PARTUUID=`, then `llmos.slot=`), else
    slot a, else the first root partition (an image from before the A/B layout)."""
    options = dict(word.split("=", 1) for word in cmdline if "=" in word)
    wanted = options.get("root", "")
    if wanted.upper().startswith("PARTUUID="):
        with contextlib.suppress(ValueError):
            named = uuid.UUID(wanted.split("=", 1)[1])
            for root in roots:
                if root.part_uuid == named:
                    return root
    slot = options.get("llmos.slot", "a")
    return next((r for r in roots if r.label == SLOT_LABEL.format(slot=slot)), None) \
        or next((r for r in roots if r.label == SLOT_LABEL.format(slot="a")), roots[0])


def on_trial() -> bool:
    """Whether the boot entry still counts tries (systemd-boot's LoaderBootCountPath is set)."""
    mount_efivars()
    return os.path.exists(f"/sys/firmware/efi/efivars/{LOADER_COUNT_VAR}")


def find_partitions(deadline: float) -> tuple[Partition | None, list[Partition]]:
    """Wait (loading drivers as buses appear) until a disk carries a root partition, or the deadline."""
    seen: list[Partition] = []
    probed: set[str] = set()
    while True:
        load_drivers(probed)
        seen = []
        for disk in disks():
            try:
                seen.extend(read_gpt(disk))
            except (OSError, ValueError) as error:  # one bad disk must not stop the boot from another
                say(f"stage1 skipping {disk}: {error}")
                continue
        roots = [p for p in seen if p.type_guid == ROOT_TYPE]
        if roots:
            esp = booted_from()
            if esp is not None:
                booted_disks = {p.disk for p in seen if p.part_uuid == esp}
                roots = [p for p in roots if p.disk in booted_disks] or roots
            return choose_root(roots, kernel_cmdline()), seen
        if time.monotonic() >= deadline:
            return None, seen
        time.sleep(0.1)  # a USB disk appears asynchronously; there is no event source without udev


def wait_for_node(device: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not os.path.exists(device):
        if time.monotonic() > deadline:
            raise FileNotFoundError(f"{device} did not appear within {timeout:.0f} s")
        time.sleep(0.02)


def filesystem_type(device: str) -> str:
    """The root's file system by its superblock magic: the factory root is squashfs (compressed,
    read-only, issue 18 1b), and a slot written by an older bundle may still be ext4."""
    with open(device, "rb") as disk:
        head = disk.read(1082)
    if head[:4] == b"hsqs":
        return "squashfs"
    if head[1080:1082] == b"\x53\xef":
        return "ext4"
    raise OSError(f"{device} holds neither squashfs nor ext4 (starts {head[:4].hex()})")


def check_filesystem(device: str) -> None:
    """e2fsck -p repairs what an unclean power-off left; its exit codes 0-1 mean the file system is fine."""
    result = subprocess.run(["e2fsck", "-p", device], check=False, capture_output=True, text=True)
    if result.returncode > 1:
        output = f"{result.stdout.strip()} {result.stderr.strip()}"
        say(f"stage1 e2fsck {device} exit {result.returncode}: {output}")


def describe(seen: list[Partition]) -> str:
    if not seen:
        return "no GPT partitions on " + (", ".join(disks()) or "no disks at all")
    return "; ".join(f"{p.device} type={p.type_guid} label={p.label!r}" for p in seen)


def emergency(reason: str) -> None:
    """Tell the user what is wrong and give them a shell; when it exits, stage 1 tries again."""
    print(f"\nllmos: EMERGENCY: {reason}", flush=True)
    print("llmos: looked for root type " f"{ROOT_TYPE} and data type {DATA_TYPE}", flush=True)
    if on_trial():  # an update that does not boot: use up this try; the loader falls back after the last
        print("llmos: this boot entry is on trial: rebooting, not stopping", flush=True)
        os.sync()
        libc.reboot(RB_AUTOBOOT)
    print("llmos: starting an emergency shell; exit it to retry the boot", flush=True)
    shell = "/bin/busybox"
    if os.path.exists(shell):
        subprocess.run([shell, "setsid", "-c", shell, "sh"], check=False)
    else:
        time.sleep(10)  # nothing to run: wait, then retry (PID 1 must not exit)


def read_ahead(new_root: str, cmdline: list[str]) -> int | None:
    """Read the files the compositor needs for the shell's first screen into the page cache, in a child
    that runs while this process mounts the rest and hands over, and PID 1 starts. Under TCG all that
    keeps one CPU busy and the other idle, and the compositor, which PID 1 starts first, then imports
    from memory instead of decompressing the root file by file on its own CPU. The child is SCHED_IDLE,
    so it only ever takes a CPU nothing else wants, and it reads through a descriptor of the new root,
    which stays valid when that root moves to /. PID 1 reaps it. Returns its pid (None: nothing to read)."""
    if BARE in cmdline:
        return None
    try:
        with open(new_root + READ_AHEAD, encoding="utf-8") as listing:
            names = [line.strip().lstrip("/") for line in listing]
        root = os.open(new_root, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as error:
        say(f"stage1 nothing read ahead: {error}")
        return None
    try:
        pid = os.fork()
    except OSError as error:  # only a hint was lost: boot on
        os.close(root)
        say(f"stage1 nothing read ahead: {error}")
        return None
    if pid:
        os.close(root)
        return pid
    try:  # the child: never returns
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        started, files, size = now(), 0, 0
        buffer = bytearray(1 << 20)
        for name in names:
            if not name or ".." in name.split("/"):
                continue  # only paths inside the root
            try:
                fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC, dir_fd=root)
            except OSError:
                continue  # not in this image: the list is a hint
            try:
                while count := os.readv(fd, [buffer]):
                    size += count
            except OSError:
                pass
            finally:
                os.close(fd)
            files += 1
        say(f"stage1 read ahead {files} files, {size / 2**20:.1f} MiB in {now() - started:.2f} s")
    finally:
        os._exit(0)


def switch_root(new_root: str) -> None:
    """Move the API file systems into the new root, make it / and exec the supervisor."""
    for path in ("/dev", "/proc", "/sys"):
        mount(path, new_root + path, None, MS_MOVE)
    os.chdir(new_root)
    mount(new_root, "/", None, MS_MOVE)
    os.chroot(".")
    os.chdir("/")


def beside(root: Partition, seen: list[Partition], type_guid: uuid.UUID) -> Partition | None:
    """The partition of that type on the root's own disk."""
    return next((p for p in seen if p.type_guid == type_guid and p.disk == root.disk), None)


def mount_store(store: Partition | None, root: Partition) -> None:
    """The models both slots share, read-only where the system sees them. The superblock stays
    writable so that `llmos update apply` can mount it again, writable, somewhere private; without
    it the system boots and reports its models missing."""
    if store is None:
        say(f"stage1 no model store (type {MODELS_TYPE}) on {root.disk}: the embedded models are missing")
        return
    wait_for_node(store.device)
    check_filesystem(store.device)
    target = NEW_ROOT + STORE_MOUNT
    try:
        mount(store.device, target, "ext4", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME)
        mount("none", target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC
              | MS_NOATIME)
    except OSError as error:  # a root from before the store has no mount point: it carries its models
        say(f"stage1 model store {store.device} not mounted: {error}")
        return
    say(f"stage1 model store {store.device}")


def mount_system() -> bool:
    root, seen = find_partitions(time.monotonic() + DISK_TIMEOUT)
    if root is None:
        emergency(f"no LLM OS root partition found within {DISK_TIMEOUT:.0f} s. Found: {describe(seen)}")
        return False
    say(f"stage1 root {root.device}")
    wait_for_node(root.device)
    fstype = filesystem_type(root.device)
    subprocess.run(["modprobe", "-q", fstype], check=False)  # no-op where built in
    mount(root.device, NEW_ROOT, fstype, MS_RDONLY | MS_NOATIME)
    read_ahead(NEW_ROOT, kernel_cmdline())  # beside the rest of stage 1 and PID 1's start
    subprocess.run(["modprobe", "-q", "ext4"], check=False)
    mount_store(beside(root, seen, MODELS_TYPE), root)
    data = beside(root, seen, DATA_TYPE)
    if data is None:
        say(f"stage1 no data partition (type {DATA_TYPE}) on {root.disk}: /var/lib/llmos stays on tmpfs")
        mount("tmpfs", NEW_ROOT + DATA_MOUNT, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
    else:
        wait_for_node(data.device)
        check_filesystem(data.device)
        mount(data.device, NEW_ROOT + DATA_MOUNT, "ext4", MS_NOSUID | MS_NODEV | MS_NOATIME)
        say(f"stage1 data {data.device}")
    if not os.access(NEW_ROOT + INIT, os.X_OK):
        emergency(f"{root.device} has no executable {INIT}")
        return False
    return True


def main() -> None:
    os.environ.setdefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755")
    say("stage1 start")
    while True:
        try:
            if mount_system():
                break
        except Exception as error:  # stage 1 is PID 1: an exception must become a message, not a panic
            emergency(f"{type(error).__name__}: {error}")
    say("stage1 switch_root")
    switch_root(NEW_ROOT)
    os.execv(INIT, [INIT])


if __name__ == "__main__":
    try:
        main()
    except BaseException as error:  # last resort: keep PID 1 alive with a shell
        print(f"llmos: stage1 failed: {error!r}", file=sys.stderr, flush=True)
        while True:
            emergency("stage 1 crashed")
