"""Input classification and the evdev event pipeline, on recorded streams (no /dev/input or
/dev/uinput on this host: see recorded.py), through hal's real socket to a real subscriber."""

from __future__ import annotations

import asyncio
import errno
import os
from collections.abc import Iterator

import pytest
from evdev import ecodes as e

from llmos import config as llmos_config
from llmos import ipc
from llmos.hal import classify as c
from llmos.hal.input import InputManager, RecordedDevice
from llmos.hal.keymap import compile_keymap
from llmos.hal.service import Hal

from . import recorded


@pytest.mark.parametrize(("caps", "props", "kinds"), [
    (recorded.KEYBOARD, [], [c.KEYBOARD, c.POWER_BUTTON]),  # QEMU's AT keyboard has KEY_POWER (116)
    (recorded.TABLET_ABS, [], [c.ABSOLUTE]),
    (recorded.MOUSE, [e.INPUT_PROP_POINTER], [c.POINTER]),
    (recorded.TOUCHSCREEN, [e.INPUT_PROP_DIRECT], [c.TOUCHSCREEN]),
    (recorded.TOUCHPAD, [e.INPUT_PROP_POINTER], [c.TOUCHPAD]),
    (recorded.PEN, [e.INPUT_PROP_DIRECT], [c.TABLET]),
    (recorded.POWER, [], [c.POWER_BUTTON]),
    (recorded.MEDIA_KEYS, [], [c.KEYS]),
    ({e.EV_SYN: [0], e.EV_SW: [e.SW_LID]}, [], []),
])
def test_classification_uses_capabilities(caps, props, kinds) -> None:
    assert c.classify(caps, props) == kinds


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def test_recorded_stream_reaches_the_callback_and_eof_detaches(loop: asyncio.AbstractEventLoop) -> None:
    async def scenario() -> None:
        got: list[dict] = []
        arrived = asyncio.Event()
        changes: list[tuple[str, str]] = []

        def deliver(record: dict) -> None:
            got.append(record)
            if len(got) == 4:
                arrived.set()

        manager = InputManager(deliver, lambda action, device: changes.append((action, device["id"])))
        read_end, write_end = os.pipe()
        os.set_blocking(read_end, False)
        manager.attach_recorded("kbd", RecordedDevice(read_end, recorded.KEYBOARD), "recorded keyboard")
        os.write(write_end, recorded.key(e.KEY_A, 1, usec=250) + recorded.key(e.KEY_A, 0, usec=500))
        await asyncio.wait_for(arrived.wait(), 5)
        assert [(r["code_name"], r["value"]) for r in got] == [
            ("KEY_A", 1), ("SYN_REPORT", 0), ("KEY_A", 0), ("SYN_REPORT", 0)]
        assert got[0]["kind"] == "keyboard" and got[0]["device"] == "kbd"
        assert got[0]["time"] == pytest.approx(1700000000.00025)
        os.close(write_end)  # the stream ends: the device is closed, not spun on
        for _ in range(100):
            if "kbd" not in manager.devices:
                break
            await asyncio.sleep(0.01)
        assert changes == [("add", "kbd"), ("remove", "kbd")]
        assert len(manager.recent) == 4

    loop.run_until_complete(scenario())


class VanishingDevice(RecordedDevice):
    """Stands in for an unplugged evdev node (needs real hardware or uinput, neither exists here):
    the fd is readable but read() raises ENODEV exactly as python-evdev does for a removed device."""

    def read(self):
        raise OSError(errno.ENODEV, "No such device")


def test_device_vanishing_mid_read_is_closed_not_fatal(loop: asyncio.AbstractEventLoop) -> None:
    async def scenario() -> None:
        got: list[dict] = []
        manager = InputManager(got.append)
        gone_r, gone_w = os.pipe()
        kbd_r, kbd_w = os.pipe()
        manager.attach_recorded("gone", VanishingDevice(gone_r, recorded.MOUSE), "unplugged mouse")
        manager.attach_recorded("kbd", RecordedDevice(kbd_r, recorded.KEYBOARD), "keyboard")
        os.write(gone_w, b"x")  # make it readable
        for _ in range(100):
            if "gone" not in manager.devices:
                break
            await asyncio.sleep(0.01)
        assert "gone" not in manager.devices
        os.write(kbd_w, recorded.key(e.KEY_B, 1))  # the others keep working
        for _ in range(100):
            if got:
                break
            await asyncio.sleep(0.01)
        assert got and got[0]["code_name"] == "KEY_B"
        manager.close()
        os.close(gone_w)
        os.close(kbd_w)

    loop.run_until_complete(scenario())


def test_service_pushes_input_and_keeps_recent(loop: asyncio.AbstractEventLoop, tmp_path) -> None:
    async def scenario() -> None:
        cfg = llmos_config.parse('[input]\nlayout = "de"\nvariant = "nodeadkeys"\n')
        hal = Hal(cfg, network=False)  # never touch this host's network from a test
        socket = tmp_path / "hal.sock"
        await hal.start(socket)
        client = await ipc.Client.connect(socket)
        try:
            assert (await client.call("subscribe", events=["input", "input-device"]))["subscribed"]
            read_end, write_end = os.pipe()
            assert hal.input is not None
            hal.input.attach_recorded("tablet", RecordedDevice(read_end, recorded.TABLET_ABS), "usb-tablet")
            event, data = await asyncio.wait_for(client.events.get(), 5)
            assert (event, data["action"], data["kind"]) == ("input-device", "add", "absolute-pointer")
            os.write(write_end, recorded.abs_move(16000, 8000) + recorded.key(e.BTN_LEFT, 1))
            pushed = [await asyncio.wait_for(client.events.get(), 5) for _ in range(5)]
            assert [(d["code_name"], d["value"]) for _, d in pushed] == [
                ("ABS_X", 16000), ("ABS_Y", 8000), ("SYN_REPORT", 0), ("BTN_LEFT", 1), ("SYN_REPORT", 0)]
            recent = await client.call("recent_input", count=2)
            assert [r["code_name"] for r in recent] == ["BTN_LEFT", "SYN_REPORT"]
            devices = await client.call("input_devices")
            assert devices[0]["id"] == "tablet" and devices[0]["events"] == 5
            keymap = await client.call("keymap")
            assert keymap["layout"] == "de" and keymap["error"] is None
            assert keymap["keymap"].startswith("xkb_keymap {") and "ssharp" in keymap["keymap"]
            assert "ssharp" not in compile_keymap("us").text  # it really is the German layout
            with pytest.raises(ipc.RpcError, match="bad-request"):
                await client.call("subscribe", events=["nonsense"])
            os.close(write_end)
        finally:
            await client.close()
            await hal.close()

    loop.run_until_complete(scenario())


def test_bad_layout_falls_back_to_us_with_a_located_error() -> None:
    keymap = compile_keymap("zz", "", "")
    assert keymap.layout == "us" and keymap.text.startswith("xkb_keymap {")
    assert keymap.error and keymap.error.startswith("input.layout/variant:") and "'zz'" in keymap.error
