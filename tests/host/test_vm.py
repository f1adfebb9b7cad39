"""Choosing QEMU's accelerator (host/vm.py): KVM only where a Linux kernel really boots under it. On these
machines /dev/kvm opens and firmware runs, but a kernel hangs after its real-mode setup, so a probe that
trusted the firmware sent every VM test into a silent hang."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmos.host import vm


@pytest.fixture(autouse=True)
def fresh_probe(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("LLMOS_ACCEL", raising=False)
    vm.kvm_works.cache_clear()
    yield
    vm.kvm_works.cache_clear()


def test_the_environment_decides_when_it_says(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LLMOS_ACCEL", "tcg")
    assert vm.kvm_works(tmp_path / "any") is False
    vm.kvm_works.cache_clear()
    monkeypatch.setenv("LLMOS_ACCEL", "kvm")
    assert vm.kvm_works(tmp_path / "any") is True


@pytest.mark.skipif(not os.access("/dev/kvm", os.R_OK | os.W_OK),
                    reason="no /dev/kvm: the probe says no at once")
def test_a_kernel_that_prints_no_banner_means_no_kvm(tmp_path: Path) -> None:
    fake = tmp_path / "vmlinuz"
    fake.write_bytes(b"\0" * 4096)  # QEMU refuses it: the guest never prints "Linux version"
    assert vm.kvm_works(fake) is False


def test_without_dev_kvm_or_a_kernel_it_is_tcg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vm, "_probe_kernel", lambda: None)
    assert vm.kvm_works() is False
