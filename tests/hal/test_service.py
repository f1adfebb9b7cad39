"""hal's own order at start: its socket, with input, is up before the network code loads, so the
keyboard reaches the shell while pyroute2 imports (seconds under TCG). Real hal in a namespace pair,
with its import of pyroute2 held at a gate the test opens."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from llmos.hal.cli import format_net

from .halnet import Pair, start_dnsmasq, start_hal, wait_for

# Holds the first import of pyroute2 until the file named by argv[1] exists, then runs hal.
GATED = """import os, runpy, sys, time
gate = sys.argv.pop(1)
class Gate:
    def find_spec(self, name, path=None, target=None):
        if name == "pyroute2":
            sys.meta_path.remove(self)
            open(gate + ".reached", "w").close()
            while not os.path.exists(gate):
                time.sleep(0.01)
        return None
sys.meta_path.insert(0, Gate())
runpy.run_module("llmos.hal", run_name="__main__")
"""


def test_importing_the_service_leaves_the_network_code_unloaded() -> None:
    done = subprocess.run([sys.executable, "-c", "import sys, llmos.hal.service; "
                           "print(sorted(m for m in sys.modules if m.startswith('pyroute2')))"],
                          capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == "[]"


def test_hal_answers_before_its_network_code_loads_then_brings_the_links_up(pair: Pair,
                                                                           tmp_path: Path) -> None:
    start_dnsmasq(pair, tmp_path)
    gate = tmp_path / "gate"
    hal = start_hal(pair, tmp_path, argv=("-c", GATED, str(gate)), network_up=False)
    wait_for((tmp_path / "gate.reached").exists, 20, "hal at its import of pyroute2")
    assert hal.call("status")["network"] is False
    assert hal.call("net") == {"managed": True, "starting": True, "links": [], "routes": []}
    assert format_net(hal.call("net")) == "the network is starting: hal is up, and brings its links up next\n"
    assert isinstance(hal.call("input_devices"), list) and hal.call("keymap")
    gate.touch()
    wait_for(lambda: hal.dhcp_state() == "BOUND", 30, "a lease once the network code has loaded")
    assert hal.call("status")["network"] is True and "starting" not in hal.call("net")
    assert "\neth0       UP" in format_net(hal.call("net"))
    assert "the network comes up next" in hal.log.read_text()
