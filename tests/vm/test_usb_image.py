"""The `usb` variant (generic kernel, all modules, firmware), written by `llmos flash` as to a USB stick,
boots the way a stick boots a PC: UEFI firmware (OVMF) -> systemd-boot at the removable-media path -> our
kernel and Python initramfs -> PID 1 -> the compositor's shell on screen. The stick is a loop device
(flash writes it with GUIDs of its own, which the firmware and stage 1 must find); QEMU boots its backing
file. Its console is the screen, so the check is a screendump."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import cairocffi as cairo
from waiting import wait_for

from llmos.cli import main
from llmos.host import image
from llmos.host.vm import BuiltImage, VirtualMachine

from .pace import scaled

BACKGROUND_BGR = bytes((0x3F, 0x30, 0x21))  # the compositor's #21303f


def flashed(built: BuiltImage, tmp_path: Path) -> Path:
    """The image as `llmos flash` writes it to a stick (here a loop device over a file)."""
    stick = tmp_path / "stick.img"
    with stick.open("wb") as backing:
        backing.truncate(built.disk.stat().st_size + (64 << 20))
    device = subprocess.run(["losetup", "--find", "--show", str(stick)], capture_output=True, text=True,
                            check=True).stdout.strip()
    try:
        assert main(["flash", str(built.disk), device, "--force", "--yes"]) == 0
    finally:
        subprocess.run(["losetup", "--detach", device], check=False)
    return stick


def test_usb_image_boots_under_uefi_to_the_shell(tmp_path: Path, speed: float) -> None:
    image.ensure_built("usb")
    built = BuiltImage.find("usb", image.REPO / "build" / "images" / "usb")
    stick = flashed(built, tmp_path)
    with VirtualMachine(dataclasses.replace(built, disk=stick), uefi=True, workdir=tmp_path,
                        extra_cmdline="") as machine:
        def compositor_on_screen() -> bool:
            surface = cairo.ImageSurface.create_from_png(str(machine.screendump(tmp_path / "screen.png")))
            data, stride = bytes(surface.get_data()), surface.get_stride()
            row = (surface.get_height() - 3) * stride
            return surface.get_width() >= 1024 and data[row + 12:row + 15] == BACKGROUND_BGR

        wait_for(compositor_on_screen, scaled(420), "the compositor's frame on the UEFI-booted screen",
                 interval=2.0)
        machine.wait_for(r"BdsDxe: starting", scaled(5))  # the firmware's boot manager started systemd-boot
