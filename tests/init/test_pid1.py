"""The supervisor as a real PID 1, inside a new PID and mount namespace (unshare -pfm).

It mounts what is missing (tmpfs on /run and /tmp, private to the namespace), reaps as the real init
of the namespace, maps SIGTERM to reboot and prints the shutdown markers. The final unmount and
reboot(2) run in dry-run mode (LLMOS_INIT_DRY_SHUTDOWN=1): remounting read-only would reach the
host's shared superblocks, and reboot(2) is for the VM tests."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from llmos import ipc

from .init_harness import REPO, wait_until


@pytest.fixture
def state_dir():
    # Not under /tmp: the namespace's init mounts a fresh tmpfs there.
    path = Path(tempfile.mkdtemp(prefix="llmos-pid1-", dir="/var/tmp"))
    yield path
    if not os.environ.get("KEEP"):
        shutil.rmtree(path, ignore_errors=True)


def test_runs_as_pid1_in_a_namespace(state_dir):
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1)")
    services = [{"name": "a", "argv": "(sleep 0.2 &); exec sleep 1000"},
                {"name": "b", "argv": "exec sleep 1000", "requires": ["a"]}]
    (state_dir / "services.json").write_text(json.dumps({"services": services}))
    env = {**os.environ, "LLMOS_RUN_DIR": str(state_dir / "run"), "LLMOS_STATE_DIR": str(state_dir / "data"),
           "LLMOS_CONFIG": str(state_dir / "none.toml"), "LLMOS_SERVICES": str(state_dir / "services.json"),
           "LLMOS_CGROUP_ROOT": str(state_dir / "nocg"), "LLMOS_INIT_DRY_SHUTDOWN": "1"}
    console = state_dir / "console.log"
    with console.open("wb") as out:
        proc = subprocess.Popen(["unshare", "--pid", "--fork", "--mount", "--propagation", "private",
                                 "--mount-proc", "--kill-child", sys.executable, "-m", "llmos.init"],
                                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO)
    try:
        wait_until(lambda: "llmos: ready t=" in console.read_text(), 20, lambda: console.read_text())
        status = ipc.call(state_dir / "run" / "init.sock", "status")
        assert status["pid"] == 1
        wait_until(lambda: ipc.call(state_dir / "run" / "init.sock", "status")["orphans_reaped"] >= 1, 5,
                   "the orphaned sleep to be reaped by PID 1")
        # unshare does not forward signals: SIGTERM goes to its child, our PID 1 (SIGTERM = reboot)
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        os.kill(int(children[0]), signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = console.read_text()
    assert "llmos: mounted /run" in text and "llmos: mounted /tmp" in text
    assert "llmos: mounted /proc" not in text  # already there: skipped
    assert "init: reboot requested" in text
    lines = text.splitlines()
    assert lines.index("llmos: b: stopping") < lines.index("llmos: a: stopping")
    assert lines[-1] == "llmos: shutdown complete (dry run, reboot)"
