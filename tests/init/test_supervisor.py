"""The supervisor as a real process with real services: order, readiness, restarts, reaping, shutdown."""

from __future__ import annotations

import itertools
import os
import re
import signal
import time
from pathlib import Path

import pytest

from llmos import ipc

from .init_harness import socket_service, wait_until

FAST = {"backoff_initial": 0.1, "backoff_max": 2.0}


def _index(lines: list[str], text: str) -> int:
    return next(i for i, line in enumerate(lines) if text in line)


def test_starts_in_dependency_order_after_readiness(start_init):
    init = start_init([
        socket_service("c", requires=["b"]),
        socket_service("b", delay=0.3, requires=["a"]),
        socket_service("a", delay=0.2),
        {"name": "free", "argv": "echo free; exec sleep 1000"},
    ])
    init.wait_line("llmos: ready t=")
    lines = init.lines()
    assert _index(lines, "service a ready") < _index(lines, "b: started") < _index(lines, "service b ready")
    assert _index(lines, "service b ready") < _index(lines, "c: started")
    # free has no requirements: it does not wait for the slow chain
    assert _index(lines, "free: started") < _index(lines, "service a ready")
    assert re.search(r"^llmos: pid1 start t=\d+\.\d{3}$", lines[0])
    states = {s["name"]: s["state"] for s in init.call("status")["services"]}
    assert states == {"a": "ready", "b": "ready", "c": "ready", "free": "ready"}


def test_restart_with_growing_backoff_then_gives_up(start_init):
    init = start_init([{"name": "crash", "argv": "echo boom; exit 3", "give_up_count": 4, **FAST}])
    failed = init.wait_state("crash", "failed")
    assert "gave up after 4 failures" in failed["reason"]
    assert failed["restarts"] == 3
    started = [line for line in init.call("logs", service="init", lines=500)["lines"]
               if "crash: started" in line["text"]]
    assert len(started) == 4
    gaps = [b["at"] - a["at"] for a, b in itertools.pairwise(started)]
    assert gaps[0] < gaps[1] < gaps[2], gaps
    assert gaps[2] >= 0.4
    assert "crash: failed: gave up" in init.output()
    assert [line["text"] for line in init.call("logs", service="crash")["lines"]] == ["boom"] * 4
    init.wait_line("llmos: ready t=")  # a failed service counts as settled


def test_exit_zero_and_125_are_not_restarted(start_init):
    init = start_init([
        {"name": "ok", "argv": "exit 0"},
        {"name": "quit", "argv": "exit 125", **FAST},
        {"name": "job", "argv": "echo did it", "oneshot": True},
    ])
    init.wait_line("llmos: ready t=")
    assert init.wait_state("ok", "done")["restarts"] == 0
    quit_ = init.wait_state("quit", "stopped")
    assert quit_["restarts"] == 0 and "125" in quit_["reason"]
    assert init.wait_state("job", "done")["pid"] is None
    time.sleep(0.3)  # long enough for a 0.1 s backoff restart to show up if it were (wrongly) scheduled
    assert init.output().count("quit: started") == 1
    assert init.output().count("ok: started") == 1


def test_missing_binary_fails_clearly_and_others_run(start_init):
    init = start_init([
        {"name": "ghost", "argv": ["/nonexistent/ghostd", "--serve"]},
        socket_service("real"),
    ])
    ghost = init.wait_state("ghost", "failed")
    assert "cannot start /nonexistent/ghostd" in ghost["reason"]
    assert "No such file or directory" in ghost["reason"]
    init.wait_line("ghost: failed: cannot start /nonexistent/ghostd")
    assert init.wait_state("real", "ready")["pid"] > 0


def test_dependents_of_a_failed_service_fail(start_init):
    init = start_init([{"name": "base", "argv": ["/nonexistent"]},
                       {"name": "top", "argv": "sleep 100", "requires": ["base"]}])
    assert "requirement base failed" in init.wait_state("top", "failed")["reason"]
    init.wait_line("llmos: ready t=")


def test_dependents_come_back_with_their_requirement(start_init, tmp_path):
    gate = tmp_path / "gate"
    up = tmp_path / "up"
    init = start_init([{"name": "base", "argv": f"test -e {gate} || exit 1; touch {up}; exec sleep 1000",
                        "ready": f"path:{up}", "give_up_count": 1},
                       {"name": "top", "argv": "exec sleep 1000", "requires": ["base"]}])
    init.wait_state("top", "failed")
    gate.touch()
    init.call("start", service="base")
    init.wait_state("top", "ready")
    init.wait_line("top: base is back; starting")


def test_hang_before_ready_is_killed_and_restarted(start_init, tmp_path):
    flag = tmp_path / "never"
    init = start_init([{"name": "hang", "argv": "echo hanging; exec sleep 1000", "ready": f"path:{flag}",
                        "ready_timeout": 0.4, "give_up_count": 2, **FAST}])
    failed = init.wait_state("hang", "failed")
    assert failed["restarts"] == 1
    assert init.output().count("hang: not ready after 0.4 s; killing it") == 2
    assert "not ready in time" in failed["reason"]


def test_path_readiness(start_init, tmp_path):
    flag = tmp_path / "flag"
    init = start_init([{"name": "p", "argv": f"sleep 0.3; touch {flag}; exec sleep 1000",
                        "ready": f"path:{flag}"},
                       {"name": "after", "argv": "exec sleep 1000", "requires": ["p"]}])
    init.wait_state("after", "ready")
    assert flag.exists()


def _zombie_children(pid: int) -> list[int]:
    zombies = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        fields = text.rsplit(")", 1)[1].split()
        if fields[0] == "Z" and int(fields[1]) == pid:
            zombies.append(int(entry.name))
    return zombies


def test_orphans_are_reaped(start_init, tmp_path):
    pidfile = tmp_path / "orphan.pid"
    # The subshell exits at once, so the sleep is orphaned and reparented to the supervisor.
    init = start_init([{"name": "forker", "argv": f"(sleep 0.3 & echo $! > {pidfile}); exec sleep 1000"}])
    init.wait_state("forker", "ready")
    orphan = int(wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), what="orphan pid"))
    wait_until(lambda: not Path(f"/proc/{orphan}").exists(), 5, "the orphan to be reaped")
    assert init.call("status")["orphans_reaped"] >= 1
    assert _zombie_children(init.proc.pid) == []


def test_flood_does_not_block_status(start_init):
    flood = "import sys\nline = 'x' * 300 + '\\n'\nwhile True:\n    sys.stdout.write(line)\n"
    init = start_init([{"name": "flood", "argv": ["python3", "-c", flood]}])
    init.wait_state("flood", "ready")
    wait_until(lambda: init.call("logs", service="flood", lines=1)["dropped"] > 20000, 20,
               "megabytes of output")
    for _ in range(10):
        began = time.monotonic()
        init.call("status", timeout=2.0)
        assert time.monotonic() - began < 1.0
    logs = init.call("logs", service="flood", lines=100000)
    assert len(logs["lines"]) == 2000  # bounded ring, oldest dropped
    assert logs["lines"][-1]["text"] == "x" * 300


def test_long_lines_are_capped(start_init):
    code = "print('y' * 5000); print('! important')"
    init = start_init([{"name": "wide", "argv": ["python3", "-c", code]}])
    init.wait_state("wide", "done")
    lines = init.call("logs", service="wide")["lines"]
    assert len(lines[0]["text"]) == 1024 and lines[0]["text"].endswith("…")
    init.wait_line("wide: important")  # lines starting with "!" are echoed to the console


def test_sigterm_stops_in_reverse_order_and_kills_the_stubborn(start_init):
    init = start_init([
        {"name": "a", "argv": "exec sleep 1000"},
        {"name": "b", "argv": "trap '' TERM; echo stubborn; while :; do sleep 0.05; done", "requires": ["a"],
         "stop_timeout": 0.5},
        {"name": "c", "argv": "exec sleep 1000", "requires": ["b"]},
        {"name": "d", "argv": "exec sleep 1000", "requires": ["a"]},
    ])
    init.wait_line("llmos: ready t=")
    assert init.stop() == 0
    lines = init.lines()
    assert _index(lines, "c: stopped") < _index(lines, "b: stopping") < _index(lines, "b: stopped")
    assert _index(lines, "b: stopped") < _index(lines, "a: stopping")
    assert _index(lines, "d: stopped") < _index(lines, "a: stopping")
    assert "b: no exit 0.5 s after SIGTERM; SIGKILL" in init.output()
    assert "b: stopped (killed by SIGKILL)" in init.output()
    assert "shutdown complete" not in init.output()  # never reboots outside PID 1


def test_control_stop_start_restart(start_init):
    init = start_init([socket_service("s")])
    first = init.wait_state("s", "ready")["pid"]
    assert init.call("stop", service="s")["state"] == "stopped"
    assert init.service("s")["pid"] is None
    init.call("start", service="s")
    second = init.wait_state("s", "ready")["pid"]
    init.call("restart", service="s")
    third = init.wait_state("s", "ready")["pid"]
    assert len({first, second, third}) == 3
    with pytest.raises(ipc.RpcError, match="no service 'nope'"):
        init.call("restart", service="nope")


def test_control_poweroff_outside_pid1_just_exits(start_init):
    init = start_init([{"name": "s", "argv": "exec sleep 1000"}])
    init.wait_state("s", "ready")
    assert init.call("poweroff") == {"ok": True}
    assert init.proc.wait(10) == 0
    assert "s: stopped" in init.output()
    assert "shutdown complete" not in init.output()


def test_injected_exceptions_are_survived(start_init):
    init = start_init([{"name": "s", "argv": "echo up; exec sleep 1000", **FAST}])
    pid = init.wait_state("s", "ready")["pid"]
    with pytest.raises(ipc.RpcError, match="injected fault in a handler"):
        init.call("fault", where="handler")
    init.call("fault", where="loop")
    init.wait_line("init: survived an error: RuntimeError: injected fault in a loop callback")
    init.call("fault", where="service", service="s")
    init.wait_line("s: supervisor error RuntimeError: injected fault")
    # supervision goes on: the service's process was adopted, and a crash is still restarted
    assert init.service("s")["pid"] == pid
    os.kill(pid, signal.SIGKILL)
    restarted = wait_until(lambda: (s := init.service("s"))["pid"] not in (None, pid) and s, what="restart")
    assert restarted["restarts"] == 1
    assert init.proc.poll() is None


def test_bad_config_is_reported_and_defaults_used(start_init):
    init = start_init([{"name": "s", "argv": "exec sleep 1000"}, {"name": "off", "argv": "exec sleep 1000"}],
                      config="[services.off]\nenabled = false\n[system\nbroken")
    init.wait_line("llmos: config:")
    init.wait_line("llmos: ready t=")
    assert init.service("off")["state"] == "ready"  # the broken file is ignored as a whole


def test_config_disables_and_conditions(start_init, tmp_path):
    (tmp_path / "cmdline").write_text("quiet llmos.agent=1\n")
    init = start_init([{"name": "s", "argv": "exec sleep 1000"}, {"name": "off", "argv": "exec sleep 1000"},
                       {"name": "agent", "argv": "exec sleep 1000", "condition": "cmdline:llmos.agent=1"},
                       {"name": "debug", "argv": "exec sleep 1000", "condition": "cmdline:llmos.debug"}],
                      config="[services.off]\nenabled = false\n")
    init.wait_line("llmos: ready t=")
    states = {s["name"]: s["state"] for s in init.call("status")["services"]}
    assert states == {"s": "ready", "off": "disabled", "agent": "ready", "debug": "disabled"}


def test_restart_while_waiting_keeps_waiting(start_init, tmp_path):
    gate = tmp_path / "gate"
    init = start_init([{"name": "base", "argv": "exec sleep 1000", "ready": f"path:{gate}"},
                       {"name": "top", "argv": "exec sleep 1000", "requires": ["base"]}])
    init.wait_state("top", "waiting")
    init.call("restart", service="top")
    assert init.service("top")["state"] == "waiting"
    assert "top: started" not in init.output()  # its requirement is still not ready
    gate.touch()
    init.wait_state("top", "ready")


def test_services_do_not_inherit_the_boot_time_fixed_hash_seed(start_init):
    """PYTHONHASHSEED=0 on the kernel command line lets Python start before entropy is ready; services, and
    the untrusted apps they host, must get randomised hashing back."""
    init = start_init([{"name": "seed", "argv": "echo seed=$PYTHONHASHSEED", "oneshot": True}],
                      env={"PYTHONHASHSEED": "0"})
    init.wait_state("seed", "done")
    assert [line["text"] for line in init.call("logs", service="seed")["lines"]] == ["seed=random"]


def _log(init, service: str) -> list[str]:
    return [line["text"] for line in init.call("logs", service=service)["lines"]]


# A service that awaits: says it started, reads PID 1's one line, says what it heard, stays up.
WAITER = ["python3", "-c", "import os, time; print('started', flush=True); "
          "line = os.read(int(os.environ['LLMOS_AWAIT_FD']), 1024).decode().strip(); "
          "print('heard:', line, flush=True); time.sleep(1000)"]


def test_a_service_starts_beside_what_it_awaits_and_hears_when_it_is_up(start_init, tmp_path):
    gate = tmp_path / "gate"
    init = start_init([{"name": "slow", "argv": f"until test -e {gate}; do sleep 0.02; done",
                        "oneshot": True},
                       {"name": "waiter", "argv": WAITER, "awaits": ["slow"]}])
    wait_until(lambda: _log(init, "waiter") == ["started"], 10, "waiter to start before slow is done")
    assert init.service("slow")["state"] == "starting"
    gate.touch()
    wait_until(lambda: "heard: ready" in _log(init, "waiter"), 10, "waiter to hear that slow is done")
    lines = init.lines()
    assert _index(lines, "waiter: started") < _index(lines, "service slow ready")
    # A restarted service gets a fresh pipe, answered at once since slow has settled already.
    init.call("restart", service="waiter")
    wait_until(lambda: _log(init, "waiter").count("heard: ready") == 2, 10, "the restarted waiter's answer")


def test_an_awaited_service_that_fails_is_named_with_its_reason(start_init, tmp_path):
    init = start_init([{"name": "broken", "argv": "sleep 0.2; exit 3", "give_up_count": 1,
                        "ready": f"path:{tmp_path / 'never'}"},
                       {"name": "waiter", "argv": WAITER, "awaits": ["broken"]}])
    wait_until(lambda: any(line.startswith("heard: not ready: broken failed: ")
                           for line in _log(init, "waiter")), 10, "waiter to hear that broken failed")
    assert init.service("waiter")["state"] == "ready"  # awaiting is not requiring: it runs on


def test_services_without_awaits_get_no_await_descriptor(start_init):
    init = start_init([{"name": "plain", "argv": 'echo "fd=${LLMOS_AWAIT_FD:-none}" $(ls /proc/self/fd); '
                                                 "exec sleep 1000"}])
    wait_until(lambda: any(line.startswith("fd=") for line in _log(init, "plain")), 10, "plain's output")
    assert _log(init, "plain") == ["fd=none 0 1 2 3"]  # ls's own directory descriptor is 3


def test_a_service_after_another_starts_once_it_is_up(start_init, tmp_path):
    gate = tmp_path / "gate"
    init = start_init([{"name": "first", "argv": "exec sleep 1000", "ready": f"path:{gate}"},
                       {"name": "second", "argv": "echo second; exec sleep 1000", "after": ["first"]}])
    wait_until(lambda: init.service("first")["state"] == "starting", 10, "first to start")
    second = init.service("second")
    assert second["state"] == "waiting" and second["reason"] == "starts after first"
    assert _log(init, "second") == []
    gate.touch()
    init.wait_state("second", "ready")
    lines = init.lines()
    assert _index(lines, "service first ready") < _index(lines, "second: started")


def test_a_service_after_one_that_fails_still_starts(start_init, tmp_path):
    """Ordering alone: a failure, even one that is retried, does not hold the later service back."""
    init = start_init([{"name": "broken", "argv": "sleep 0.2; exit 3", "give_up_count": 100,
                        "backoff_initial": 30.0, "backoff_max": 30.0, "ready": f"path:{tmp_path / 'never'}"},
                       {"name": "later", "argv": "echo later; exec sleep 1000", "after": ["broken"]}])
    init.wait_state("later", "ready")
    assert init.service("broken")["state"] == "backoff"  # failed once, retried in 30 s: later ran anyway
