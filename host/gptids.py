"""Fresh GUIDs for one copy of a GPT disk image: the disk's own, and each partition's.

Every copy of an image file carries the same disk GUID and partition UUIDs. Two such disks in one
machine (an appliance's, and a USB stick flashed from the same image) are then indistinguishable by the
names the firmware and the boot use: systemd-boot reports the ESP it started from by its PARTUUID, and
an update's boot entry names its root by PARTUUID (docs/update.md). `llmos flash` therefore writes each
copy with GUIDs of its own, in both GPT headers and both partition tables, with their CRC32s; partition
types and labels, which LLM OS finds its partitions by, stay as they are.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass

SIGNATURE = b"EFI PART"
DISK_GUID = slice(56, 72)
ENTRY_GUID = slice(16, 32)
MAX_TABLE = 1 << 20  # bytes of one partition table; the standard one is 16 KiB


class GptError(ValueError):
    """The image's GPT cannot be given new GUIDs; the message says where and why."""


@dataclass(frozen=True)
class Patch:
    """Bytes to write at an offset of the image instead of its own."""

    offset: int
    data: bytes


@dataclass(frozen=True)
class _Header:
    offset: int  # of the header, in bytes
    raw: bytes  # header_size bytes
    entries_offset: int
    entries_length: int

    def rewritten(self, disk_guid: uuid.UUID, entries: bytes) -> bytes:
        header = bytearray(self.raw)
        header[DISK_GUID] = disk_guid.bytes_le
        struct.pack_into("<I", header, 88, zlib.crc32(entries))
        struct.pack_into("<I", header, 16, 0)
        struct.pack_into("<I", header, 16, zlib.crc32(header))
        return bytes(header)


def _header(read: Callable[[int, int], bytes], offset: int, sector: int, size: int, which: str) -> _Header:
    if offset < 0 or offset + sector > size:
        raise GptError(f"the {which} GPT header would be at byte {offset}, outside the image ({size} bytes)")
    block = read(offset, sector)
    if block[:8] != SIGNATURE:
        raise GptError(f"no {which} GPT header ('EFI PART') at byte {offset}")
    (header_size,) = struct.unpack_from("<I", block, 12)
    if not 92 <= header_size <= sector:
        raise GptError(f"the {which} GPT header at byte {offset} has an implausible size ({header_size})")
    raw = block[:header_size]
    blank = raw[:16] + bytes(4) + raw[20:]
    if zlib.crc32(blank) != struct.unpack_from("<I", raw, 16)[0]:
        raise GptError(f"the {which} GPT header at byte {offset} has a bad CRC32")
    entries_lba, count, entry_size = struct.unpack_from("<QII", raw, 72)
    length = count * entry_size
    if entry_size < 128 or length > MAX_TABLE or entries_lba * sector + length > size:
        raise GptError(f"the {which} GPT header at byte {offset} describes an implausible partition table "
                       f"({count} entries of {entry_size} bytes at LBA {entries_lba})")
    return _Header(offset, raw, entries_lba * sector, length)


def fresh_ids(read: Callable[[int, int], bytes], size: int,
              new_guid: Callable[[], uuid.UUID] = uuid.uuid4) -> list[Patch]:
    """The patches that give the image (`read(offset, length)`, `size` bytes) a new disk GUID and a new
    GUID for each partition, in the primary and the backup GPT alike. Raises GptError, naming the
    problem, for an image whose GPT is not whole: nothing should be written then."""
    for sector in (512, 4096):
        if read(sector, 8) == SIGNATURE:
            break
    else:
        raise GptError("no GPT header ('EFI PART') at LBA 1")
    primary = _header(read, sector, sector, size, "primary")
    (backup_lba,) = struct.unpack_from("<Q", primary.raw, 32)
    backup = _header(read, backup_lba * sector, sector, size, "backup")
    (entry_size,) = struct.unpack_from("<I", primary.raw, 84)
    table = read(primary.entries_offset, primary.entries_length)
    if zlib.crc32(table) != struct.unpack_from("<I", primary.raw, 88)[0]:
        raise GptError(f"the partition table at byte {primary.entries_offset} does not match its CRC32")
    if read(backup.entries_offset, backup.entries_length) != table:
        raise GptError(f"the backup partition table at byte {backup.entries_offset} differs from the primary")
    entries = bytearray(table)
    for start in range(0, len(entries), entry_size):
        if entries[start:start + 16] != bytes(16):  # a used entry: its type GUID is not zero
            entries[start + ENTRY_GUID.start:start + ENTRY_GUID.stop] = new_guid().bytes_le
    disk = new_guid()
    table = bytes(entries)
    return [Patch(primary.offset, primary.rewritten(disk, table)), Patch(primary.entries_offset, table),
            Patch(backup.entries_offset, table), Patch(backup.offset, backup.rewritten(disk, table))]


def apply(patches: list[Patch], offset: int, chunk: memoryview) -> None:
    """Overlay the patches on `chunk`, the image's bytes from `offset` on."""
    end = offset + len(chunk)
    for patch in patches:
        start, stop = max(patch.offset, offset), min(patch.offset + len(patch.data), end)
        if start < stop:
            chunk[start - offset:stop - offset] = patch.data[start - patch.offset:stop - patch.offset]


__all__ = ["GptError", "Patch", "apply", "fresh_ids"]
