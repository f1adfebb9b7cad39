"""`llmos bench boot`: where boot time goes, from the timestamps on the serial console.

Two clocks are combined: the host's (seconds since QEMU started, when a line arrived) and the guest's
(`llmos: <phase> t=<CLOCK_BOOTTIME>` markers printed by stage 1 and PID 1). CLOCK_BOOTTIME starts with the
kernel, so the kernel's start on the host clock is stage 1's arrival minus its stamp.
Prints one row per run and the median. A benchmark, not a test.
"""

from __future__ import annotations

import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

from llmos.host.vm import BuiltImage, VirtualMachine

PHASES = ("kernel", "stage1", "pid1", "ready")


@dataclass
class BootTimes:
    """Seconds since QEMU started (host clock) at which each phase began, plus guest-side durations."""

    kernel: float  # the kernel started: stage 1's host time minus its CLOCK_BOOTTIME stamp
    stage1: float
    pid1: float
    ready: float
    guest_pid1_to_ready: float  # CLOCK_BOOTTIME difference: independent of console latency


def measure(image: BuiltImage, uefi: bool = False, timeout: float = 600.0) -> BootTimes:
    with tempfile.TemporaryDirectory(prefix="llmos-bench-") as workdir:
        machine = VirtualMachine(image, uefi=uefi, workdir=Path(workdir), extra_cmdline="")
        with machine:
            machine.wait_for(r"llmos: ready t=", timeout)
            marks = {what.split()[0] if what != "ready" else "ready": (host, guest)
                     for host, what, guest in reversed(machine.markers())}
    stage1_host, stage1_guest = marks["stage1"]
    return BootTimes(kernel=max(0.0, stage1_host - stage1_guest), stage1=stage1_host, pid1=marks["pid1"][0],
                     ready=marks["ready"][0], guest_pid1_to_ready=marks["ready"][1] - marks["pid1"][1])


def boot(variant: str = "qemu", runs: int = 3, uefi: bool = False) -> int:
    image = BuiltImage.find(variant)
    from llmos.host.vm import kvm_works

    print(f"boot phases, {'KVM' if kvm_works() else 'TCG'}, {'UEFI (OVMF)' if uefi else 'direct kernel'}, "
          f"{runs} runs; seconds since QEMU start")
    print(f"{'run':>4} {'kernel':>8} {'stage1':>8} {'pid1':>8} {'ready':>8} {'pid1→ready (guest)':>20}")
    results = []
    for run in range(1, runs + 1):
        times = measure(image, uefi)
        results.append(times)
        print(f"{run:>4} {times.kernel:8.2f} {times.stage1:8.2f} {times.pid1:8.2f} {times.ready:8.2f} "
              f"{times.guest_pid1_to_ready:20.2f}")
    medians = [statistics.median(getattr(t, name) for t in results)
               for name in (*PHASES, "guest_pid1_to_ready")]
    print(f"{'med':>4} " + " ".join(f"{value:8.2f}" for value in medians[:4]) + f" {medians[4]:20.2f}")
    return 0
