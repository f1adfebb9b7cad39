"""The hardware layer and the compositor inside the booted image: DHCP from QEMU's user network, QMP input
arriving as evdev events, USB hotplug through udev, and the compositor owning the screen through DRM."""

from __future__ import annotations

import json
from pathlib import Path

import cairocffi as cairo
from waiting import wait_for as wait_until

from llmos.host.vm import VirtualMachine

from .guest import ipc, try_ipc
from .pace import scaled

KEY_A, KEY_B, ABS_X, ABS_Y, EV_KEY, EV_ABS = 30, 48, 0, 1, 1, 3


def test_dhcp_lease_route_and_dns_from_qemu_user_network(machine: VirtualMachine) -> None:
    def leased() -> dict | None:
        net = json.loads(machine.run(["llmos", "net", "--json"]).stdout)
        return net if "10.0.2.15/24" in json.dumps(net) else None

    net = wait_until(leased, scaled(60), "a DHCP lease on 10.0.2.15/24")
    routes = json.dumps(net.get("routes", net))
    assert "10.0.2.2" in routes
    resolv = machine.run(["cat", "/etc/resolv.conf"]).stdout
    assert "nameserver 10.0.2.3" in resolv


def test_qmp_keys_and_absolute_pointer_arrive_as_evdev_events(machine: VirtualMachine) -> None:
    machine.input_events([{"type": "key", "data": {"down": True, "key": {"type": "qcode", "data": "a"}}},
                          {"type": "key", "data": {"down": False, "key": {"type": "qcode", "data": "a"}}}])
    machine.pointer_abs(16384, 8192)

    def seen() -> list | None:
        events = ipc(machine, "hal", "recent_input", count=200)
        keys = [(e["code"], e["value"]) for e in events if e["type"] == EV_KEY and e["code"] == KEY_A]
        moves = [e for e in events if e["type"] == EV_ABS and e["code"] in (ABS_X, ABS_Y)]
        return events if (KEY_A, 1) in keys and (KEY_A, 0) in keys and moves else None

    events = wait_until(seen, scaled(30), "KEY_A down/up and ABS_X/ABS_Y in hal's recent input")
    xs = [e["value"] for e in events if e["type"] == EV_ABS and e["code"] == ABS_X]
    ys = [e["value"] for e in events if e["type"] == EV_ABS and e["code"] == ABS_Y]
    assert 16384 in xs and 8192 in ys, (xs[-5:], ys[-5:])
    kinds = {e["kind"] for e in events if e["type"] == EV_ABS}
    assert kinds & {"absolute-pointer", "tablet", "touchscreen"}, kinds


def test_a_hotplugged_usb_keyboard_appears_and_disappears(machine: VirtualMachine) -> None:
    def keyboards() -> list[str]:
        devices = ipc(machine, "hal", "input_devices")
        return [d["name"] for d in devices if "keyboard" in d.get("kinds", [d.get("kind")])]

    before = keyboards()
    machine.qmp("device_add", driver="usb-kbd", id="hotkbd")
    added = wait_until(lambda: [n for n in keyboards() if n not in before], scaled(60),
                       "the USB keyboard in hal")
    assert any("QEMU" in name or "USB" in name for name in added), added
    machine.qmp("device_del", id="hotkbd")
    wait_until(lambda: sorted(keyboards()) == sorted(before), scaled(60), "the USB keyboard to leave hal")
    assert ipc(machine, "hal", "status")  # hal survived the device vanishing


def assert_screen_shows_compositor_frame(machine: VirtualMachine, backend: str, shot: Path) -> None:
    """Sample the compositor's own frame and the QMP screendump at the same points: they must agree."""
    def on_backend() -> dict | None:
        status = try_ipc(machine, "compositor", "status")
        return status if status and status["backend"] == backend else None

    status = wait_until(on_backend, scaled(90), f"the compositor on its {backend} output")
    width, height = status["width"], status["height"]
    points = [[x * width // 9, y * height // 7] for x in range(1, 9) for y in range(1, 7)]
    own = ipc(machine, "compositor", "pixels", points=points)
    surface = cairo.ImageSurface.create_from_png(str(machine.screendump(shot)))
    assert (surface.get_width(), surface.get_height()) == (width, height), "not the compositor's mode"
    data, stride = bytes(surface.get_data()), surface.get_stride()
    shown = [[data[y * stride + 4 * x + 2], data[y * stride + 4 * x + 1], data[y * stride + 4 * x]]
             for x, y in points]
    same = sum(1 for a, b in zip(own, shown, strict=True)
               if max(abs(p - q) for p, q in zip(a, b, strict=True)) <= 8)
    assert same >= 0.9 * len(points), f"only {same}/{len(points)} sampled pixels match the compositor's frame"


def test_the_compositor_owns_the_screen_through_drm(machine: VirtualMachine, tmp_path: Path) -> None:
    assert_screen_shows_compositor_frame(machine, "drm", tmp_path / "drm.png")


def set_backend(machine: VirtualMachine, backend: str) -> None:
    machine.run(["python3", "-c", "import sys; from llmos import config; "
                 "config.save_user_setting('display', 'backend', sys.argv[1])", backend])
    machine.run(["llmos", "restart", "compositor"])


def test_the_fbdev_fallback_draws_the_same_screen(machine: VirtualMachine, tmp_path: Path) -> None:
    set_backend(machine, "fbdev")
    try:
        assert_screen_shows_compositor_frame(machine, "fbdev", tmp_path / "fbdev.png")
    finally:
        set_backend(machine, "auto")
    assert_screen_shows_compositor_frame(machine, "drm", tmp_path / "back-to-drm.png")
