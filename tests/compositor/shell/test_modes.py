"""Start-up order, reconnection, first boot at 1024x768, and kiosk mode (no launcher, no dock)."""

from __future__ import annotations

import pytest

from .harness import KEY_ENTER, KEY_LEFTMETA, Desktop, region_share, wait_for, white

pytestmark = pytest.mark.timeout(120)


def test_launcher_says_starting_until_the_kernel_comes_and_reconnects(tmp_path) -> None:
    desktop = Desktop(tmp_path)
    try:
        desktop.log.wait("llmos: shell launcher visible")
        state = desktop.shell()
        assert state["panel"] == "launcher" and not state["connected"], "the kernel starts after us"
        panel = state["panel_rect"]
        image = desktop.screenshot()
        inside = (panel["x"] + 30, panel["y"] + 10, panel["w"] - 60, panel["h"] - 20)
        assert region_share(image, inside, white) > 0.5
        desktop.type("notes")
        assert desktop.shell()["prompt"] == "notes", "typing works before the kernel is up"
        desktop.start_kernel()
        wait_for(lambda: desktop.shell()["suggestions"] == ["Notes"], what="suggestions once connected")
        desktop.stop_kernel()
        wait_for(lambda: not desktop.shell()["connected"], what="the shell to notice the kernel went away")
        desktop.keys(KEY_ENTER)
        assert desktop.shell()["flow"] is None, "no flow starts without a kernel"
        desktop.start_kernel()  # start_kernel waits for the shell to reconnect (backoff <= 5 s)
        assert desktop.compositor.poll() is None
    finally:
        desktop.close()


def test_first_boot_welcome_fits_1024x768(tmp_path) -> None:
    desktop = Desktop(tmp_path, size=(1024, 768), first_boot=True)
    try:
        desktop.start_kernel()
        desktop.log.wait("llmos: shell welcome visible")
        assert desktop.log.count("!llmos: shell visible t=") == 1, "the boot marker, once"
        state = desktop.shell()
        assert state["panel"] == "welcome" and state["backdrop"]
        panel = state["panel_rect"]
        assert panel["x"] >= 0 and panel["y"] >= 0 and panel["x"] + panel["w"] <= 1024
        assert panel["y"] + panel["h"] <= 768
        image = desktop.screenshot()
        assert region_share(image, (412, 300, 200, 80), white) > 0.5, "the welcome card is in the centre"
        mark = desktop.log.mark()
        desktop.keys(KEY_ENTER)
        desktop.log.wait("llmos: shell launcher visible", mark)
        panel = desktop.shell()["panel_rect"]
        assert panel["x"] + panel["w"] <= 1024 and panel["w"] >= 600
    finally:
        desktop.close()


def test_kiosk_mode_has_no_launcher_and_no_dock(tmp_path) -> None:
    desktop = Desktop(tmp_path, mode="kiosk")
    try:
        desktop.start_kernel()
        desktop.call("inject", events=[{"type": 1, "code": KEY_LEFTMETA, "value": 1},
                                       {"type": 1, "code": KEY_LEFTMETA, "value": 0}])
        state = desktop.shell()
        assert state["kiosk"] and state["panel"] is None and state["dock_rect"] is None
        assert not state["keyboard"], "the launcher key does nothing in kiosk mode"
        desktop.kcall("apps.run", ref="a1a1")
        window = wait_for(lambda: desktop.call("windows"), what="the kiosk app's window")[0]
        assert window["fullscreen"] and (window["width"], window["height"]) == (1280, 800)
        assert desktop.log.count("shell launcher visible") == 0
        desktop.call("notify", text="Toasts still show in kiosk mode", timeout_ms=2000)
        assert desktop.shell()["toasts"] == ["Toasts still show in kiosk mode"]
    finally:
        desktop.close()
