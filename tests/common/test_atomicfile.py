"""llmos/atomicfile.py: the target holds the old content or the new, never part of either."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmos import atomicfile


def test_the_target_is_replaced_whole_with_the_mode_asked(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "state.json"
    atomicfile.write_text(target, "first")
    assert target.read_text() == "first" and target.stat().st_mode & 0o777 == 0o600
    inode = target.stat().st_ino
    atomicfile.write_bytes(target, b"second", mode=0o644)
    assert target.read_bytes() == b"second" and target.stat().st_mode & 0o777 == 0o644
    assert target.stat().st_ino != inode  # a new file renamed over the old, not the old rewritten
    assert sorted(p.name for p in target.parent.iterdir()) == ["state.json"]  # no temporary left


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "llmos.toml"
    target.write_text("old")

    def disk_full(descriptor: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        atomicfile.write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["llmos.toml"]


def test_loading_the_settings_does_not_import_tempfile() -> None:
    """Every service loads its settings at start; tempfile (with shutil, bz2, lzma and random) is for
    writing only."""
    code = "import sys, llmos.config; llmos.config.load(); print('tempfile' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False"]
