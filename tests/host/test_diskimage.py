"""Reading a finished disk image: slot a's squashfs root and the font cache check (host/diskimage.py)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from llmos.cli import main
from llmos.host import diskimage
from llmos.update import bundle, store

STORE_TYPE = store.PARTITION_TYPE


def _fontconfig_cache(directory: str, seconds: int, nanoseconds: int, fonts: list[str]) -> bytes:
    """A fontconfig cache header as fontconfig 2.14 writes it on x86-64, then the directory and font names."""
    name_at = diskimage._FC_HEADER.size
    body = directory.encode() + b"\0" + b"\0".join(f"{directory}/{f}".encode() for f in fonts) + b"\0"
    header = diskimage._FC_HEADER
    return header.pack(diskimage._FC_MAGIC, 8, name_at + len(body), name_at, 0, 0, 0, 0, seconds, 0,
                       nanoseconds) + body


@pytest.mark.parametrize("nanoseconds", [0, 717081526])
def test_the_font_cache_check_sees_a_cache_the_disk_image_made_stale(tmp_path: Path,
                                                                    nanoseconds: int) -> None:
    """fontconfig trusts a cache only while its directory's mtime matches to the nanosecond; a squashfs
    root made from the tree keeps whole seconds, so a cache made for .717081526 is rebuilt by every
    process that loads fonts, and the read-only root cannot store it."""
    root = tmp_path / "root"
    fonts = root / "usr/share/fonts/truetype/dejavu"
    fonts.mkdir(parents=True)
    (fonts / "DejaVuSans.ttf").write_bytes(b"font")
    cache = root / "var/cache/fontconfig"
    cache.mkdir(parents=True)
    for index, directory in enumerate(["/usr/share/fonts", "/usr/share/fonts/truetype",
                                       "/usr/share/fonts/truetype/dejavu"]):
        os.utime(root / directory.lstrip("/"), ns=(0, 1_796_178_055 * 10**9 + nanoseconds))
        listed = ["DejaVuSans.ttf"] if directory.endswith("dejavu") else []
        (cache / f"{index}-le64.cache-8").write_bytes(_fontconfig_cache(directory, 1_796_178_055, nanoseconds,
                                                                        listed))
    disk = _disk_with_root(tmp_path, root)
    problems = diskimage.font_cache_problems(diskimage.root_partition(disk))
    if nanoseconds == 0:
        assert problems == []
    else:
        assert len(problems) == 3, problems
        assert "/usr/share/fonts: cache made for mtime 1796178055.717081526, directory has " \
               "1796178055.000000000" in problems
    (fonts / "DejaVuSerif.ttf").write_bytes(b"font")  # a font the cache does not list
    disk = _disk_with_root(tmp_path, root)
    assert "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf: not in its cache" in \
        diskimage.font_cache_problems(diskimage.root_partition(disk))


def test_extract_root_takes_the_squashfs_bytes_of_slot_a_and_refuses_anything_else(tmp_path: Path) -> None:
    """The root an update bundle carries is slot a's squashfs, cut to the length its superblock gives
    (not the partition's); an ext4 root (an image built before the compressed root) is refused by name."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").write_text("ID=llmos\n")
    disk = _disk_with_root(tmp_path, root)
    out = diskimage.extract_root(disk, tmp_path / "root.img")
    squashfs = (tmp_path / "root.sqfs").read_bytes()
    assert out.read_bytes() == squashfs + bytes(len(out.read_bytes()) - len(squashfs))
    assert len(out.read_bytes()) % 4096 == 0 and out.stat().st_size < diskimage.root_partition(disk).size
    listed = subprocess.run(["unsquashfs", "-l", str(out)], capture_output=True, text=True, check=True)
    assert "squashfs-root/etc/os-release" in listed.stdout
    part = diskimage.root_partition(disk)
    with open(disk, "r+b") as raw:
        raw.seek(part.offset)
        raw.write(b"\0" * 4096)
    with pytest.raises(diskimage.DiskImageError, match="slot a: the root is not a squashfs"):
        diskimage.extract_root(disk, tmp_path / "again.img")
    assert not (tmp_path / "again.img").exists()


def _disk_with_root(tmp_path: Path, root: Path, store: Path | None = None) -> Path:
    """A GPT disk image whose slot a (a DPS root partition named llmos-root-a) holds `root` as squashfs,
    as mkosi.repart lays it out, after a small ESP-like partition; and the directory `store` as the
    ext4 model store (llmos-models) after it."""
    squashfs = tmp_path / "root.sqfs"
    subprocess.run(["mksquashfs", str(root), str(squashfs), "-noappend", "-quiet", "-all-root"],
                   check=True, capture_output=True)
    disk = tmp_path / "disk.raw"
    disk.unlink(missing_ok=True)
    size_mib = squashfs.stat().st_size // (1 << 20) + 2
    store_at, store_mib = 4096 + size_mib * 2048, 8
    with open(disk, "wb") as raw:
        raw.truncate((size_mib + store_mib + 4) << 20)
    table = (f"label: gpt\nstart=2048, size=2048, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\n"
             f"start=4096, size={size_mib * 2048}, type={diskimage.ROOT_PARTITION_TYPE}, name=llmos-root-a\n")
    if store is not None:
        table += f"start={store_at}, size={store_mib * 2048}, type={STORE_TYPE}, name=llmos-models\n"
    subprocess.run(["sfdisk", "-q", str(disk)], input=table, text=True, check=True, capture_output=True)
    with open(disk, "r+b") as raw:
        raw.seek(4096 * 512)
        raw.write(squashfs.read_bytes())
    if store is not None:
        subprocess.run(["mkfs.ext4", "-q", "-F", "-d", str(store), "-E", f"offset={store_at * 512}",
                        str(disk), f"{store_mib}M"], check=True, capture_output=True)
    return disk


def test_a_bundle_from_a_built_image_carries_the_models_its_root_links_to(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The model store's objects come out of the image's ext4 partition (debugfs, nothing mounted) as
    parts named by their sha256; the copies made while bundling are removed."""
    root = tmp_path / "root"
    (root / "usr/lib").mkdir(parents=True)
    (root / "usr/lib/os-release").write_text("ID=llmos\nIMAGE_VERSION=4\n")
    (root / store.MODELS_DIR).mkdir(parents=True)
    (root / store.MODELS_DIR / "model.gguf").write_bytes(b"GGUF weights")
    objects = store.move_into_store(root)
    shared = root / store.STORE_DIR
    disk = _disk_with_root(tmp_path, root, store=shared)
    assert sorted(p.name for p in diskimage.extract_store(disk, tmp_path / "objects")) == sorted(objects)
    assert diskimage.extract_store(_disk_with_root(tmp_path, root), tmp_path / "none") == []
    disk = _disk_with_root(tmp_path, root, store=shared)
    disk.with_suffix(".vmlinuz").write_bytes(b"kernel")
    disk.with_suffix(".initrd").write_bytes(b"initrd")
    assert main(["image", "keygen", "--out", str(tmp_path / "keys")]) == 0
    out = tmp_path / "out"
    out.mkdir()
    capsys.readouterr()
    key = tmp_path / "keys/update-ed25519.pem"
    assert main(["image", "bundle", "--from-image", str(disk), "--key", str(key),
                 "-o", str(out / "v4.llmos")]) == 0
    assert "1 model files 12 bytes" in capsys.readouterr().out
    with tarfile.open(out / "v4.llmos") as tar:
        (name,) = [n for n in tar.getnames() if n.startswith(bundle.OBJECT_PREFIX)]
        assert name == bundle.OBJECT_PREFIX + hashlib.sha256(b"GGUF weights").hexdigest()
    assert sorted(p.name for p in out.iterdir()) == ["v4.llmos"]


def test_a_bundle_from_a_built_image_takes_its_root_and_version_and_leaves_nothing_behind(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`llmos image bundle --from-image`: slot a's squashfs, the kernel and initrd beside the disk, the
    root's IMAGE_VERSION; the extracted root is removed afterwards, also when the bundle is refused."""
    root = tmp_path / "root"
    (root / "usr/lib").mkdir(parents=True)
    (root / "usr/lib/os-release").write_text("ID=llmos\nIMAGE_VERSION=4\n")
    disk = _disk_with_root(tmp_path, root)
    disk.with_suffix(".vmlinuz").write_bytes(b"kernel")
    disk.with_suffix(".initrd").write_bytes(b"initrd")
    assert main(["image", "keygen", "--out", str(tmp_path / "keys")]) == 0
    out = tmp_path / "out"
    out.mkdir()
    key = tmp_path / "keys/update-ed25519.pem"
    bundle = ["image", "bundle", "--from-image", str(disk), "--key", str(key)]
    capsys.readouterr()
    assert main([*bundle, "-o", str(out / "v4.llmos")]) == 0
    assert "version 4 for x86_64" in capsys.readouterr().out
    assert main([*bundle, "--version", "5", "-o", str(out / "v5.llmos")]) == 1
    assert "IMAGE_VERSION=4, not 5" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["v4.llmos"]
