"""A USB stick flashed from the same image, plugged in while LLM OS runs: it has the same partition labels
and UUIDs, and udev points the by-partlabel links at it. The updater still finds its slots, the model
store and the ESP on the disk it runs from, writes an update only there, and refuses the stick's slot
when it is named."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from waiting import wait_for

from llmos.host import image
from llmos.host.vm import BuiltImage
from llmos.update import bundle, keys

from .conftest import Boot
from .hostnet import serving
from .pace import scaled

ROOT = b"a root written by test_two_disks\n" * (4 << 15)  # about 4 MiB, unlike the empty slot's zeros
FIND = ("from llmos.init import rootdisk; from llmos.init.esp import esp_device; from llmos.update import "
        "system; disk = rootdisk.root_disk(); print(disk, system.slot_device('a'), system.slot_device('b'), "
        "rootdisk.labelled('llmos-models'), esp_device(running_disk=disk), "
        "system.root_argument('b', system.slot_device('b')))")


def small_bundle(built: BuiltImage, out: Path) -> Path:
    """Version 2 with a small root, signed with the key the image trusts: the slot write is what is
    checked here, not a boot of it."""
    root = out / "root.img"
    root.write_bytes(ROOT)
    private = keys.load_private(image.update_key().with_name(keys.PRIVATE_NAME))
    bundle.make_bundle(out / "v2.llmos", private, os_version="2", arch="x86_64", rootfs=root,
                       kernel=built.kernel, initrd=built.initrd)
    return out / "v2.llmos"


def test_the_updater_writes_only_the_disk_it_runs_from(boot: Boot, built_image: BuiltImage,
                                                       tmp_path: Path) -> None:
    copy = tmp_path / "copy.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b",
                    str(built_image.disk.resolve()), str(copy)], check=True)
    machine = boot()

    def sh(command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return machine.run(["sh", "-c", command], check=check, timeout=scaled(120))

    machine.qmp("human-monitor-command",
                **{"command-line": f"drive_add 0 if=none,id=stick,file={copy},format=qcow2,cache=unsafe"})
    machine.qmp("device_add", driver="usb-storage", drive="stick", id="stick")
    wait_for(lambda: sh("test -e /sys/block/sda/sda5 && udevadm settle", check=False).returncode == 0,
             scaled(120), "the stick's partitions in the guest", interval=1.0)
    # Both disks carry every label, and the by-partlabel links now name the stick's partitions.
    labels = sh("cat /sys/block/vda/vda3/uevent /sys/block/sda/sda3/uevent | grep PARTNAME").stdout.split()
    assert labels == ["PARTNAME=llmos-root-b", "PARTNAME=llmos-root-b"]
    assert sh("readlink -f /dev/disk/by-partlabel/llmos-root-b").stdout.strip() == "/dev/sda3", \
        "precondition: udev gives the link to the stick plugged in last"
    disk, slot_a, slot_b, models, esp, root_b = sh(f'python3 -c "{FIND}"').stdout.split()
    assert root_b.startswith("PARTUUID=")  # from vda's GPT: udev's by-partuuid links name the stick
    assert disk == "vda"
    other = "sda"
    assert (slot_a, slot_b, models, esp) == (f"/dev/{disk}2", f"/dev/{disk}3", f"/dev/{disk}4",
                                             f"/dev/{disk}1")
    assert sh("grep ' / ' /proc/self/mounts").stdout.split()[0] == f"/dev/{disk}2"

    def digest(device: str) -> str:
        return sh(f"head -c 8388608 {device} | sha256sum").stdout.split()[0]

    before = {device: digest(device) for device in (f"/dev/{disk}3", f"/dev/{other}3")}
    served = tmp_path / "served"
    served.mkdir()
    small_bundle(built_image, served)
    with serving(served) as port:
        source = f"http://10.0.2.2:{port}/v2.llmos"
        options = "--esp /tmp/esp --force"
        refused = sh(f"mkdir -p /tmp/esp && llmos update apply {source} {options} --slot-b /dev/{other}3",
                     check=False)
        assert refused.returncode == 2, refused.stderr
        said = f"slot b (/dev/{other}3) is on {other}, not on {disk}, the disk LLM OS runs from"
        assert said in refused.stderr
        assert digest(f"/dev/{other}3") == before[f"/dev/{other}3"]
        applied = sh(f"llmos update apply {source} {options}", check=False)
        assert applied.returncode == 0, applied.stderr
        assert f"on slot b (/dev/{disk}3)" in applied.stdout
        assert f"root={root_b} " in sh("cat /tmp/esp/loader/entries/*.conf").stdout
    assert digest(f"/dev/{other}3") == before[f"/dev/{other}3"]  # the copy: not a byte
    written = digest(f"/dev/{disk}3")
    assert written == hashlib.sha256((ROOT + bytes(8 << 20))[:8 << 20]).hexdigest() != before[f"/dev/{disk}3"]
