"""The device registry against this machine's real /sys and real kernel uevents.

udevd does not run on this host (and starting one would change the shared machine), so hal picks
the "kernel" uevent source and says so; in the image udevd runs and hal uses the "udev" source.
Hotplug is real: a bridge created in hal's network namespace makes the kernel emit add and
remove uevents for the net subsystem of that namespace."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pyudev

from llmos.hal.devices import DeviceRegistry, summarize, udevd_running

from .halnet import PYTHON, Pair, Subscriber, start_hal


def test_registry_matches_pyudev_enumeration() -> None:
    registry = DeviceRegistry()
    context = pyudev.Context()
    for device in context.list_devices():
        registry.devices[device.sys_path] = summarize(device)
    assert registry.source == ("udev" if udevd_running() else "kernel")
    net = {item["sys_name"] for item in registry.list("net")}
    assert net == set(os.listdir("/sys/class/net"))
    lo = next(item for item in registry.list("net") if item["sys_name"] == "lo")
    assert lo["properties"]["INTERFACE"] == "lo" and lo["sys_path"].endswith("/net/lo")


def test_hotplug_add_and_remove_reach_subscribers(pair: Pair, tmp_path: Path) -> None:
    hal = start_hal(pair, tmp_path)
    listed = hal.call("devices", subsystem="net")
    assert {d["sys_name"] for d in listed["devices"]} == {"lo", "eth0"}  # this namespace's links
    events = Subscriber(hal.socket, ["device"])
    try:
        pair.ip(pair.client, "link", "add", "hd0", "type", "bridge")
        added = events.wait(lambda e, d: d["action"] == "add" and d["sys_name"] == "hd0", 10, "add hd0")
        assert added["subsystem"] == "net" and added["properties"]["INTERFACE"] == "hd0"
        assert any(d["sys_name"] == "hd0" for d in hal.call("devices", subsystem="net")["devices"])
        assert hal.link("hd0")["method"] is None  # a bridge is not "wired": hal leaves it alone
        pair.ip(pair.client, "link", "del", "hd0")
        removed = events.wait(lambda e, d: d["action"] == "remove" and d["sys_name"] == "hd0", 10,
                              "remove hd0")
        assert removed["sys_path"] == added["sys_path"]
        assert not any(d["sys_name"] == "hd0" for d in hal.call("devices", subsystem="net")["devices"])
        assert hal.proc.poll() is None
    finally:
        events.close()

    # `llmos devices --json` and `llmos net --json` read the same socket
    env = dict(os.environ, LLMOS_RUN_DIR=str(hal.run_dir))
    out = subprocess.run([str(PYTHON), "-m", "llmos", "devices", "--json", "--subsystem", "net"],
                         env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert {d["sys_name"] for d in json.loads(out.stdout)["devices"]} == {"lo", "eth0"}
    out = subprocess.run([str(PYTHON), "-m", "llmos", "net"], env=env, capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stderr
    assert "eth0" in out.stdout and "dhcp" in out.stdout
