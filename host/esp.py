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


def lay_out(root: Path, kernel: Path, initrd: Path, cmdline: str, title: str, version: str = "1") -> Path:
    """The factory entry boots slot a; `llmos update` adds entries for slot b (update/loader.py writes
    them in the same form). `default llmos-*` with sort-key and version lets systemd-boot start the
    newest entry that still has tries, and fall back to this one when an update's tries run out."""
    esp = root / "efi"
    (esp / "EFI/BOOT").mkdir(parents=True, exist_ok=True)
    (esp / "loader/entries").mkdir(parents=True, exist_ok=True)
    (esp / "llmos/a").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(root / SYSTEMD_BOOT, esp / "EFI/BOOT/BOOTX64.EFI")
    shutil.copyfile(kernel, esp / "llmos/a/vmlinuz")
    shutil.copyfile(initrd, esp / "llmos/a/initrd")
    # editor no: nobody at the boot screen may edit the kernel command line (rdinit=/bin/sh, llmos.agent=1).
    (esp / "loader/loader.conf").write_text("default llmos-*\ntimeout 0\nconsole-mode keep\neditor no\n")
    (esp / f"loader/entries/llmos-{version}.conf").write_text(
        f"# llmos.os_version={version}\n# llmos.slot=a\ntitle {title}\nsort-key llmos\nversion 1\n"
        f"linux /llmos/a/vmlinuz\ninitrd /llmos/a/initrd\noptions llmos.slot=a {cmdline}\n")
    return esp


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--kernel", type=Path, required=True)
    parser.add_argument("--initrd", type=Path, required=True)
    parser.add_argument("--cmdline", required=True)
    parser.add_argument("--title", default="LLM OS")
    parser.add_argument("--version", default="1", help="the image's version (IMAGE_VERSION)")
    args = parser.parse_args(argv)
    esp = lay_out(args.root, args.kernel, args.initrd, args.cmdline, args.title, args.version)
    print(f"esp: systemd-boot + kernel + initrd in {esp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
