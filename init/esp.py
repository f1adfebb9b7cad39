"""The EFI system partition at /efi: where the boot loader's entries live, which A/B updates write
and PID 1's boot assessment blesses (docs/update.md). The image has no `mount` binary; this is the one
place that finds and mounts the ESP, for PID 1 and for `llmos update`.
"""

from __future__ import annotations

import contextlib
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

from llmos.init import mounts, rootdisk
from llmos.init.stage1 import ESP_TYPE, SLOT_LABEL, Partition, disks, read_gpt
from llmos.update import loader

EFIVARS = Path("/sys/firmware/efi/efivars")
ESP_MOUNT = Path("/efi")


def partitions() -> list[Partition]:
    found: list[Partition] = []
    for disk in disks():
        with contextlib.suppress(OSError, ValueError):
            found.extend(read_gpt(disk))
    return found


def esp_device(efivars: Path = EFIVARS, table: list[Partition] | None = None,
               running_disk: str | None = None) -> str | None:
    """The partition systemd-boot started from (LoaderDevicePartUUID); without it (QEMU's direct
    kernel boot), the ESP on the disk that holds LLM OS's root slots. `running_disk` is the disk the
    running root is on (init/rootdisk.py): where two disks match (a copy of the same image attached),
    its ESP is the one."""
    table = partitions() if table is None else table
    raw = loader.read_efi_string(efivars, "LoaderDevicePartUUID")
    with contextlib.suppress(ValueError):
        wanted = uuid.UUID(raw or "")
        matching = [p for p in table if p.part_uuid == wanted]
        return next((p.device for p in matching if p.disk == running_disk),
                    matching[0].device if matching else None)
    ours = {p.disk for p in table if p.label == SLOT_LABEL.format(slot="a")}
    if running_disk in ours:
        ours = {running_disk}
    return next((p.device for p in table if p.type_guid == ESP_TYPE and p.disk in ours), None)


def mount_esp(log: Callable[[str], None], target: Path = ESP_MOUNT) -> Path | None:
    """The ESP at /efi (read-write for the loader's entries, nothing executable), mounted once."""
    if any(entry.target == str(target) for entry in mounts.mounted()):
        return target
    device = esp_device(running_disk=rootdisk.root_disk())
    if device is None:
        log("esp: no EFI system partition on the disk LLM OS runs from")
        return None
    subprocess.run(["modprobe", "-q", "-a", "vfat", "nls_cp437", "nls_iso8859-1"], check=False)
    try:
        mounts.mount(device, str(target), "vfat", mounts.MS_NOSUID | mounts.MS_NODEV | mounts.MS_NOEXEC,
                     "umask=0077")
    except OSError as error:
        log(f"esp: cannot mount {device} on {target}: {error}")
        return None
    return target


__all__ = ["ESP_MOUNT", "esp_device", "mount_esp", "partitions"]
