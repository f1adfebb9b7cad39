"""`llmos app ...` as a real subprocess against a temporary state directory (no model needed: the
starter set answers from the cache)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from llmos.kernel.starter import STARTERS


def llmos(state: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "LLMOS_STATE_DIR": str(state), "LLMOS_CONFIG": str(state / "none.toml")}
    return subprocess.run([sys.executable, "-m", "llmos.cli", "app", *args], env=env, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)


def test_cli_round_trip(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert f"{len(STARTERS)} new app(s)" in llmos(state, "seed").stdout
    listed = json.loads(llmos(state, "list", "--json").stdout)
    assert len(listed) == len(STARTERS)
    pomodoro = next(r for r in listed if "pomodoro" in r["prompt"])["codeHash"]
    new = llmos(state, "new", "pomodoro timer with break reminders", "--yes", "--no-run", "--json")
    events = [json.loads(line) for line in new.stdout.splitlines()]
    assert [e["event"] for e in events] == ["looked-up", "offered-cached", "needs-approval", "approved"]
    assert new.returncode == 0 and events[1]["hash"] == pomodoro
    refused = llmos(state, "new", "pomodoro timer with break reminders", "--yes", "--deny", "timer")
    assert refused.returncode == 1 and "which you did not allow" in refused.stderr
    assert llmos(state, "new", "  ").returncode == 1
    assert llmos(state, "rate", pomodoro[7:15], "5").returncode == 0
    assert json.loads(llmos(state, "show", pomodoro[7:15], "--json").stdout)["rating"] == 5.0
    bundle = tmp_path / "b.json"
    assert llmos(state, "export", pomodoro, "-o", str(bundle)).returncode == 0
    assert "imported 1" in llmos(tmp_path / "other", "import", str(bundle)).stdout
    assert llmos(state, "rm", pomodoro[7:15]).returncode == 0
    missing = llmos(state, "show", pomodoro[7:15])
    assert missing.returncode == 1 and "no app" in missing.stderr
