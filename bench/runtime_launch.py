"""Launch to first tree: spawn an app host process until it reports ready (first tree rendered),
with a cold compiled-wasm cache (empty directory) and a warm one.

    .venv/bin/python bench/runtime_launch.py [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from runtime_common import KernelThread

from llmos.kernel.sandbox.manager import AppManager

SEED = (Path(__file__).parent.parent / "tests" / "sdk" / "apps" / "pomodoro.ts").read_text()
SCOPES = ["storage:local", "timer", "notify", "ui:window"]


async def launch_once(kernel: KernelThread, cache: Path) -> float:
    manager = AppManager(kernel.socket, cache_dir=cache, run_dir=kernel.dir / "apps", confine=False)
    token = kernel.authority.mint("pomodoro", SCOPES)
    started = time.perf_counter()
    app = await manager.launch(SEED, token)
    elapsed = time.perf_counter() - started
    assert (await app.tree())["tree"]["type"] == "Window"
    await app.stop()
    return elapsed


async def main(runs: int) -> None:
    kernel = KernelThread()
    cold, warm = [], []
    for _ in range(runs):
        cache = Path(tempfile.mkdtemp(prefix="llw"))
        cold.append(await launch_once(kernel, cache))
        warm.append(await launch_once(kernel, cache))
    kernel.stop()
    c, w = statistics.median(cold), statistics.median(warm)
    print(f"launch to first tree, cold wasm cache: median {c * 1000:.0f} ms  (runs: "
          f"{', '.join(f'{x * 1000:.0f}' for x in cold)})")
    print(f"launch to first tree, warm wasm cache: median {w * 1000:.0f} ms  (runs: "
          f"{', '.join(f'{x * 1000:.0f}' for x in warm)})")
    print(f"cold / warm: {c / w:.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    asyncio.run(main(parser.parse_args().runs))
