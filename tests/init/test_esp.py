"""The ESP is the one systemd-boot started from, or, without the loader's word (direct kernel boot),
the one on the disk that holds LLM OS's root slots; never another disk's."""

from __future__ import annotations

import uuid
from pathlib import Path

from llmos.init.esp import esp_device
from llmos.init.stage1 import ESP_TYPE, ROOT_TYPE, Partition
from llmos.update import loader

OTHER_ESP = Partition("sda", 1, ESP_TYPE, uuid.uuid4(), "EFI")
OUR_ESP = Partition("vda", 1, ESP_TYPE, uuid.uuid4(), "esp")
SLOT_A = Partition("vda", 2, ROOT_TYPE, uuid.uuid4(), "llmos-root-a")
TABLE = [OTHER_ESP, OUR_ESP, SLOT_A]


def test_the_loader_names_the_esp(tmp_path: Path) -> None:
    (tmp_path / f"LoaderDevicePartUUID-{loader.LOADER_GUID}").write_bytes(
        b"\x06\0\0\0" + (str(OTHER_ESP.part_uuid).upper() + "\0").encode("utf-16-le"))
    assert esp_device(tmp_path, TABLE) == "/dev/sda1"


def test_without_the_loader_the_esp_beside_the_root_slots(tmp_path: Path) -> None:
    assert esp_device(tmp_path, TABLE) == "/dev/vda1"
    assert esp_device(tmp_path, [OTHER_ESP]) is None  # a machine's own ESP is not ours to write


def test_with_a_copy_of_the_image_attached_the_esp_on_the_disk_the_root_is_on(tmp_path: Path) -> None:
    """A USB stick flashed from the same image has the same labels and partition UUIDs."""
    copy_esp = Partition("vdb", 1, ESP_TYPE, OUR_ESP.part_uuid, "esp")
    copy_slot = Partition("vdb", 2, ROOT_TYPE, SLOT_A.part_uuid, "llmos-root-a")
    table = [copy_esp, copy_slot, OUR_ESP, SLOT_A]
    assert esp_device(tmp_path, table, running_disk="vda") == "/dev/vda1"
    assert esp_device(tmp_path, table, running_disk="vdb") == "/dev/vdb1"
    (tmp_path / f"LoaderDevicePartUUID-{loader.LOADER_GUID}").write_bytes(
        b"\x06\0\0\0" + (str(OUR_ESP.part_uuid).upper() + "\0").encode("utf-16-le"))
    assert esp_device(tmp_path, table, running_disk="vda") == "/dev/vda1"
    assert esp_device(tmp_path, table) == "/dev/vdb1"  # unknown: the first, as before
