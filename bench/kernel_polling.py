"""What the kernel's polling loop (kernel/busypoll.py) costs it in CPU, against asyncio's plain loop
(the baseline) in the same run.

A kernel process serves a no-op method on its app socket (bench/runtime_common.py's KernelProcess);
an app host's client (kernel/sandbox/syncrpc.py) calls it in runs, with a given amount of its own work
between two calls, then leaves it idle for a second. For each loop and gap: the time per call, and
the kernel's CPU (user + system, from /proc) as a share of one core.

    .venv/bin/python bench/kernel_polling.py [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from runtime_common import KernelProcess

from llmos.kernel import busypoll
from llmos.kernel.sandbox.syncrpc import SyncClient

GAPS_S = (0.0, 0.0002, 0.002)  # the app's own work between two calls
LOOPS = {"plain": asyncio.new_event_loop, "polling": busypoll.event_loop}


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _noop(_connection: object, _params: dict[str, Any]) -> None:
    return None


def _measure(loop: str) -> list[str]:
    kernel = KernelProcess(extra=lambda broker: {"bench.noop": _noop}, loop_factory=LOOPS[loop])
    client = SyncClient(kernel.socket)
    lines = []
    try:
        for gap in GAPS_S:
            calls = 1000 if gap < 0.001 else 300
            cpu, started = _cpu_s(kernel.pid), time.perf_counter()
            for _ in range(calls):
                client.call("bench.noop")
                until = time.perf_counter() + gap
                while time.perf_counter() < until:
                    pass  # the app's own work: a busy CPU, as in the guest
            wall = time.perf_counter() - started
            share = (_cpu_s(kernel.pid) - cpu) / wall * 100
            per_call = wall / calls * 1e6
            lines.append(f"  {loop:8s} {gap * 1e3:4.1f} ms between calls: {per_call:7.1f} us per call, "
                         f"kernel CPU {share:5.1f} % of a core")
        cpu = _cpu_s(kernel.pid)
        time.sleep(1.0)
        share = (_cpu_s(kernel.pid) - cpu) * 100
        lines.append(f"  {loop:8s} idle for 1 s: kernel CPU {share:5.1f} % of a core")
    finally:
        client.close()
        kernel.stop()
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print("the kernel's loop, plain (baseline) and polling, alternated:")
    for _ in range(args.rounds):
        for loop in LOOPS:
            print("\n".join(_measure(loop)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
