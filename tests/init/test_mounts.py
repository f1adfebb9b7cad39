"""The early mounts and the final unmount, for real, inside a private mount namespace (unshare -m)
with every target under a temp directory, so the host's mounts are never touched."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import pytest

from llmos.init import mounts

SCRIPT = textwrap.dedent("""
    import json, sys
    from llmos.init import mounts
    root = sys.argv[1]
    log = []
    first = mounts.mount_early(log.append, root=root)
    again = mounts.mount_early(log.append, root=root)
    inside = [m.target for m in mounts.mounted() if m.target.startswith(root + "/")]
    result = mounts.unmount_all(log.append, under=root)
    left = [m.target for m in mounts.mounted() if m.target.startswith(root + "/")]
    print(json.dumps({"first": first, "again": again, "inside": inside, "unmounted": result.unmounted,
                      "failed": result.failed, "left": left, "log": log}))
""")


def test_mount_early_then_unmount_all_in_a_namespace(tmp_path):
    if shutil.which("unshare") is None:
        pytest.skip("unshare(1) missing")
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"], check=False)
    if probe.returncode != 0:
        pytest.skip("cannot create a mount namespace here")
    root = str(tmp_path / "root")
    argv = ["unshare", "--mount", "--propagation", "private", sys.executable, "-c", SCRIPT, root]
    run = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
    result = json.loads(run.stdout)
    expected = [root + m.target for m in mounts.EARLY]
    assert result["first"] == expected, result["log"]
    assert result["again"] == []  # idempotent: stage 1 may already have mounted some
    assert result["inside"] == expected
    assert result["unmounted"] == expected[::-1]  # reverse mount order: /dev/pts before /dev
    assert result["failed"] == [] and result["left"] == []


def test_mounts_table_unescapes_paths():
    table = "/dev/vda2 /var/lib/llm\\040os ext4 rw 0 0\nproc /proc proc rw 0 0\n"
    parsed = mounts.mounted(table)
    assert [(m.source, m.target, m.fstype) for m in parsed] == [
        ("/dev/vda2", "/var/lib/llm os", "ext4"), ("proc", "/proc", "proc")]
