"""`llmos vm` tells a user without KVM what emulation costs before the long wait starts."""

from __future__ import annotations

import argparse
from pathlib import Path
from types import SimpleNamespace

import pytest

from llmos.host import cli, vm


@pytest.mark.parametrize("accel", ["tcg", "kvm"])
def test_vm_says_when_the_cpu_is_emulated(accel: str, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    class Machine:
        def __init__(self, *_args: object, **_options: object) -> None:
            self.accel = accel

        def start(self) -> None:
            pass

        def wait_exit(self, timeout: float | None) -> int:
            return 0

        def close(self) -> None:
            pass

    monkeypatch.setattr(vm, "VirtualMachine", Machine)
    monkeypatch.setattr(vm.BuiltImage, "find", staticmethod(lambda variant: SimpleNamespace(disk=Path("x"))))
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    args = argparse.Namespace(build=False, variant="qemu", headless=True, uefi=False, memory=2048)
    assert cli._vm(args) == 0
    said = capsys.readouterr().err
    assert f"llmos vm: {accel.upper()} direct kernel boot" in said
    assert ("no usable KVM" in said) == (accel == "tcg")
