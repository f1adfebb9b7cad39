"""Image size per variant (issue 18 1b: a qemu image of at most 600 MB with both slots, 400 MB with one),
read off built images: the file, what it occupies (slot b and free space are sparse), the slot size,
and slot a's squashfs against the same root uncompressed (the baseline, the sum of its files as an
ext4 root held them), with the model's share, which does not compress.

    .venv/bin/python bench/image_size.py [--variant qemu --variant usb]

Build first (`llmos image build --variant V`); a variant without a built image is skipped with a note.
"""

from __future__ import annotations

import argparse
import re
import subprocess
from pathlib import Path

from llmos.host.diskimage import root_partition, squashfs_length
from llmos.host.image import REPO

MIB = 1 << 20
MODELS = "usr/share/llmos/models/"


def uncompressed(disk: Path, offset: int) -> tuple[int, int]:
    """Bytes of every regular file in the root, and of those under the model directory."""
    listing = subprocess.run(["unsquashfs", "-o", str(offset), "-lls", str(disk)], capture_output=True,
                             text=True, check=True).stdout
    total = models = 0
    for line in listing.splitlines():
        fields = line.split(None, 5)
        if len(fields) == 6 and fields[0].startswith("-") and re.fullmatch(r"\d+", fields[2]):
            size = int(fields[2])
            total += size
            models += size if MODELS in fields[5] else 0
    return total, models


def measure(variant: str) -> str:
    disk = REPO / "build" / "images" / variant / f"llmos-{variant}.raw"
    if not disk.exists():
        return f"| {variant} | not built ({disk}) | | | | |"
    root = root_partition(disk)
    with open(disk, "rb") as raw:
        raw.seek(root.offset)
        squashfs = squashfs_length(raw.read(4096), str(disk))
    content, models = uncompressed(disk, root.offset)
    size, allocated = disk.stat().st_size, disk.stat().st_blocks * 512
    return (f"| {variant} | {size / MIB:,.0f} MiB | {allocated / MIB:,.0f} MiB | "
            f"{root.size / MIB:,.0f} MiB | {squashfs / MIB:,.0f} MiB of {content / MIB:,.0f} MiB: "
            f"**{squashfs / content:.2f}×** | {models / MIB:,.0f} MiB |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", action="append", help="qemu, usb or kiosk (default: qemu and usb)")
    args = parser.parse_args()
    print("| variant | file | allocated | slot (each of two) | slot a: squashfs of uncompressed | models |")
    print("|---|---|---|---|---|---|")
    for variant in args.variant or ["qemu", "usb"]:
        print(measure(variant))


if __name__ == "__main__":
    main()
