"""Crash safety for real: a child process saves apps in a loop and is killed with SIGKILL at random
points; after each kill the registry reopens consistent and every save that returned is there."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

from llmos.kernel.registry import Registry

CHILD = r"""
import sys
from pathlib import Path
from llmos.kernel.registry import Registry
state, start = Path(sys.argv[1]), int(sys.argv[2])
with Registry(state) as registry:
    print("open", flush=True)
    for n in range(start, start + 10_000):
        code = f"import {{ ui }} from '@llm-os/sdk';\nconst n = {n};\n"
        record = registry.add(f"app number {n}", code, "m", ["ui:window"])
        if n % 3 == 0:
            registry.rate(record.codeHash, n % 5)
        print(record.codeHash, flush=True)
"""


def test_kill_during_saves_loses_nothing(tmp_path: Path) -> None:
    state = tmp_path / "state"
    rng = random.Random(1234)
    saved: set[str] = set()
    for round_ in range(6):
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(state), str(round_ * 1000)],
                                 stdout=subprocess.PIPE, text=True)
        assert child.stdout.readline().strip() == "open"
        for _ in range(rng.randint(1, 6)):
            line = child.stdout.readline().strip()
            assert line.startswith("sha256:")
            saved.add(line)
        # The child is inside its next save now (it saves back to back); vary the moment of death.
        for _ in range(rng.randint(0, 20_000)):
            pass
        os.kill(child.pid, signal.SIGKILL)
        for line in child.stdout.read().split():  # saves that completed before the kill landed
            saved.add(line)
        child.wait(timeout=30)
        child.stdout.close()
        with Registry(state) as registry:
            in_git = registry.history.entries()
            assert registry.index.blobs() == {k: v.decode() for k, v in in_git.items()}
            assert registry.index.synced_head == registry.history.head().decode()
            for digest in saved:
                registry.get(digest)  # present, hash and signature verify
    subprocess.run(["git", "--git-dir", str(state / "registry.git"), "fsck"], check=True, capture_output=True)
