"""`llmos app remote|pull|push|trust|key|provenance` as real subprocesses, two machines' state
directories and a real `git daemon` on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from llmos.kernel.starter import STARTERS

from .gitserver import bare, free_port, git_daemon


def llmos(state: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "LLMOS_STATE_DIR": str(state), "LLMOS_CONFIG": str(state / "none.toml")}
    return subprocess.run([sys.executable, "-m", "llmos.cli", "app", *args], env=env, capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)


def ok(state: Path, *args: str) -> str:
    done = llmos(state, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_share_and_trust_from_the_command_line(tmp_path: Path) -> None:
    alice, bob = tmp_path / "alice", tmp_path / "bob"
    bare(tmp_path / "srv" / "hub.git")
    ok(alice, "seed")
    with git_daemon(tmp_path / "srv") as base:
        url = f"{base}/hub.git"
        assert ok(alice, "remote", "add", "hub", url).strip() == f"remote hub: {url}"
        assert "published" in ok(alice, "push", "hub")
        ok(bob, "remote", "add", "hub", url)
        [listed] = json.loads(ok(bob, "remote", "list", "--json"))
        assert listed["name"] == "hub" and listed["url"] == url and listed["seen"] is None
        pulled = ok(bob, "pull")
        assert f"hub: {len(STARTERS)} new apps ({len(STARTERS)} untrusted" in pulled
        assert ok(bob, "pull", "hub").strip() == "hub: up to date"
        found = ok(bob, "search", "pomodoro timer")
        assert "[hub, untrusted]" in found
        pomodoro = found.split()[0]
        assert "UNTRUSTED" in ok(bob, "provenance", pomodoro)
        keyfile = tmp_path / "alice.pem"
        keyfile.write_text(ok(alice, "key", "show", "--pem"))
        assert ok(bob, "trust", "add", "alice", str(keyfile)).startswith("trusting alice: ")
        [trusted] = json.loads(ok(bob, "trust", "list", "--json"))
        assert trusted["name"] == "alice" and trusted["key"] == ok(alice, "key", "show").strip()
        assert "[hub]" in ok(bob, "search", "pomodoro timer")
        shown = ok(bob, "provenance", pomodoro)
        assert "from hub, by alice" in shown and "audited by alice" in shown and "UNTRUSTED" not in shown
        private = llmos(bob, "trust", "add", "oops", str(alice / "keys" / "registry-ed25519.pem"))
        assert private.returncode == 1 and "this is a private key" in private.stderr
        ok(bob, "rate", pomodoro, "4")
        assert "published" in ok(bob, "push", "hub")
        assert "1 ratings/audits/keys" in ok(alice, "pull", "hub")
        assert "new key" in ok(alice, "key", "rotate")
        ok(bob, "trust", "rm", "alice")
        assert "[hub, untrusted]" in ok(bob, "search", "pomodoro timer")
        ok(bob, "remote", "rm", "hub")
        assert json.loads(ok(bob, "remote", "list", "--json")) == []
    ok(alice, "remote", "add", "gone", f"git://127.0.0.1:{free_port()}/hub.git")
    down = llmos(alice, "pull", "gone")
    assert down.returncode == 1 and "cannot be reached: connection refused" in down.stderr
    bad = llmos(alice, "remote", "add", "x", "ssh://example.org/r.git")
    assert bad.returncode == 1 and "use http(s)://, git:// or a local path" in bad.stderr

