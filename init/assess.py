"""Boot assessment for A/B updates (docs/update.md): PID 1 calls a boot good once every enabled
service is ready (the kernel's readiness check is its health call), and then blesses the boot entry:
systemd-boot's try counter is removed from its file name, so the loader keeps booting it.

A boot on trial that is not good in time reboots, using up one try; after the last, systemd-boot
starts the previous entry, and `llmos update status` reports the rollback. A boot that is not on trial
(the factory entry, a blessed one, or no UEFI at all) needs nothing. Nothing here may end PID 1: every
failure is a logged line.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from llmos import ipc, paths
from llmos.init import mounts
from llmos.init.esp import EFIVARS, mount_esp
from llmos.init.supervisor import State, Supervisor
from llmos.update import loader

GOOD = {State.READY, State.DONE, State.DISABLED}
TOAST_MS = 120_000  # a rollback stays on screen for two minutes


def boot_is_good(supervisor: Supervisor) -> bool:
    return supervisor.started and all(runner.state in GOOD for runner in supervisor.runners.values())


async def assess(supervisor: Supervisor, good_within_s: float, efivars: Path = EFIVARS) -> None:
    """Mount the ESP of a systemd-boot boot; bless a boot on trial once it is good, or reboot it if it
    is not good in time; report a rollback."""
    log = supervisor.log
    with contextlib.suppress(OSError):  # stage 1 mounted it and /sys moved along; make sure
        if efivars.is_dir() and not any(efivars.iterdir()):
            mounts.mount("efivarfs", str(efivars), "efivarfs",
                         mounts.MS_NOSUID | mounts.MS_NODEV | mounts.MS_NOEXEC)
    if loader.read_efi_string(efivars, "LoaderDevicePartUUID") is None:
        return  # not started by systemd-boot (QEMU's direct kernel boot, a container): no entries here
    esp = mount_esp(log)
    counted = loader.boot_count_path(efivars)
    if not counted:
        if esp is not None and (rollback := loader.rolled_back(esp, loader.selected_entry(efivars))):
            log(f"init: {rollback.message}")
            await tell_the_shell(supervisor, "Update rolled back", rollback.message)
        return
    log(f"init: boot on trial ({counted}): good when every service is ready, within {good_within_s:.0f} s")
    if not await supervisor.wait_for(lambda: boot_is_good(supervisor), good_within_s):
        waiting = sorted(r.name for r in supervisor.runners.values() if r.state not in GOOD)
        log(f"init: boot not good within {good_within_s:.0f} s (not ready: {', '.join(waiting)}); "
            "rebooting to use up this try")
        supervisor.request_shutdown("reboot")
        return
    if esp is None:
        return
    try:
        blessed = loader.bless(esp, counted)
    except (OSError, loader.LoaderError) as error:
        log(f"init: boot good, but the entry could not be blessed: {error}")
        return
    log(f"init: boot good: entry blessed ({blessed.name})")


async def tell_the_shell(supervisor: Supervisor, title: str, text: str, within_s: float = 600.0) -> None:
    """A toast on the screen once the compositor is up: an appliance's user sees what happened."""
    compositor = supervisor.runners.get("compositor")
    if compositor is None or not await supervisor.wait_for(lambda: compositor.state == State.READY, within_s):
        return
    with contextlib.suppress(OSError, ipc.RpcError, TimeoutError):
        client = await ipc.Client.connect(paths.socket_path("compositor"))
        try:
            await client.call("notify", timeout=10.0, title=title, text=text, timeout_ms=TOAST_MS)
        finally:
            await client.close()


async def run(supervisor: Supervisor, good_within_s: float) -> None:
    """assess(), with any failure a logged line: PID 1 never dies of it."""
    try:
        await assess(supervisor, good_within_s)
    except Exception as error:  # PID 1 must survive whatever the ESP or the firmware hold
        supervisor.log(f"init: boot assessment failed: {type(error).__name__}: {error}")


__all__ = ["assess", "boot_is_good", "run"]
