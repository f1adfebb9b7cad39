"""Where a running LLM OS keeps what the updater needs. Integration point: the image layout decides
these; every value can be overridden on the command line, and tests pass all of them explicitly."""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from llmos import paths
from llmos.init import rootdisk
from llmos.init.stage1 import Partition
from llmos.update import loader
from llmos.update import store as store_module

DEFAULT_MAX_BYTES = 4 << 30
SLOT_PARTLABEL = "llmos-root-{slot}"  # the labels the A/B image layout is expected to give the slots


@dataclass(frozen=True)
class Layout:
    """Everything apply and status touch, as paths and values."""

    esp: Path
    slot_devices: tuple[tuple[str, Path], ...]  # (("a", /dev/...), ("b", /dev/...))
    slot_roots: tuple[tuple[str, str], ...]  # (("a", "PARTUUID=..."), ...): root= for each slot's entry
    active: str
    state_path: Path
    public_key: Path
    arch: str
    max_bytes: int = DEFAULT_MAX_BYTES
    running_version: str | None = None
    base_options: str = ""  # kernel command line besides root= and llmos.slot=
    booted_entry: str | None = None  # LoaderEntrySelected
    store: Path | None = None  # the model store, writable; None on an image without a models partition
    models: Path = Path("/") / store_module.MODELS_DIR  # the running root's links into the store

    def device(self, slot: str) -> Path:
        return dict(self.slot_devices)[slot]

    def root(self, slot: str) -> str:
        return dict(self.slot_roots)[slot]

    @property
    def work_dir(self) -> Path:
        """Downloads and the lock file live beside the state file, on the data partition."""
        return self.state_path.parent


def esp() -> Path:
    return Path(os.environ.get("LLMOS_ESP", "/efi"))


def state_path() -> Path:
    return paths.state_dir() / "update" / "state.json"


def public_key() -> Path:
    return Path(os.environ.get("LLMOS_UPDATE_KEY", "/usr/share/llmos/update-ed25519.pub"))


def cmdline(path: Path = Path("/proc/cmdline")) -> list[str]:
    try:
        return path.read_text().split()
    except OSError:
        return []


def active_slot(words: list[str]) -> str | None:
    for word in words:
        if word.startswith("llmos.slot="):
            return word.partition("=")[2]
    return None


def slot_device(slot: str) -> Path:
    """The slot's partition on the disk the running root is on (init/rootdisk.py: with two LLM OS disks
    attached, udev's by-partlabel link may name the other's)."""
    return rootdisk.labelled(SLOT_PARTLABEL.format(slot=slot))


def partuuid(device: Path, table: list[Partition] | None = None) -> str | None:
    """The partition's UUID, read from the GPT of the disk it is on (`table`: the partitions of every
    disk, init/esp.py); None for what is no partition of a disk."""
    from llmos.init.esp import partitions

    target = str(device.resolve())
    return next((str(p.part_uuid) for p in (partitions() if table is None else table) if p.device == target),
                None)


def root_argument(slot: str, device: Path, table: list[Partition] | None = None) -> str:
    uuid = partuuid(device, table)
    return f"PARTUUID={uuid}" if uuid else f"PARTLABEL={SLOT_PARTLABEL.format(slot=slot)}"


def os_release_version(path: Path = Path("/etc/os-release")) -> str | None:
    """IMAGE_VERSION from os-release (mkosi writes it when ImageVersion= is set)."""
    try:
        for line in path.read_text().splitlines():
            key, _, value = line.partition("=")
            if key == "IMAGE_VERSION":
                return value.strip().strip("\"'") or None
    except OSError:
        return None
    return None


def base_options(esp_dir: Path, active: str, words: list[str]) -> str:
    """The running command line minus root= and llmos.slot=: from the active slot's entry, else from
    /proc/cmdline without what the loader adds itself (BOOT_IMAGE, initrd)."""
    for entry in loader.entries(esp_dir):
        if entry.slot == active and entry.options:
            return entry.options
    return " ".join(w for w in words if not w.startswith(("BOOT_IMAGE=", "initrd=")))


def running_arch() -> str:
    return platform.machine()


STORE_MOUNT = Path("/run/llmos/update/store")


def writable_store(log: Callable[[str], None], target: Path = STORE_MOUNT) -> Path | None:
    """The models partition mounted writable where only the updater looks (stage 1 shows it to the
    system read-only); None when this disk has none."""
    from llmos.init import mounts

    if any(entry.target == str(target) for entry in mounts.mounted()):
        return target
    device = rootdisk.labelled(store_module.PARTLABEL)
    if reason := rootdisk.elsewhere(device):
        log(f"model store: {device} {reason}")
        return None
    if not device.exists():
        log(f"model store: no partition {device}")
        return None
    try:
        target.mkdir(parents=True, exist_ok=True)
        mounts.mount(str(device.resolve()), str(target), "ext4",
                     mounts.MS_NOSUID | mounts.MS_NODEV | mounts.MS_NOEXEC | mounts.MS_NOATIME)
    except OSError as error:
        log(f"model store: cannot mount {device} on {target}: {error}")
        return None
    return target
