"""Fixtures that boot the real image in QEMU (TCG here, KVM where it works) and drive it over QMP.

`machine` is one booted VM shared by the read-only checks of a test session, so each TCG boot (~30 s) is
paid once; tests that power off, reboot or change the disk boot a VM of their own with `boot()`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from llmos.host import image
from llmos.host.vm import BuiltImage, VirtualMachine

BOOT_TIMEOUT = 240.0  # TCG on 2 busy cores; KVM boots in a few seconds


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/vm/" in str(item.fspath):
            item.add_marker(pytest.mark.vm)


@pytest.fixture(scope="session")
def built_image() -> BuiltImage:
    image.ensure_built("qemu")
    return BuiltImage.find("qemu", Path(image.REPO) / "build" / "images" / "qemu")


@pytest.fixture(scope="session")
def boot(built_image: BuiltImage,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., VirtualMachine]]:
    """Boot a VM to `llmos: ready` with its guest agent answering; all are killed at session end."""
    machines: list[VirtualMachine] = []

    def start(wait_ready: bool = True, **options: object) -> VirtualMachine:
        options.setdefault("image", built_image)
        options.setdefault("workdir", tmp_path_factory.mktemp("vm"))
        machine = VirtualMachine(**options)  # type: ignore[arg-type]
        machines.append(machine)
        machine.start()
        if wait_ready:
            machine.wait_for(r"llmos: ready", BOOT_TIMEOUT)
            machine.wait_agent(60)
        return machine

    yield start
    for machine in machines:
        machine.close()


@pytest.fixture(scope="session")
def machine(boot: Callable[..., VirtualMachine]) -> VirtualMachine:
    return boot()
