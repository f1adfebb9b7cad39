"""How much slower than the reference machine this one runs an app host's kind of work.

The CPU limits in [sandbox] (`cpu_ms_per_s`, `start_cpu_ms`) are tuned on the reference machine (a
2-core x86-64, docs/PERFORMANCE.md). The same app costs more CPU where the CPU is slower, above all
under QEMU's TCG, where a kiosk's full-screen first paint took 0.8-1 s. The kernel measures the factor
once when it starts (a few tens of ms, less than one app start) and scales both limits by it
(GuestLimits.scaled), so one setting holds on the developer's machine and in an emulated VM.

The workload mixes what an app host spends its CPU on: Python bytecode (the host's loop, JSON, layout)
and native code over buffers (zlib here, standing in for Cairo/pixman painting). The process clock is
used, not the wall clock, so other work on the machine does not read as slowness; the best of a few
runs is taken, so one preemption (or time a hypervisor stole from this VM) does not either, and the
runs stop once two agree.
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Callable

# Best of 7 of workload() on the reference machine (2-core x86-64, shared, no KVM; 2026-12-02).
REFERENCE_S = 0.005
MAX_FACTOR = 20.0   # a machine this much slower is not one the limits can be stretched to fit
_DATA = bytes(range(256)) * 256  # 64 KiB, compressible like pixels with text on a plain background


def workload() -> None:
    total = 0
    for i in range(30_000):
        total += (i * 7) ^ (total >> 3)
    json.loads(json.dumps([{"type": "Text", "props": {"size": "md"}, "children": [str(i)]}
                           for i in range(200)]))
    for level in (1, 6):
        zlib.compress(_DATA, level)


def measure(repeats: int = 7, agree: float = 0.05, clock: Callable[[], float] = time.process_time,
            work: Callable[[], None] = workload) -> float:
    """Seconds of process CPU the workload takes here: the best run, once a second run comes within
    `agree` of it (at most `repeats` runs). Under TCG the first run also pays for translating the code,
    and every run costs ~70 ms of the kernel's start, so the runs stop as soon as two confirm each other."""
    runs: list[float] = []
    for _ in range(repeats):
        start = clock()
        work()
        runs.append(clock() - start)
        best, second = sorted(runs)[:2] if len(runs) > 1 else (runs[0], float("inf"))
        if second <= best * (1 + agree):
            break
    return min(runs)


def speed_factor(setting: float = 0.0) -> float:
    """The factor the CPU limits are scaled by: the setting when it is positive, else measured here
    (never below 1: a faster machine keeps the reference limits)."""
    if setting > 0:
        return float(setting)
    return round(min(MAX_FACTOR, max(1.0, measure() / REFERENCE_S)), 2)


__all__ = ["MAX_FACTOR", "REFERENCE_S", "measure", "speed_factor", "workload"]
