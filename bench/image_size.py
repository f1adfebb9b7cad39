"""Image size per variant (issue 18 1b: a qemu image of at most 600 MB with both slots, 400 MB with one),
read off built images: the file, what it occupies (slot b and free space are sparse), what it would
occupy once an update has written slot b (a root of slot a's size; the models stay once in the model
store both slots share), the same with a copy of the models in each slot (the layout before the
store, computed: the baseline), the slot size, slot a's squashfs against the same root uncompressed,
and the models in the store.

    .venv/bin/python bench/image_size.py [--variant qemu --variant usb] [--read]

--read (root: it mounts the model store through a loop device) also times reading the model out of it
with cold caches, against reading the same bytes from a plain file on the host's disk (a squashfs root
made the guest decompress the model again under TCG when llama.cpp mapped it).

Build first (`llmos image build --variant V`); a variant without a built image is skipped with a note.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import tempfile
import time
from pathlib import Path

from llmos.host.diskimage import RootPartition, partition_named, root_partition, squashfs_length
from llmos.host.image import MODEL_SHA256, REPO
from llmos.update.store import PARTLABEL

MIB = 1 << 20
MB = 1_000_000  # issue 18's targets are in MB


def sized(length: int) -> str:
    return f"{length / MIB:,.0f} MiB ({length / MB:,.0f} MB)"


def uncompressed(disk: Path, offset: int) -> int:
    """Bytes of every regular file in the root."""
    listing = subprocess.run(["unsquashfs", "-o", str(offset), "-lls", str(disk)], capture_output=True,
                             text=True, check=True).stdout
    total = 0
    for line in listing.splitlines():
        fields = line.split(None, 5)
        if len(fields) == 6 and fields[0].startswith("-") and re.fullmatch(r"\d+", fields[2]):
            total += int(fields[2])
    return total


def store_bytes(store: RootPartition) -> int:
    """Bytes of the model files in the store (debugfs reads the ext4 in place)."""
    listing = subprocess.run(["debugfs", "-R", "ls -p /", f"{store.disk}?offset={store.offset}"],
                             capture_output=True, text=True, check=True).stdout
    # ls -p: /inode/mode/uid/gid/name/size/
    return sum(int(fields[6]) for fields in (line.split("/") for line in listing.splitlines())
               if len(fields) >= 7 and re.fullmatch(r"[0-9a-f]{64}", fields[5]))


def cold_read_s(path: Path) -> float:
    """Seconds to read a file with the page cache dropped first."""
    subprocess.run(["sync"], check=True)
    Path("/proc/sys/vm/drop_caches").write_text("3\n")
    started = time.perf_counter()
    with open(path, "rb", buffering=0) as source:
        while source.read(8 << 20):
            pass
    return time.perf_counter() - started


def read_figures(variant: str) -> str:
    """The model read out of the model store against the same bytes as a plain file (median of 3)."""
    disk = REPO / "build" / "images" / variant / f"llmos-{variant}.raw"
    store = partition_named(disk, PARTLABEL)
    with tempfile.TemporaryDirectory() as scratch:
        mount, plain = Path(scratch) / "store", Path(scratch) / "model.gguf"
        mount.mkdir()
        subprocess.run(["mount", "-o", f"loop,ro,noload,offset={store.offset},sizelimit={store.size}",
                        str(disk), str(mount)], check=True)
        try:
            with open(plain, "wb") as out:
                subprocess.run(["cat", str(mount / MODEL_SHA256)], stdout=out, check=True)
            stored = sorted(cold_read_s(mount / MODEL_SHA256) for _ in range(3))[1]
            baseline = sorted(cold_read_s(plain) for _ in range(3))[1]
            size = plain.stat().st_size
        finally:
            subprocess.run(["umount", str(mount)], check=True)
    return (f"{variant}: reading the model ({size / MIB:,.0f} MiB) with cold caches: "
            f"{stored:.2f} s from the model store, {baseline:.2f} s as a plain file: "
            f"**{stored / baseline:.1f}×**")


def measure(variant: str) -> str:
    disk = REPO / "build" / "images" / variant / f"llmos-{variant}.raw"
    if not disk.exists():
        return f"| {variant} | not built ({disk}) | | | | | | |"
    root = root_partition(disk)
    squashfs = squashfs_length(root)
    content = uncompressed(disk, root.offset)
    models = store_bytes(partition_named(disk, PARTLABEL))
    size, allocated = disk.stat().st_size, disk.stat().st_blocks * 512
    # After the first update slot b holds a root too: about as large as slot a's. Before the store each
    # root carried the models (which do not compress: 4-bit weights), so each slot held them again.
    both = allocated + squashfs
    return (f"| {variant} | {size / MIB:,.0f} MiB | {sized(allocated)} | {sized(both)} | "
            f"{sized(both + models)}: **{both / (both + models):.2f}×** | "
            f"{root.size / MIB:,.0f} MiB | {squashfs / MIB:,.0f} MiB of {content / MIB:,.0f} MiB: "
            f"**{squashfs / content:.2f}×** | {models / MIB:,.0f} MiB |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", action="append", help="qemu, usb or kiosk (default: qemu and usb)")
    parser.add_argument("--read", action="store_true", help="also time reading the model (needs root)")
    args = parser.parse_args()
    print("| variant | file | allocated (slot a written) | both slots written | the same with the models in "
          "each slot: store / that | slot (each of two) | slot a: squashfs of uncompressed | model store |")
    print("|---|---|---|---|---|---|---|---|")
    for variant in args.variant or ["qemu", "usb"]:
        print(measure(variant))
    if args.read:
        print(read_figures((args.variant or ["qemu"])[0]))


if __name__ == "__main__":
    main()
