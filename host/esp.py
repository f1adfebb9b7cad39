"""Lay out the EFI system partition inside the image tree (/efi, copied into the ESP by systemd-repart).

systemd-boot goes to the removable-media default path EFI/BOOT/BOOTX64.EFI, so a USB stick boots on any
UEFI machine without an NVRAM entry; one loader entry starts our kernel with our Python initramfs.
Standard library only: mkosi runs this mid-build.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

SYSTEMD_BOOT = "usr/lib/systemd/boot/efi/systemd-bootx64.efi"


def lay_out(root: Path, kernel: Path, initrd: Path, cmdline: str, title: str) -> Path:
    esp = root / "efi"
    (esp / "EFI/BOOT").mkdir(parents=True, exist_ok=True)
    (esp / "loader/entries").mkdir(parents=True, exist_ok=True)
    (esp / "llmos").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(root / SYSTEMD_BOOT, esp / "EFI/BOOT/BOOTX64.EFI")
    shutil.copyfile(kernel, esp / "llmos/vmlinuz")
    shutil.copyfile(initrd, esp / "llmos/initrd")
    # editor no: nobody at the boot screen may edit the kernel command line (rdinit=/bin/sh, llmos.agent=1).
    (esp / "loader/loader.conf").write_text("default llmos.conf\ntimeout 0\nconsole-mode keep\neditor no\n")
    (esp / "loader/entries/llmos.conf").write_text(
        f"title {title}\nlinux /llmos/vmlinuz\ninitrd /llmos/initrd\noptions {cmdline}\n")
    return esp


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--kernel", type=Path, required=True)
    parser.add_argument("--initrd", type=Path, required=True)
    parser.add_argument("--cmdline", required=True)
    parser.add_argument("--title", default="LLM OS")
    args = parser.parse_args(argv)
    esp = lay_out(args.root, args.kernel, args.initrd, args.cmdline, args.title)
    print(f"esp: systemd-boot + kernel + initrd in {esp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
