"""Boot assessment: a boot on trial is blessed once every service is ready, rebooted when it is not
ready in time, and a rollback is reported; without systemd-boot nothing happens."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from llmos.init import assess
from llmos.init.supervisor import State
from llmos.update import loader

GUID = loader.LOADER_GUID


def efivars_of(tmp_path: Path, **values: str) -> Path:
    """An efivarfs-like directory of a systemd-boot boot from our ESP, with these loader variables."""
    efivars = tmp_path / "efivars"
    efivars.mkdir()
    values = {"LoaderDevicePartUUID": "e38dfcc0-b3ee-4121-b4fa-a1b90c25ff35", **values}
    for name, value in values.items():
        (efivars / f"{name}-{GUID}").write_bytes(b"\x06\x00\x00\x00" + (value + "\0").encode("utf-16-le"))
    return efivars


class FakeRunner:
    def __init__(self, name: str, state: State) -> None:
        self.name, self.state = name, state


class FakeSupervisor:
    """What assess() uses of the supervisor: runners, a log, wait_for and request_shutdown."""

    def __init__(self, states: dict[str, State]) -> None:
        self.started = True
        self.runners = {name: FakeRunner(name, state) for name, state in states.items()}
        self.lines: list[str] = []
        self.shutdown: str | None = None

    def log(self, text: str) -> None:
        self.lines.append(text)

    async def wait_for(self, predicate, timeout: float) -> bool:
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            if asyncio.get_running_loop().time() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    def request_shutdown(self, kind: str) -> None:
        self.shutdown = kind


@pytest.fixture
def esp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    esp = tmp_path / "esp"
    (esp / "loader" / "entries").mkdir(parents=True)
    monkeypatch.setattr(assess, "mount_esp", lambda log: esp)
    return esp


def entry(esp: Path, filename: str, slot: str, version: int) -> None:
    (esp / "loader" / "entries" / filename).write_text(
        f"# llmos.slot={slot}\ntitle t\nsort-key llmos\nversion {version}\nlinux /llmos/{slot}/vmlinuz\n"
        f"options llmos.slot={slot}\n")


def test_a_good_boot_on_trial_is_blessed(esp: Path, tmp_path: Path) -> None:
    efivars = efivars_of(tmp_path, LoaderBootCountPath=r"\loader\entries\llmos-2+2-1.conf")
    entry(esp, "llmos-1.conf", "a", 1)
    entry(esp, "llmos-2+2-1.conf", "b", 2)
    supervisor = FakeSupervisor({"hal": State.READY, "kernel": State.STARTING, "off": State.DISABLED})

    async def scenario() -> None:
        task = asyncio.create_task(assess.assess(supervisor, 10, efivars))  # type: ignore[arg-type]
        await asyncio.sleep(0.05)
        assert not task.done()  # the kernel is not ready yet: no blessing
        supervisor.runners["kernel"].state = State.READY
        await asyncio.wait_for(task, 5)
    asyncio.run(scenario())
    assert sorted(p.name for p in (esp / "loader" / "entries").iterdir()) == ["llmos-1.conf", "llmos-2.conf"]
    assert supervisor.shutdown is None and "entry blessed (llmos-2.conf)" in supervisor.lines[-1]


def test_a_boot_on_trial_that_never_gets_good_reboots(esp: Path, tmp_path: Path) -> None:
    efivars = efivars_of(tmp_path, LoaderBootCountPath=r"\loader\entries\llmos-2+1-2.conf")
    entry(esp, "llmos-2+1-2.conf", "b", 2)
    supervisor = FakeSupervisor({"kernel": State.FAILED})
    asyncio.run(assess.assess(supervisor, 0.1, efivars))  # type: ignore[arg-type]
    assert supervisor.shutdown == "reboot" and "not ready: kernel" in supervisor.lines[-1]
    assert (esp / "loader" / "entries" / "llmos-2+1-2.conf").exists()  # not blessed


def test_after_the_last_try_the_rollback_is_reported(esp: Path, tmp_path: Path) -> None:
    efivars = efivars_of(tmp_path, LoaderEntrySelected="llmos-1.conf")
    entry(esp, "llmos-1.conf", "a", 1)
    entry(esp, "llmos-2+0-3.conf", "b", 2)
    supervisor = FakeSupervisor({"kernel": State.READY})
    asyncio.run(assess.assess(supervisor, 5, efivars))  # type: ignore[arg-type]
    assert supervisor.shutdown is None
    assert any("slot b" in line for line in supervisor.lines), supervisor.lines


def test_without_systemd_boot_nothing_is_touched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(assess, "mount_esp", lambda log: pytest.fail("no ESP to mount"))
    supervisor = FakeSupervisor({"kernel": State.FAILED})
    asyncio.run(assess.assess(supervisor, 0.1, tmp_path))  # type: ignore[arg-type]
    assert supervisor.lines == [] and supervisor.shutdown is None
