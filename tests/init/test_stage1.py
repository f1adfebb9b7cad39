"""Stage 1 picks the root slot the boot entry names, so an A/B update boots what it wrote."""

from __future__ import annotations

import uuid

from llmos.init.stage1 import ROOT_TYPE, Partition, choose_root

A = Partition("vda", 2, ROOT_TYPE, uuid.uuid4(), "llmos-root-a")
B = Partition("vda", 3, ROOT_TYPE, uuid.uuid4(), "llmos-root-b")
OLD = Partition("vda", 2, ROOT_TYPE, uuid.uuid4(), "llmos-root")


def test_the_entry_names_the_slot_by_partuuid_or_by_slot() -> None:
    assert choose_root([A, B], ["quiet", f"root=PARTUUID={B.part_uuid}", "llmos.slot=a"]) is B
    assert choose_root([A, B], [f"root=PARTUUID={str(A.part_uuid).upper()}"]) is A
    assert choose_root([A, B], ["llmos.slot=b"]) is B


def test_without_a_named_slot_slot_a_boots_and_an_old_layout_still_boots() -> None:
    assert choose_root([B, A], ["console=ttyS0"]) is A  # the direct kernel boot of tests and `llmos vm`
    assert choose_root([B, A], ["root=PARTUUID=not-a-uuid", "llmos.slot=c"]) is A
    assert choose_root([OLD], ["llmos.slot=b"]) is OLD
