"""Reading a finished disk image: the font cache check (host/diskimage.py)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from llmos.host import diskimage


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
    """fontconfig trusts a cache only while its directory's mtime matches to the nanosecond; an ext4
    image made from the tree keeps whole seconds, so a cache made for .717081526 is rebuilt by every
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
    disk = tmp_path / "root.ext4"
    subprocess.run(["mkfs.ext4", "-q", "-d", str(root), str(disk), "8M"], check=True)
    problems = diskimage.font_cache_problems(str(disk))
    if nanoseconds == 0:
        assert problems == []
    else:
        assert len(problems) == 3, problems
        assert "/usr/share/fonts: cache made for mtime 1796178055.717081526, directory has " \
               "1796178055.000000000" in problems
    (fonts / "DejaVuSerif.ttf").write_bytes(b"font")  # a font the cache does not list
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", str(root), str(disk), "8M"], check=True)
    assert "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf: not in its cache" in \
        diskimage.font_cache_problems(str(disk))
