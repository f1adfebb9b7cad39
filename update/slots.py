"""A/B root slots: write the inactive one from a verified bundle, read it back, and remember the outcome.

Which slot is active is given (the booted loader entry says so); the other one is the only one ever
written. Before the first byte goes to it the state file says "writing", so a power cut mid-write leaves
it marked as not bootable; a write error or a read-back mismatch marks it "invalid". The state file is
small JSON on the data partition, replaced atomically (temp + fsync + rename).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import hashlib
import json
import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from llmos.update import atomic

SLOTS = ("a", "b")
SYNC_EVERY = 64 << 20  # flush this often so progress follows the device, not the page cache
READ_CHUNK = 4 << 20
BLKGETSIZE64 = 0x80081272  # _IOR(0x12, 114, size_t)
BLKFLSBUF = 0x1261  # _IO(0x12, 97)

#: progress(stage, done_bytes, total_bytes)
Progress = Callable[[str, int, int], None]

# Slot states in the state file.
EMPTY, WRITING, INSTALLED, INVALID = "empty", "writing", "installed", "invalid"


class SlotError(Exception):
    """Base class of slot failures."""


class SlotRefused(SlotError):
    """The slot cannot take the image (missing, too small, the running one); found before anything was
    written, so the slot is unchanged."""


class SlotTooSmall(SlotRefused):
    """The image does not fit."""


class SlotWriteError(SlotError):
    """Writing or reading back failed; the slot has been marked invalid."""


def other(slot: str) -> str:
    if slot not in SLOTS:
        raise ValueError(f"slot {slot!r}: expected one of {', '.join(SLOTS)}")
    return SLOTS[1 - SLOTS.index(slot)]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class SlotRecord:
    state: str = EMPTY
    version: str | None = None
    sha256: str | None = None
    size: int | None = None
    detail: str = ""  # why it is invalid
    updated: str = ""


@dataclass(frozen=True)
class LastResult:
    time: str
    outcome: str  # installed, refused or failed
    version: str | None
    slot: str | None
    message: str


@dataclass(frozen=True)
class SlotState:
    a: SlotRecord = SlotRecord()
    b: SlotRecord = SlotRecord()
    last: LastResult | None = None
    problem: str = ""  # set when the state file could not be read and this is a fresh start

    def slot(self, name: str) -> SlotRecord:
        other(name)  # validates
        record: SlotRecord = getattr(self, name)
        return record

    def with_slot(self, name: str, record: SlotRecord) -> SlotState:
        other(name)
        return dataclasses.replace(self, a=record) if name == "a" else dataclasses.replace(self, b=record)

    def with_last(self, last: LastResult) -> SlotState:
        return dataclasses.replace(self, last=last)


def load_state(path: Path) -> SlotState:
    """The recorded state; a missing file is a fresh machine, an unreadable one is reported, not fatal
    (an appliance must still be able to update after its state file was damaged)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        slots = {name: SlotRecord(**document["slots"][name]) for name in SLOTS}
        last = LastResult(**document["last"]) if document.get("last") else None
    except FileNotFoundError:
        return SlotState()
    except (OSError, ValueError, KeyError, TypeError) as error:
        return SlotState(problem=f"{path}: unreadable state file ({type(error).__name__}: {error}); "
                                 "starting afresh")
    return SlotState(a=slots["a"], b=slots["b"], last=last)


def save_state(path: Path, state: SlotState) -> None:
    document = {"slots": {name: dataclasses.asdict(state.slot(name)) for name in SLOTS},
                "last": dataclasses.asdict(state.last) if state.last else None}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_bytes(path, (json.dumps(document, indent=1, sort_keys=True) + "\n").encode())


def update_slot(path: Path, name: str, record: SlotRecord) -> SlotState:
    state = load_state(path).with_slot(name, record)
    save_state(path, state)
    return state


def record_result(path: Path, outcome: str, version: str | None, slot: str | None, message: str) -> None:
    save_state(path, load_state(path).with_last(LastResult(_now(), outcome, version, slot, message)))


def mark_invalid(path: Path, name: str, reason: str, version: str | None = None) -> None:
    update_slot(path, name, SlotRecord(INVALID, version, None, None, reason, _now()))


# --- the device --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Slot:
    name: str  # a or b
    device: Path  # a partition, or a plain file in tests


def capacity(device: Path) -> int | None:
    """Bytes a block device holds; None for anything that can grow (a file) or has no size."""
    try:
        st = os.stat(device)
    except OSError:
        return None
    if not stat.S_ISBLK(st.st_mode):
        return None
    fd = os.open(device, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.lseek(fd, 0, os.SEEK_END)
    finally:
        os.close(fd)


_device_write = os.write  # the one call that touches the slot device; tests swap it to inject errors


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = _device_write(fd, view)
        if n == 0:  # the device ended: a short device behaves like a full disk
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = view[n:]


def _drop_cache(fd: int, block: bool) -> None:
    """So the read-back comes from the device, not from the pages we just wrote."""
    with contextlib.suppress(OSError):
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    if block:
        with contextlib.suppress(OSError):
            fcntl.ioctl(fd, BLKFLSBUF, 0)


def read_back(device: Path, size: int, progress: Progress, stage: str) -> str:
    digest, done = hashlib.sha256(), 0
    fd = os.open(device, os.O_RDONLY | os.O_CLOEXEC)
    try:
        _drop_cache(fd, stat.S_ISBLK(os.fstat(fd).st_mode))
        while done < size:
            data = os.pread(fd, min(READ_CHUNK, size - done), done)
            if not data:
                raise OSError(errno.EIO, f"the device ended after {done} of {size} bytes")
            digest.update(data)
            done += len(data)
            progress(stage, done, size)
    finally:
        os.close(fd)
    return digest.hexdigest()


def check_fits(slot: Slot, size: int) -> None:
    """Refuse a slot device that is not there or cannot hold the image. Never creates the device: a
    missing partition must not turn into a file in /dev."""
    if not slot.device.exists():
        raise SlotRefused(f"slot {slot.name}: {slot.device} does not exist; nothing was written")
    room = capacity(slot.device)
    if room is not None and size > room:
        raise SlotTooSmall(f"slot {slot.name} ({slot.device}) holds {room} bytes, the root image is {size}; "
                           "nothing was written")


def write_slot(slot: Slot, chunks: Iterable[bytes], *, size: int, sha256: str, version: str,
               state_path: Path, progress: Progress) -> SlotRecord:
    """Write the image to the slot, fsync, read it back and compare sha256. On any failure the slot is
    recorded invalid (never offered for boot) and SlotWriteError says what happened."""
    check_fits(slot, size)
    update_slot(state_path, slot.name, SlotRecord(WRITING, version, sha256, size, "", _now()))
    done = 0
    try:
        is_block = stat.S_ISBLK(os.stat(slot.device).st_mode)
        fd = os.open(slot.device, os.O_WRONLY | os.O_CLOEXEC | (os.O_EXCL if is_block else 0))
        try:
            digest, since_sync = hashlib.sha256(), 0
            progress(f"write slot {slot.name}", 0, size)
            for chunk in chunks:
                if done + len(chunk) > size:
                    raise OSError(errno.EFBIG, f"more data than the {size} bytes announced")
                _write_all(fd, chunk)
                digest.update(chunk)
                done += len(chunk)
                since_sync += len(chunk)
                if since_sync >= SYNC_EVERY:
                    os.fdatasync(fd)
                    since_sync = 0
                progress(f"write slot {slot.name}", done, size)
            if done != size:
                raise OSError(errno.EIO, f"the image ended after {done} of {size} bytes")
            if stat.S_ISREG(os.fstat(fd).st_mode):
                os.ftruncate(fd, size)  # a plain file holds exactly the image, no stale tail
            os.fsync(fd)
        finally:
            os.close(fd)
        if digest.hexdigest() != sha256:
            raise OSError(errno.EIO, f"the data written hashes to {digest.hexdigest()}, expected {sha256}")
        readback = read_back(slot.device, size, progress, f"read back slot {slot.name}")
        if readback != sha256:
            raise OSError(errno.EIO, f"read back sha256 {readback}, expected {sha256}")
    except Exception as error:
        reason = (f"write failed after {done} of {size} bytes: "
                  f"{error.strerror if isinstance(error, OSError) and error.strerror else error}")
        mark_invalid(state_path, slot.name, reason, version)
        raise SlotWriteError(f"slot {slot.name} ({slot.device}): {reason}; the slot is marked invalid and "
                             "will not be booted") from error
    record = SlotRecord(INSTALLED, version, sha256, size, "", _now())
    update_slot(state_path, slot.name, record)
    return record
