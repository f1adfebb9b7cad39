"""Kiosk mode: the kernel runs [kiosk] app at start, full screen through the compositor's kiosk
window manager, and relaunches it after it is killed. An unknown app is reported, not fatal."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import pytest

from llmos.kernel.registry import code_hash
from llmos.kernel.starter import STARTERS

from .harness import HEIGHT, WIDTH, make_system, remove, wait_for

pytestmark = pytest.mark.timeout(120)
POMODORO = code_hash(next(s for s in STARTERS if s.name == "pomodoro").code)


def kiosk_config(app: str) -> str:
    return f'[system]\nmode = "kiosk"\n[kiosk]\napp = "{app}"\n'


def test_kiosk_app_runs_fullscreen_and_is_relaunched_after_kill(wasm_cache: Path) -> None:
    system = make_system(kiosk_config("sha256:" + "0" * 64), wasm_cache=wasm_cache)
    try:
        system.start_compositor()
        system.start_kernel()
        status = system.call("status")
        assert status["mode"] == "kiosk" and status["apps_running"] == 0
        assert "cannot be run" in status["kiosk"]["problem"] and "no app" in status["kiosk"]["problem"]
        assert "kiosk app 'sha256:000" in (system.root / "kernel.log").read_text()
        assert system.stop_kernel() == 0

        system.config.write_text(system.config.read_text().replace("sha256:" + "0" * 64, POMODORO))
        system.start_kernel()
        first = wait_for(lambda: system.call("apps.running"), what="the kiosk app to start")
        assert [a["hash"] for a in first] == [POMODORO]
        assert system.call("status")["first_boot"] is False
        window = wait_for(lambda: next((w for w in system.windows() if w["pid"] == first[0]["pid"]), None),
                          what="the kiosk window")
        assert window["fullscreen"] and (window["width"], window["height"]) == (WIDTH, HEIGHT)
        assert window["title"] == "Pomodoro Timer"

        os.kill(first[0]["pid"], signal.SIGKILL)

        def relaunched() -> list:
            running = system.call("apps.running")
            return [a for a in running if a["pid"] != first[0]["pid"]]
        again = wait_for(relaunched, what="the kiosk app to be relaunched")
        assert again[0]["hash"] == POMODORO
        assert system.call("status")["kiosk"]["restarts"] >= 1
        wait_for(lambda: any(w["pid"] == again[0]["pid"] for w in system.windows()), what="the new window")
        assert "restart 1 in" in (system.root / "kernel.log").read_text()
        assert system.stop_kernel() == 0
        with contextlib.suppress(ProcessLookupError):
            os.kill(again[0]["pid"], 0)
            pytest.fail("the kiosk app outlived the kernel's shutdown")
    finally:
        remove(system)
