"""udev-display's script (init/services.py DISPLAY_COLDPLUG), run by a real /bin/sh over a made-up
sysfs. `udevadm` is a stand-in on PATH: the real one would trigger the test machine's own devices."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

from llmos.init.services import DISPLAY_COLDPLUG

# Logs its arguments, then, for a display controller, waits up to 5 s for the other controller's
# trigger to have started too: triggered one after the other, the first would log "alone".
UDEVADM = """#!/bin/sh
echo "$*" >> "$LOG"
case "$*" in
*--parent-match=*) i=0
    while [ "$(grep -c parent-match "$LOG")" -lt "$CONTROLLERS" ]; do
        i=$((i + 1)); [ "$i" -gt 100 ] && { echo alone >> "$LOG"; exit 0; }
        sleep 0.05
    done ;;
esac
"""


def run_script(tmp_path: Path, classes: dict[str, str]) -> list[str]:
    devices = tmp_path / "sys" / "bus" / "pci" / "devices"
    devices.mkdir(parents=True)
    for name, pci_class in classes.items():
        (devices / name).mkdir()
        (devices / name / "class").write_text(pci_class + "\n")
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "udevadm").write_text(UDEVADM)
    (tools / "udevadm").chmod(stat.S_IRWXU)
    log = tmp_path / "udevadm.log"
    log.touch()
    controllers = sum(value.startswith("0x03") for value in classes.values())
    env = {**os.environ, "PATH": f"{tools}:{os.environ['PATH']}", "LLMOS_SYSFS": str(tmp_path / "sys"),
           "LOG": str(log), "CONTROLLERS": str(controllers)}
    done = subprocess.run(["/bin/sh", "-c", DISPLAY_COLDPLUG], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return log.read_text().splitlines()


def test_each_display_controller_is_triggered_side_by_side(tmp_path: Path) -> None:
    lines = run_script(tmp_path, {"0000:00:02.0": "0x030000", "0000:00:03.0": "0x038000",
                                  "0000:00:04.0": "0x020000"})  # two displays, one network card
    devices = tmp_path / "sys" / "bus" / "pci" / "devices"
    assert sorted(lines) == sorted(f"trigger --settle --action=add --parent-match={devices / name}"
                                   for name in ("0000:00:02.0", "0000:00:03.0"))  # no "alone"


def test_a_machine_without_a_pci_display_triggers_every_device(tmp_path: Path) -> None:
    assert run_script(tmp_path, {"0000:00:04.0": "0x020000"}) == \
        ["trigger --settle --action=add --type=devices"]
