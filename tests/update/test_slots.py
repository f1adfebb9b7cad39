"""Writing the inactive slot: read back, fsync, and the state file when things go wrong."""

from __future__ import annotations

import errno
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmos.update import slots

IMAGE = os.urandom(3 * 1024 * 1024 + 123)
SHA = hashlib.sha256(IMAGE).hexdigest()


def chunks(data: bytes = IMAGE, size: int = 1 << 20) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


def quiet(stage: str, done: int, total: int) -> None:
    pass


def write(device: Path, state: Path, data: Iterator[bytes] | None = None, sha: str = SHA) -> slots.SlotRecord:
    if not device.exists():
        device.write_bytes(b"")  # a slot is a partition that exists; here a plain file
    return slots.write_slot(slots.Slot("b", device), data if data is not None else chunks(), size=len(IMAGE),
                            sha256=sha, version="2", state_path=state, progress=quiet)


def test_writes_reads_back_and_records(tmp_path: Path) -> None:
    device, state = tmp_path / "slot-b", tmp_path / "state" / "state.json"
    device.write_bytes(b"old contents that are longer than nothing" * 200_000)  # longer than the image
    seen: list[str] = []
    record = slots.write_slot(slots.Slot("b", device), chunks(), size=len(IMAGE), sha256=SHA, version="2",
                              state_path=state, progress=lambda stage, done, total: seen.append(stage))
    assert device.read_bytes() == IMAGE
    assert (record.state, record.version, record.sha256, record.size) == ("installed", "2", SHA, len(IMAGE))
    assert "write slot b" in seen and "read back slot b" in seen
    loaded = slots.load_state(state)
    assert loaded.b == record and loaded.a == slots.SlotRecord()
    assert json.loads(state.read_text())["slots"]["b"]["state"] == "installed"
    assert [p.name for p in state.parent.iterdir()] == ["state.json"]  # no temp file left


def test_a_full_device_marks_the_slot_invalid(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with pytest.raises(slots.SlotWriteError, match="No space left on device") as raised:
        write(Path("/dev/full"), state)
    assert "marked invalid" in str(raised.value)
    record = slots.load_state(state).b
    assert record.state == slots.INVALID and "No space left" in record.detail


def test_enospc_midway_marks_the_slot_invalid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    device, state = tmp_path / "slot-b", tmp_path / "state.json"
    real_write, written = slots._device_write, [0]

    def filling_up(fd: int, data: bytes | memoryview) -> int:
        if written[0] >= 2 << 20:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written[0] += len(data)
        return real_write(fd, data)

    monkeypatch.setattr(slots, "_device_write", filling_up)
    with pytest.raises(slots.SlotWriteError, match=r"after 2097152 of \d+ bytes: No space left"):
        write(device, state)
    assert slots.load_state(state).b.state == slots.INVALID


def test_a_short_device_that_stops_taking_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(slots, "_device_write", lambda fd, data: 0)
    with pytest.raises(slots.SlotWriteError, match="No space left"):
        write(tmp_path / "slot-b", tmp_path / "state.json")
    assert slots.load_state(tmp_path / "state.json").b.state == slots.INVALID


def test_data_that_does_not_match_the_hash_is_not_accepted(tmp_path: Path) -> None:
    with pytest.raises(slots.SlotWriteError, match="hashes to"):
        write(tmp_path / "slot-b", tmp_path / "state.json", sha="0" * 64)
    assert slots.load_state(tmp_path / "state.json").b.state == slots.INVALID


def test_a_source_that_fails_midway_marks_invalid(tmp_path: Path) -> None:
    def failing() -> Iterator[bytes]:
        yield IMAGE[:1000]
        raise RuntimeError("bundle changed after it was verified")

    with pytest.raises(slots.SlotWriteError, match="bundle changed"):
        write(tmp_path / "slot-b", tmp_path / "state.json", data=failing())
    assert slots.load_state(tmp_path / "state.json").b.state == slots.INVALID


def test_read_back_mismatch_marks_invalid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(slots, "read_back", lambda *args: "f" * 64)
    with pytest.raises(slots.SlotWriteError, match=r"read back sha256 f+, expected"):
        write(tmp_path / "slot-b", tmp_path / "state.json")
    assert slots.load_state(tmp_path / "state.json").b.state == slots.INVALID


def test_too_small_is_refused_before_anything_changes(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    device, state = tmp_path / "slot-b", tmp_path / "state.json"
    device.write_bytes(b"previous")
    monkeypatch.setattr(slots, "capacity", lambda path: 1000)
    with pytest.raises(slots.SlotTooSmall, match="nothing was written"):
        write(device, state)
    assert device.read_bytes() == b"previous" and not state.exists()


def test_a_missing_device_is_refused_not_created(tmp_path: Path) -> None:
    device = tmp_path / "by-partlabel" / "llmos-root-b"
    with pytest.raises(slots.SlotRefused, match="does not exist; nothing was written"):
        slots.write_slot(slots.Slot("b", device), chunks(), size=len(IMAGE), sha256=SHA, version="2",
                         state_path=tmp_path / "state.json", progress=quiet)
    assert not device.exists() and not (tmp_path / "state.json").exists()


def test_capacity_of_files_is_open_ended(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x")
    assert slots.capacity(tmp_path / "f") is None
    assert slots.capacity(tmp_path / "missing") is None


def test_state_file_missing_or_damaged(tmp_path: Path) -> None:
    assert slots.load_state(tmp_path / "none.json") == slots.SlotState()
    (tmp_path / "bad.json").write_text("{not json")
    damaged = slots.load_state(tmp_path / "bad.json")
    assert damaged.a.state == slots.EMPTY and "unreadable state file" in damaged.problem


def test_last_result_is_kept_beside_the_slots(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    slots.mark_invalid(state, "a", "because")
    slots.record_result(state, "refused", None, None, "refused (arch): nope")
    loaded = slots.load_state(state)
    assert loaded.a.detail == "because" and loaded.last is not None and loaded.last.outcome == "refused"


def test_other_slot() -> None:
    assert slots.other("a") == "b" and slots.other("b") == "a"
    with pytest.raises(ValueError):
        slots.other("c")
