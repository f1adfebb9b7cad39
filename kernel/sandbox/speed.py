"""How much slower than the reference machine this one runs an app host's kind of work.

The CPU limits in [sandbox] (`cpu_ms_per_s`, `start_cpu_ms`) are tuned on the reference machine (a
2-core x86-64, docs/PERFORMANCE.md). The same app costs more CPU where the CPU is slower, above all
under QEMU's TCG, where a kiosk's full-screen first paint took 0.8-1 s. The kernel measures the factor
once when it starts (a few tens of ms, less than one app start) and scales both limits by it
(GuestLimits.scaled), so one setting holds on the developer's machine and in an emulated VM.

The workload mixes what an app host spends its CPU on: Python bytecode (the host's loop, JSON, layout)
and native code over buffers (zlib here, standing in for Cairo/pixman painting). The process clock is
used, not the wall clock, so other work on the machine does not read as slowness; the best of a few
runs is taken, so one preemption (or time a hypervisor stole from this VM) does not either.
"""

from __future__ import annotations

import json
import time
import zlib

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


def measure(repeats: int = 7) -> float:
    """Seconds of process CPU the workload takes here, best of `repeats`."""
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        workload()
        best = min(best, time.process_time() - start)
    return best


def speed_factor(setting: float = 0.0) -> float:
    """The factor the CPU limits are scaled by: the setting when it is positive, else measured here
    (never below 1: a faster machine keeps the reference limits)."""
    if setting > 0:
        return float(setting)
    return round(min(MAX_FACTOR, max(1.0, measure() / REFERENCE_S)), 2)


__all__ = ["MAX_FACTOR", "REFERENCE_S", "measure", "speed_factor", "workload"]
