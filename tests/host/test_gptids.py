"""Fresh GUIDs for a copy of a GPT image, read back by util-linux's sfdisk: new disk and partition GUIDs
in both GPTs with valid CRC32s, the same types and labels; an image whose GPT is not whole is refused."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from llmos.host import gptids

MiB = 1 << 20


def gpt_image(path: Path) -> Path:
    with path.open("wb") as f:
        f.truncate(6 * MiB)
    subprocess.run(["sfdisk", "-q", str(path)], check=True, text=True,
                   input="label: gpt\nsize=1MiB, type=L, name=esp\ntype=L, name=llmos-root-a\n")
    return path


def table(path: Path) -> dict[str, Any]:
    """What sfdisk reads: it checks the CRC32s and falls back to the backup GPT when the primary is bad."""
    done = subprocess.run(["sfdisk", "-J", str(path)], capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout)["partitiontable"]
    return result


def fields(found: dict[str, Any], *names: str) -> list[list[Any]]:
    return [[partition[name] for name in names] for partition in found["partitions"]]


def patched(image: Path, out: Path, patches: list[gptids.Patch]) -> Path:
    data = bytearray(image.read_bytes())
    gptids.apply(patches, 0, memoryview(data))
    out.write_bytes(data)
    return out


def reader(path: Path) -> tuple[Any, int]:
    data = path.read_bytes()
    return (lambda offset, length: data[offset:offset + length]), len(data)


def test_every_guid_is_new_and_both_gpts_say_so(tmp_path: Path) -> None:
    image = gpt_image(tmp_path / "image.raw")
    before = table(image)
    copy = patched(image, tmp_path / "copy.raw", gptids.fresh_ids(*reader(image)))
    after = table(copy)
    assert after["id"] != before["id"]
    assert {p["uuid"] for p in after["partitions"]}.isdisjoint(p["uuid"] for p in before["partitions"])
    assert len({p["uuid"] for p in after["partitions"]}) == 2
    assert fields(after, "start", "size", "type", "name") == fields(before, "start", "size", "type", "name")
    # Only the two headers and two tables changed.
    old, new = image.read_bytes(), copy.read_bytes()
    changed = [i for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b]
    assert changed and all(i < 34 * 512 or i >= len(new) - 33 * 512 for i in changed)
    # The backup alone says the same: the primary header destroyed, sfdisk reads the backup.
    broken = bytearray(copy.read_bytes())
    broken[512:1024] = bytes(512)
    (tmp_path / "broken.raw").write_bytes(broken)
    from_backup = table(tmp_path / "broken.raw")
    assert fields(from_backup, "uuid", "type", "name") == fields(after, "uuid", "type", "name")
    assert from_backup["id"] == after["id"]


def test_the_guids_come_from_the_generator(tmp_path: Path) -> None:
    image = gpt_image(tmp_path / "image.raw")
    made = iter(uuid.UUID(int=n) for n in range(1, 10))
    patches = gptids.fresh_ids(*reader(image), new_guid=lambda: next(made))
    after = table(patched(image, tmp_path / "copy.raw", patches))
    assert fields(after, "uuid") == [[str(uuid.UUID(int=1)).upper()], [str(uuid.UUID(int=2)).upper()]]
    assert after["id"] == str(uuid.UUID(int=3)).upper()


def test_patches_land_across_chunk_boundaries(tmp_path: Path) -> None:
    image = gpt_image(tmp_path / "image.raw")
    patches = gptids.fresh_ids(*reader(image))
    whole = bytearray(image.read_bytes())
    gptids.apply(patches, 0, memoryview(whole))
    pieces = bytearray(image.read_bytes())
    for start in range(0, len(pieces), 700):  # chunks that cut through headers and tables
        gptids.apply(patches, start, memoryview(pieces)[start:start + 700])
    assert pieces == whole


@pytest.mark.parametrize(("damage", "message"), [
    (lambda d: d.__setitem__(slice(512, 520), b"NOT GPT!"), "no GPT header"),
    (lambda d: d.__setitem__(512 + 40, d[512 + 40] ^ 1), "primary GPT header at byte 512 has a bad CRC32"),
    (lambda d: d.__setitem__(1024 + 200, d[1024 + 200] ^ 1), "does not match its CRC32"),
    (lambda d: d.__setitem__(slice(len(d) - 512, len(d) - 504), bytes(8)), "no backup GPT header"),
    (lambda d: d.__delitem__(slice(len(d) - 4096, len(d))), "outside the image"),
])
def test_a_gpt_that_is_not_whole_is_refused_with_where(tmp_path: Path, damage: Any, message: str) -> None:
    data = bytearray(gpt_image(tmp_path / "image.raw").read_bytes())
    damage(data)
    with pytest.raises(gptids.GptError, match=message):
        gptids.fresh_ids(lambda offset, length: bytes(data[offset:offset + length]), len(data))
