"""Scheduled updates against real servers: an HTTP server on 127.0.0.1 and `git daemon` serving real
signed bundles, installed into slot files and an ESP directory (the Machine of test_cli)."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kernel.registry.gitserver import bare, git_daemon, git_http

from llmos import ipc
from llmos.cli import main
from llmos.dailyspan import DailySpan
from llmos.update import bundle, download, gitfetch, loader, schedule, slots
from llmos.update.system import Layout

from .conftest import Parts, Vendor
from .served import Served
from .test_cli import Machine

WAIT_S = 30.0


def quiet(stage: str, done: int, total: int) -> None:
    pass


async def until(condition: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    """Wait for a condition, polling, at most `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        await asyncio.sleep(0.01)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    (tmp_path / "www").mkdir()
    server = Served(tmp_path / "www")
    yield server
    server.close()


@pytest.fixture
def machine(tmp_path: Path, vendor: Vendor) -> Machine:
    (tmp_path / "machine").mkdir()
    return Machine(tmp_path / "machine", vendor.public_path)


def layout_of(machine: Machine) -> Layout:
    return Layout(esp=machine.esp, slot_devices=(("a", machine.slot_a), ("b", machine.slot_b)),
                  slot_roots=(("a", "PARTUUID=aaaa"), ("b", "PARTUUID=bbbb")), active="a",
                  state_path=machine.state, public_key=machine.key, arch="x86_64", running_version="1",
                  base_options="console=ttyS0")


def entries(machine: Machine) -> list[str]:
    return sorted(p.name for p in (machine.esp / "loader/entries").iterdir())


def check(source: schedule.Source, machine: Machine, efivars: Path | None = None) -> schedule.Outcome:
    return schedule.check(source, layout_of(machine), progress=quiet,
                          efivars=efivars or machine.root / "no-efivars")


def leftovers(machine: Machine) -> list[Path]:
    return list(machine.state.parent.glob(f"{download.TEMP_PREFIX}*"))


# --- HTTP --------------------------------------------------------------------------------------------

def test_a_newer_bundle_over_http_is_installed_and_then_up_to_date(
        machine: Machine, served: Served, make: Callable[..., Path], parts: Parts) -> None:
    make("2").rename(served.directory / "llmos.bundle")
    source = schedule.Source(served.url("llmos.bundle"))
    outcome = check(source, machine)
    assert outcome.result == "installed" and outcome.version == "2", outcome
    assert machine.slot_b.read_bytes() == parts.rootfs.read_bytes()  # the inactive slot holds the new root
    assert "llmos-2+3.conf" in entries(machine)
    assert slots.load_state(machine.state).last.outcome == "installed"
    # Checked again before the reboot: version 2 waits on slot b, so nothing is installed twice.
    again = check(source, machine)
    assert again.result == "up-to-date" and not again.important, again
    assert "this machine has 2 (installed on slot b, it starts at the next boot)" in again.message
    assert entries(machine) == ["llmos-1.conf", "llmos-2+3.conf"]
    assert not leftovers(machine)


def test_a_bundle_that_is_not_newer_costs_only_its_head(machine: Machine, served: Served, vendor: Vendor,
                                                       parts: Parts, tmp_path: Path) -> None:
    big = tmp_path / "big-root.img"
    big.write_bytes(os.urandom(48 << 20))
    path = served.directory / "llmos.bundle"
    bundle.make_bundle(path, vendor.private, os_version="1", arch="x86_64", rootfs=big, kernel=parts.kernel,
                       initrd=parts.initrd)
    before = machine.snapshot()
    outcome = check(schedule.Source(served.url("llmos.bundle")), machine)
    assert outcome.result == "up-to-date", outcome
    assert "the bundle is version 1; this machine has 1 (running)" in outcome.message
    assert machine.snapshot() == before
    assert slots.load_state(machine.state).last is None  # "up to date" is not an update result
    [(_, sent)] = served.responses(1)
    assert sent < path.stat().st_size // 4, (sent, path.stat().st_size)
    assert not leftovers(machine)


def test_a_version_that_was_rolled_back_is_not_installed_again(machine: Machine, served: Served,
                                                                make: Callable[..., Path]) -> None:
    """An update that failed to boot three times is not retried: that would loop for ever."""
    make("2").rename(served.directory / "llmos.bundle")
    assert check(schedule.Source(served.url("llmos.bundle")), machine).result == "installed"
    esp = machine.esp / "loader/entries"
    (esp / "llmos-2+3.conf").rename(esp / "llmos-2+0-3.conf")  # three boots that never became good
    outcome = check(schedule.Source(served.url("llmos.bundle")), machine)
    assert outcome.result == "up-to-date", outcome
    assert "it failed to boot from slot b and was rolled back" in outcome.message
    make("3").rename(served.directory / "llmos.bundle")  # a newer one is
    assert check(schedule.Source(served.url("llmos.bundle")), machine).result == "installed"
    assert "llmos-3+3.conf" in entries(machine) and "llmos-2+0-3.conf" not in entries(machine)


def test_refusals_are_recorded_and_the_loop_goes_on_until_a_good_one_reboots(
        machine: Machine, served: Served, make: Callable[..., Path], vendor: Vendor, parts: Parts,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each outcome line swaps what the server holds: another key's bundle, garbage, a cut bundle, then
    a good one. The loop records each refusal, goes on, installs the good one and asks init (a real
    control socket) to reboot."""
    from llmos.update import keys

    stranger = keys.load_private(keys.generate(tmp_path / "stranger").private_path)
    served_path = served.directory / "llmos.bundle"
    good = make("2")
    cut = good.read_bytes()[:-9000]
    queue: list[Callable[[], object]] = [
        lambda: bundle.make_bundle(served_path, stranger, os_version="2", arch="x86_64", rootfs=parts.rootfs,
                                   kernel=parts.kernel, initrd=parts.initrd),
        lambda: served_path.write_bytes(b"<html>not a bundle</html>\n" * 100),
        lambda: served_path.write_bytes(cut),
        lambda: served_path.write_bytes(good.read_bytes()),
    ]
    queue.pop(0)()
    lines: list[str] = []
    recorded: list[str] = []

    def log(line: str) -> None:
        lines.append(line)
        if line.startswith("! update: http") and queue:
            recorded.append(slots.load_state(machine.state).last.message)
            queue.pop(0)()

    monkeypatch.setenv("LLMOS_RUN_DIR", str(tmp_path / "run"))
    reboots: list[dict[str, Any]] = []

    async def reboot(_connection: ipc.Connection, params: dict[str, Any]) -> Any:
        reboots.append(params)
        return {"ok": True}

    async def scenario() -> int:
        from llmos import paths

        init = ipc.Server({"reboot": reboot})
        await init.start(paths.socket_path("init"))
        try:
            return await schedule.run(schedule.Source(served.url("llmos.bundle")), lambda: layout_of(machine),
                                      every_s=0.0, first_s=0.0, reboot=True, log=log, progress=quiet,
                                      efivars=tmp_path / "no-efivars", checks=10)
        finally:
            await init.close()

    assert asyncio.run(asyncio.wait_for(scenario(), WAIT_S)) == 0
    outcomes = [line for line in lines if line.startswith("! update: ")]
    assert "(wrong-key)" in outcomes[0] and "(format)" in outcomes[1] and "(truncated)" in outcomes[2], lines
    assert "installed 2" in outcomes[3] and outcomes[4] == "! update: rebooting into 2", lines
    assert "(wrong-key)" in recorded[0] and "(format)" in recorded[1] and "(truncated)" in recorded[2]
    assert reboots == [{}]  # the loop returned after init took the reboot: no fifth check
    assert machine.slot_b.read_bytes() == parts.rootfs.read_bytes()
    assert slots.load_state(machine.state).last.outcome == "installed"


def test_an_installed_update_reboots_only_when_the_reboot_window_opens(
        machine: Machine, served: Served, make: Callable[..., Path], tmp_path: Path) -> None:
    """The window opens 1.5 s after the clock the loop is given: the update is installed at once, the
    reboot waits, says until when, and then happens."""
    make("2").rename(served.directory / "llmos.bundle")
    clock = dt.datetime(2026, 12, 2, 3, 59, 58, 500_000)
    lines: list[str] = []
    asked: list[float] = []

    async def reboot() -> None:
        asked.append(time.monotonic())

    async def scenario() -> tuple[int, float]:
        started = time.monotonic()
        status = await schedule.run(schedule.Source(served.url("llmos.bundle")), lambda: layout_of(machine),
                                    every_s=0.0, first_s=0.0, reboot=True, log=lines.append, progress=quiet,
                                    efivars=tmp_path / "no-efivars", reboot_now=reboot, checks=1,
                                    window=DailySpan.parse("04:00-05:00"), now=lambda: clock)
        return status, started

    status, started = asyncio.run(asyncio.wait_for(scenario(), WAIT_S))
    assert status == 0 and len(asked) == 1 and asked[0] - started >= 1.4
    assert "! update: 2 is installed; rebooting at 04:00, when the reboot window 04:00-05:00 opens" in lines
    assert lines[-1] == "! update: rebooting into 2"
    assert "llmos-2+3.conf" in entries(machine)


def efi_string(efivars: Path, name: str, value: str) -> None:
    efivars.mkdir(exist_ok=True)
    (efivars / f"{name}-{loader.LOADER_GUID}").write_bytes(b"\x06\0\0\0" + (value + "\0").encode("utf-16-le"))


def test_the_loop_never_checks_while_the_boot_is_on_trial(machine: Machine, served: Served,
                                                          make: Callable[..., Path], tmp_path: Path) -> None:
    """A boot on trial (systemd-boot counted its entry and PID 1 has not blessed it) is not updated:
    the loop looks again until the entry is blessed, then checks."""
    make("2").rename(served.directory / "llmos.bundle")
    entries_dir = machine.esp / "loader/entries"
    (entries_dir / "llmos-1.conf").rename(entries_dir / "llmos-1+2-1.conf")
    efivars = tmp_path / "efivars"
    efi_string(efivars, "LoaderBootCountPath", "\\loader\\entries\\llmos-1+2-1.conf")
    lines: list[str] = []
    looked = 0

    def layout() -> Layout:
        nonlocal looked
        looked += 1
        return layout_of(machine)

    async def scenario() -> int:
        task = asyncio.create_task(schedule.run(
            schedule.Source(served.url("llmos.bundle")), layout, every_s=3600.0, first_s=0.0, reboot=False,
            log=lines.append, progress=quiet, efivars=efivars, trial_poll_s=0.01, checks=1))
        await until(lambda: looked >= 5 or task.done(), "the loop looked at the trial five times")
        assert not task.done(), lines
        assert served.requests == [] and [line for line in lines if "trial" in line] == [
            "! update: this boot is on trial (loader/entries/llmos-1+2-1.conf); updates wait until it is "
            "declared good"]
        loader.bless(machine.esp, "llmos-1+2-1.conf")  # what PID 1 does once every service is ready
        return await asyncio.wait_for(task, WAIT_S)

    assert asyncio.run(scenario()) == 0
    assert any(line.startswith("! update: installed 2") for line in lines), lines
    assert len(served.responses(1)) == 1 and "llmos-2+3.conf" in entries(machine)


def test_an_unreadable_esp_counts_as_on_trial(tmp_path: Path) -> None:
    efivars = tmp_path / "efivars"
    efi_string(efivars, "LoaderBootCountPath", "\\loader\\entries\\llmos-2+2-1.conf")
    assert schedule.on_trial(tmp_path / "not-mounted", efivars) == "loader/entries/llmos-2+2-1.conf"
    assert schedule.on_trial(tmp_path / "not-mounted", tmp_path / "no-efivars") is None


def test_a_server_that_cannot_be_reached_is_tried_again(machine: Machine, served: Served) -> None:
    missing = check(schedule.Source(served.url("missing.bundle")), machine)
    assert missing.result == "unreachable" and "HTTP 404" in missing.message, missing
    served.close()
    gone = check(schedule.Source(served.url("llmos.bundle")), machine)
    assert gone.result == "unreachable" and "ConnectError" in gone.message, gone
    assert slots.load_state(machine.state).last is None and not leftovers(machine)


# --- git ---------------------------------------------------------------------------------------------

def git(directory: Path, *argv: str) -> str:
    return subprocess.run(["git", "-C", str(directory), "-c", "user.email=ci@llmos", "-c", "user.name=ci",
                           *argv], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(git://127.0.0.1:PORT/bundles.git, a work tree that publishes to it with publish())."""
    bare(tmp_path / "git" / "bundles.git")
    work = tmp_path / "work"
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    (work / "README").write_text("update bundles for the kiosks\n")
    with git_daemon(tmp_path / "git") as base:
        yield f"{base}/bundles.git", work


def publish(work: Path, files: dict[str, bytes], tag: str | None = None) -> str:
    for name, data in files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_bytes(data)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "publish")
    if tag:
        git(work, "tag", "-a", tag, "-m", tag)
    git(work, "push", "-q", "--tags", str(work.parent / "git" / "bundles.git"), "main")
    return git(work, "rev-parse", "HEAD").strip()


def test_a_bundle_in_a_git_remote_is_installed_once_and_a_newer_commit_again(
        machine: Machine, remote: tuple[str, Path], make: Callable[..., Path], parts: Parts) -> None:
    url, work = remote
    publish(work, {"kiosk/llmos.bundle": make("2").read_bytes()})
    source = schedule.Source(url, "kiosk/llmos.bundle", "main")
    outcome = check(source, machine)
    assert outcome.result == "installed" and outcome.version == "2", outcome
    assert machine.slot_b.read_bytes() == parts.rootfs.read_bytes()
    assert "llmos-2+3.conf" in entries(machine)
    unchanged = check(source, machine)  # the same tip: judged before, nothing fetched
    assert unchanged.result == "up-to-date" and "is unchanged" in unchanged.message, unchanged
    publish(work, {"README": b"a new readme, the same bundle\n"})
    moved = check(source, machine)  # a new tip: fetched, and its bundle is still 2
    assert moved.result == "up-to-date" and "the bundle is version 2" in moved.message, moved
    publish(work, {"kiosk/llmos.bundle": make("3").read_bytes()}, tag="v3")
    newer = check(schedule.Source(url, "kiosk/llmos.bundle", "v3"), machine)  # by its tag
    assert newer.result == "installed" and newer.version == "3", newer
    assert entries(machine) == ["llmos-1.conf", "llmos-3+3.conf"]
    assert not leftovers(machine)


def test_a_git_remote_over_smart_http(machine: Machine, remote: tuple[str, Path], make: Callable[..., Path],
                                      parts: Parts, tmp_path: Path) -> None:
    _, work = remote
    publish(work, {"llmos.bundle": make("2").read_bytes()})
    with git_http(tmp_path / "git") as base:
        outcome = check(schedule.Source(f"{base}/bundles.git", "llmos.bundle"), machine)
    assert outcome.result == "installed" and outcome.version == "2", outcome
    assert machine.slot_b.read_bytes() == parts.rootfs.read_bytes()


def test_a_garbled_bundle_or_a_wrong_path_in_git_is_reported(machine: Machine,
                                                             remote: tuple[str, Path]) -> None:
    url, work = remote
    publish(work, {"kiosk/llmos.bundle": b"garbled " * 5000})
    before = machine.snapshot()
    garbled = check(schedule.Source(url, "kiosk/llmos.bundle"), machine)
    assert garbled.result == "refused" and "(format)" in garbled.message, garbled
    assert slots.load_state(machine.state).last.outcome == "refused"
    again = check(schedule.Source(url, "kiosk/llmos.bundle"), machine)  # tried again, not remembered
    assert again.result == "refused", again
    missing = check(schedule.Source(url, "kiosk/other.bundle"), machine)
    assert missing.result == "unreachable" and "no kiosk/other.bundle in the commit" in missing.message
    no_ref = check(schedule.Source(url, "kiosk/llmos.bundle", "stable"), machine)
    assert no_ref.result == "unreachable" and "no ref 'stable'" in no_ref.message, no_ref
    assert machine.snapshot() == before and not leftovers(machine)


def test_the_pack_reader_names_every_object_and_rebuilds_deltas(tmp_path: Path) -> None:
    """A pack written by git itself, with offset deltas: every object gets git's own SHA-1, and a file
    stored as a delta reads back whole."""
    work = tmp_path / "work"
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    base = os.urandom(200_000)
    publish_files = {"a.bin": base, "b.bin": base + b"tail", "dir/sub/c.txt": b"c\n" * 100}
    for name, data in publish_files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_bytes(data)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "one")
    objects = git(work, "rev-list", "--objects", "--all")
    pack = subprocess.run(["git", "-C", str(work), "pack-objects", "--stdout", "--delta-base-offset"],
                          input=objects.encode(), check=True, capture_output=True).stdout
    (tmp_path / "p.pack").write_bytes(pack)
    expected = {line.split()[0] for line in objects.splitlines()}
    with open(tmp_path / "p.pack", "rb") as file:
        reader = gitfetch.Pack(file, "test")
        assert set(reader.by_sha) == expected
        assert any(e.kind == gitfetch.OFS_DELTA for e in reader.by_offset.values())  # deltas were exercised
        head = git(work, "rev-parse", "HEAD").strip()
        for name, data in publish_files.items():
            path = reader.extract(reader.find(head, name), tmp_path, quiet)
            assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(data).digest(), name
            path.unlink()


# --- the service and the command ---------------------------------------------------------------------

def test_stale_downloads_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    """A power cut leaves a gigabyte download behind; the next download removes it."""
    this_boot = download.boot_id()
    fd, live = download.temp_file(tmp_path, ".download")
    os.close(fd)
    other_boot = tmp_path / f"{download.TEMP_PREFIX}{'0' * 31}1-{os.getpid()}-x.download"
    dead = subprocess.run(["true"], check=True)  # a pid that has exited
    gone = tmp_path / f"{download.TEMP_PREFIX}{this_boot}-999999999-x.pack"
    old_style = tmp_path / f"{download.TEMP_PREFIX}abc.download"
    unrelated = tmp_path / "state.json"
    for path in (other_boot, gone, old_style, unrelated):
        path.write_bytes(b"x")
    assert dead.returncode == 0
    assert sorted(download.remove_stale(tmp_path)) == sorted([other_boot, gone, old_style])
    assert live.exists() and unrelated.exists()


def test_a_bad_setting_stops_the_service_for_good() -> None:
    with pytest.raises(ValueError, match="expected the http"):
        schedule.source_of("git://example.com/bundles.git")  # a git remote needs path
    with pytest.raises(ValueError, match="a git remote is reached over"):
        schedule.source_of("ftp://example.com/x", "llmos.bundle")
    run = subprocess.run([sys.executable, "-m", "llmos.update.schedule"],
                         env={**os.environ, "LLMOS_CONFIG": "/nonexistent/llmos.toml",
                              "LLMOS_STATE_DIR": "/nonexistent"}, capture_output=True, text=True, timeout=60)
    assert run.returncode == schedule.EXIT_DO_NOT_RESTART, run
    assert "! update: [update] url ''" in run.stdout and "scheduled updates are off" in run.stdout


def test_the_check_command(machine: Machine, served: Served, make: Callable[..., Path], tmp_path: Path,
                           monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    make("2").rename(served.directory / "llmos.bundle")
    config = tmp_path / "llmos.toml"
    config.write_text(f'[update]\nurl = "{served.url("llmos.bundle")}"\n')
    monkeypatch.setenv("LLMOS_CONFIG", str(config))
    monkeypatch.setenv("LLMOS_STATE_DIR", str(tmp_path / "state"))
    args = ["--efivars", str(tmp_path / "no-efivars"), *machine.args()]
    assert main(["update", "check", *args]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"update: installed 2 from {served.url('llmos.bundle')} on slot b") and \
        "starts at the next boot" in out, out
    assert main(["update", "check", *args]) == 0
    assert capsys.readouterr().out.startswith("update: up to date")
    assert main(["update", "check", "--url", served.url("missing.bundle"), *args]) == 1
    assert "HTTP 404" in capsys.readouterr().out
    config.write_text("")
    assert main(["update", "check", *args]) == 1
    assert "no source: set [update] url" in capsys.readouterr().err
