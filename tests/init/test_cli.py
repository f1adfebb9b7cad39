"""`llmos status | logs | restart` against a real supervisor."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import pytest

from .init_harness import socket_service, wait_until


def llmos(init, *args: str, timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "llmos.cli", *args], env=init.env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def test_status_logs_restart(start_init):
    init = start_init([socket_service("web"),
                       {"name": "talker", "argv": "echo one; echo two; exec sleep 1000"},
                       {"name": "broken", "argv": ["/nonexistent"]}])
    init.wait_line("llmos: ready t=")
    status = llmos(init, "status")
    assert status.returncode == 1  # a service failed
    rows = {line.split()[0]: line.split()[1] for line in status.stdout.splitlines()[1:]}
    assert rows == {"web": "ready", "talker": "ready", "broken": "failed"}

    wait_until(lambda: len(init.call("logs", service="talker")["lines"]) == 2, what="talker output")
    logs = llmos(init, "logs", "talker", "-n", "1")
    assert logs.returncode == 0
    assert logs.stdout.strip().endswith(" two") and "one" not in logs.stdout
    assert "web: started" in llmos(init, "logs", "init").stdout

    before = init.service("web")["pid"]
    restart = llmos(init, "restart", "web")
    assert restart.returncode == 0, restart.stdout
    after = init.wait_state("web", "ready")["pid"]
    assert after != before

    unknown = llmos(init, "logs", "nope")
    assert unknown.returncode == 1 and "no service 'nope'" in unknown.stdout


@pytest.mark.timeout(60)
def test_logs_follow(start_init, tmp_path):
    fifo_trigger = tmp_path / "go"
    init = start_init([{"name": "ticker", "argv":
                        f"echo first; while [ ! -e {fifo_trigger} ]; do sleep 0.05; done; echo second; "
                        "exec sleep 1000"}])
    wait_until(lambda: init.call("logs", service="ticker")["lines"], what="first line")
    follower = subprocess.Popen([sys.executable, "-m", "llmos.cli", "logs", "ticker", "-f"], env=init.env,
                                stdout=subprocess.PIPE, text=True)
    try:
        assert follower.stdout is not None
        assert follower.stdout.readline().endswith(" first\n")
        # the tail comes after the subscription, so "second" cannot fall in between
        fifo_trigger.touch()
        assert follower.stdout.readline().endswith(" second\n")
    finally:
        follower.kill()
        follower.wait()


def test_unreachable_init_is_one_clear_line(tmp_path):
    nobody = SimpleNamespace(env={"LLMOS_RUN_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"})
    result = llmos(nobody, "status")
    assert result.returncode == 2
    assert "init is not reachable" in result.stdout
