"""`llmos bench boot`: where boot time goes, and the full boot against the bare Python chain.

Two clocks are combined: the host's (seconds since QEMU started, when a line arrived) and the guest's
(`llmos: <phase> t=<CLOCK_BOOTTIME>` markers printed by stage 1, PID 1 and, once, the shell when its
first screen is shown: the launcher, or the welcome panel on a first boot). CLOCK_BOOTTIME starts
with the kernel, so the kernel's start on the host clock is stage 1's arrival minus its stamp.

Each run boots twice, one after the other on the same machine: the full image until the shell is
visible, and the bare chain (`llmos.bare=1`: the same kernel, initramfs and Python PID 1, with no
services) until PID 1 says ready. The ratio of the two is the cost of LLM OS's own services.
Prints one row per run and the medians. A benchmark, not a test.
"""

from __future__ import annotations

import re
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

from llmos.host.vm import BuiltImage, VirtualMachine

BARE_CMDLINE = "llmos.bare=1"


@dataclass(frozen=True)
class ServiceTimes:
    """One service's start and readiness, host clock (PID 1's console lines), for the breakdown."""

    name: str
    started: float
    ready: float | None  # None: not ready when the bench stopped watching


@dataclass(frozen=True)
class BootTimes:
    """Seconds since QEMU started (host clock) at which each phase began, plus guest-side durations."""

    kernel: float  # the kernel started: stage 1's host time minus its CLOCK_BOOTTIME stamp
    stage1: float
    pid1: float
    ready: float
    guest_pid1_to_ready: float  # CLOCK_BOOTTIME difference: independent of console latency
    shell: float | None  # the shell's first screen shown (host clock); None for the bare chain
    guest_shell: float | None  # its CLOCK_BOOTTIME stamp
    services: tuple[ServiceTimes, ...] = ()
    apps: float | None = None  # the kernel's "apps ready": an app opens at full speed from here


STARTED = re.compile(r"llmos: (?P<name>[\w.-]+): started pid \d+")
READY = re.compile(r"llmos: service (?P<name>[\w.-]+) ready t=")


def service_times(seen: list[tuple[float, str]]) -> tuple[ServiceTimes, ...]:
    """Each service's first start and first readiness, in the order they started."""
    started: dict[str, float] = {}
    ready: dict[str, float] = {}
    for host, line in seen:
        if (found := STARTED.search(line)) and found["name"] not in started:
            started[found["name"]] = host
        elif (found := READY.search(line)) and found["name"] not in ready:
            ready[found["name"]] = host
    return tuple(ServiceTimes(name, at, ready.get(name)) for name, at in started.items())


def measure(image: BuiltImage, uefi: bool = False, bare: bool = False, timeout: float = 600.0) -> BootTimes:
    until = r"llmos: ready t=" if bare else r"llmos: shell visible t="
    with tempfile.TemporaryDirectory(prefix="llmos-bench-") as workdir:
        machine = VirtualMachine(image, uefi=uefi, workdir=Path(workdir),
                                 extra_cmdline=BARE_CMDLINE if bare else "")
        with machine:
            machine.wait_for(until, timeout)
            machine.wait_for(r"llmos: ready t=", timeout)
            if not bare:
                machine.wait_for(r"llmos: apps ready t=", timeout)
            services = service_times(machine.seen)
            whole = ("ready", "shell visible", "apps ready")
            marks = {what.split()[0] if what not in whole else what: (host, guest)
                     for host, what, guest in reversed(machine.markers())}
    stage1_host, stage1_guest = marks["stage1"]
    shell, apps = marks.get("shell visible"), marks.get("apps ready")
    return BootTimes(kernel=max(0.0, stage1_host - stage1_guest), stage1=stage1_host, pid1=marks["pid1"][0],
                     ready=marks["ready"][0], guest_pid1_to_ready=marks["ready"][1] - marks["pid1"][1],
                     shell=shell[0] if shell else None, guest_shell=shell[1] if shell else None,
                     services=services, apps=apps[0] if apps else None)


def _row(label: str, times: BootTimes) -> str:
    shell = f"{times.shell:9.2f}" if times.shell is not None else f"{'-':>9}"
    return (f"{label:>10} {times.kernel:7.2f} {times.stage1:7.2f} {times.pid1:7.2f} {times.ready:7.2f} "
            f"{shell} {times.guest_pid1_to_ready:9.2f}")


def boot(variant: str = "qemu", runs: int = 3, uefi: bool = False) -> int:
    image = BuiltImage.find(variant)
    from llmos.host.vm import kvm_works

    print(f"boot phases, {'KVM' if kvm_works() else 'TCG'}, {'UEFI (OVMF)' if uefi else 'direct kernel'}, "
          f"{runs} runs of the full image and of the bare chain ({BARE_CMDLINE}); seconds since QEMU start")
    print(f"{'':>10} {'kernel':>7} {'stage1':>7} {'pid1':>7} {'ready':>7} {'shell':>9} {'pid1→rdy':>9}")
    full: list[BootTimes] = []
    bare: list[BootTimes] = []
    for run in range(1, runs + 1):
        # which of the pair boots first alternates, so what the host does between boots falls on both
        for bare_chain in ((False, True) if run % 2 else (True, False)):
            times = measure(image, uefi, bare=bare_chain)
            (bare if bare_chain else full).append(times)
            print(_row(f"{'bare' if bare_chain else 'full'} {run}", times), flush=True)
    visible = statistics.median(t.shell if t.shell is not None else t.ready for t in full)
    bare_ready = statistics.median(t.ready for t in bare)
    print(f"median shell visible {visible:.2f} s, bare chain ready {bare_ready:.2f} s: "
          f"ratio {visible / bare_ready:.2f}× (target at most 1.25×)")
    guest_full, guest_bare = (statistics.median(t.guest_pid1_to_ready for t in ts) for ts in (full, bare))
    print(f"median PID 1 → ready (guest clock): full {guest_full:.2f} s, bare {guest_bare:.2f} s")
    if opened := [t.apps - t.shell for t in full if t.apps is not None and t.shell is not None]:
        print(f"median shell visible → apps ready (apps open at full speed): "
              f"{statistics.median(opened):.2f} s")
    print(breakdown(full[-1]))
    return 0


def breakdown(times: BootTimes) -> str:
    """Where the last full boot's time went after PID 1 started: each service's start, readiness and
    the time between, seconds since PID 1 started (host clock), in the order they started."""
    lines = [f"where the last full boot went, seconds after PID 1 started ({times.pid1:.2f} s after QEMU):",
             f"{'service':>14} {'started':>8} {'ready':>8} {'took':>7}"]
    for service in times.services:
        ready = f"{service.ready - times.pid1:8.2f}" if service.ready is not None else f"{'-':>8}"
        took = f"{service.ready - service.started:7.2f}" if service.ready is not None else f"{'-':>7}"
        lines.append(f"{service.name:>14} {service.started - times.pid1:8.2f} {ready} {took}")
    if times.shell is not None:
        lines.append(f"{'shell visible':>14} {'':>8} {times.shell - times.pid1:8.2f}")
    if times.apps is not None:
        lines.append(f"{'apps ready':>14} {'':>8} {times.apps - times.pid1:8.2f}")
    return "\n".join(lines)
