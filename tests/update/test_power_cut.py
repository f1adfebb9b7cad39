"""A power cut while the inactive slot is written (issue 18, test 5; tests/vm/test_update.py cuts a real
one): by the time the first byte reaches the slot, what is already on disk keeps the slot off the boot
menu, so the machine boots the active slot and a later apply succeeds."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from llmos.update import apply, loader, slots, status

from .conftest import Parts, Vendor
from .test_cli import Machine
from .test_schedule import layout_of, quiet


class PowerCut(BaseException):
    """The machine stops here: no handler runs after it, unlike an error (which marks the slot invalid)."""


def test_a_cut_write_leaves_the_slot_unbootable_and_a_later_apply_succeeds(
        tmp_path: Path, vendor: Vendor, parts: Parts, make: Callable[..., Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "machine").mkdir()
    machine = Machine(tmp_path / "machine", vendor.public_path)
    layout = layout_of(machine)
    apply.apply(make("2"), layout, progress=quiet)  # slot b holds 2 and has a boot entry
    assert loader.find(machine.esp, "llmos-2.conf") is not None
    parts.rootfs.write_bytes(os.urandom(300_000))
    seen: list[tuple[str, list[str]]] = []
    write = slots._device_write

    def cut_after_the_first_chunk(fd: int, data: memoryview) -> int:
        if seen:
            raise PowerCut
        # What a power cut at this instant would leave: the durable state file and entries.
        seen.append((slots.load_state(machine.state).slot("b").state,
                     sorted(e.path.name for e in loader.entries(machine.esp))))
        return write(fd, data[:1000])

    monkeypatch.setattr(slots, "_device_write", cut_after_the_first_chunk)
    with pytest.raises(PowerCut):
        apply.apply(make("3"), layout, progress=quiet)
    assert seen == [(slots.WRITING, ["llmos-1.conf"])]  # slot b's entry went before its first byte
    report = status.gather(machine.esp, machine.state, "a", booted_entry="llmos-1.conf")
    slot_b = next(view for view in report.slots if view.name == "b")
    assert slot_b.condition == "incomplete" and report.next_boot == "llmos-1.conf", report
    monkeypatch.setattr(slots, "_device_write", write)
    result = apply.apply(make("3"), layout, progress=quiet)  # the next apply rewrites the slot
    assert result.entry.path.name == "llmos-3+3.conf"
    assert machine.slot_b.read_bytes() == parts.rootfs.read_bytes()
    assert slots.load_state(machine.state).slot("b").state == slots.INSTALLED
