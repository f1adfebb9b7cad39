"""Kiosk appliance: a setting makes the image boot straight into one registry app, full screen with no
launcher, and an app that dies is brought back."""

from __future__ import annotations

from collections.abc import Callable

from waiting import wait_for as wait_until

from llmos.host.vm import VirtualMachine

from .guest import ipc
from .pace import scaled

TITLE = "Pomodoro Timer"


def kiosk_window(machine: VirtualMachine) -> dict | None:
    windows = [w for w in ipc(machine, "compositor", "windows") if w.get("title") == TITLE]
    return windows[0] if windows and windows[0]["pid"] else None


def test_kiosk_boots_into_its_app_and_restarts_it(boot: Callable[..., VirtualMachine]) -> None:
    setup = boot()
    app = next(entry for entry in ipc(setup, "kernel", "apps.list") if entry["title"] == TITLE)
    setup.run(["python3", "-c", "import sys; from llmos import config; "
               "config.save_user_setting('system', 'mode', 'kiosk'); "
               "config.save_user_setting('kiosk', 'app', sys.argv[1])", app["hash"]])
    setup.powerdown()
    assert setup.wait_exit(scaled(120)) == 0

    kiosk = boot(overlay=setup.overlay)
    first = wait_until(lambda: kiosk_window(kiosk), scaled(120), "the kiosk app's window")
    status = ipc(kiosk, "compositor", "status")
    assert first["fullscreen"] or (first["width"], first["height"]) == (status["width"], status["height"])
    assert status["mode"] == "kiosk"
    shell = ipc(kiosk, "compositor", "shell")
    assert shell["kiosk"] and shell["panel"] is None, shell  # no launcher, no welcome

    kiosk.run(["kill", "-9", str(first["pid"])])

    def relaunched() -> dict | None:
        window = kiosk_window(kiosk)
        return window if window and window["pid"] != first["pid"] else None

    second = wait_until(relaunched, scaled(90), "the kiosk app to come back after kill -9")
    assert second["pid"] != first["pid"]
    assert "restart" in kiosk.run(["llmos", "logs", "kernel", "-n", "500"]).stdout
