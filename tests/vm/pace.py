"""How much slower than the reference machine this one runs the guest, so the VM tests' waits stretch with it.

Every wait in tests/vm is written for the reference machine (TCG on 2 busy cores, `llmos: ready` ~20 s after
QEMU starts) and goes through `scaled()`. The first VM of a test session measures the factor: its seconds to
`llmos: ready` over the reference figure, clamped to [1, 8]. That first boot cannot be scaled yet, so it
waits `FIRST_BOOT_S`; every later wait is `seconds * factor`. A machine 3.7x slower than the reference gets
3.7x the time for every step, instead of failing at whichever fixed timeout it meets first.
"""

from __future__ import annotations

from dataclasses import dataclass

REFERENCE_READY_S = 20.0  # QEMU start to `llmos: ready` on the machine the waits were written on
FACTOR_BOUNDS = (1.0, 8.0)  # KVM boots in seconds (still 1); beyond 8x a run is not worth waiting for
FIRST_BOOT_S = 600.0  # the first boot, before there is a factor (8x a slow TCG boot, with room)
TEST_BUDGET_S = 600.0  # pytest-timeout's per-test backstop at factor 1 (pyproject.toml's `timeout`)


@dataclass
class Pace:
    ready_s: float | None = None
    factor: float | None = None

    def measure(self, ready_s: float) -> float:
        """Fix the factor from the first boot's seconds to ready (later boots do not change it)."""
        if self.factor is None:
            low, high = FACTOR_BOUNDS
            self.ready_s, self.factor = ready_s, min(high, max(low, ready_s / REFERENCE_READY_S))
        return self.factor

    def describe(self) -> str:
        if self.factor is None:
            return "VM speed factor: not measured (no VM reached `llmos: ready`)"
        return (f"VM speed factor {self.factor:.2f}: first boot ready in {self.ready_s:.0f} s "
                f"(reference {REFERENCE_READY_S:.0f} s); VM test waits are scaled by it")


PACE = Pace()


def scaled(seconds: float) -> float:
    """A wait written for the reference machine, stretched for this one."""
    if PACE.factor is None:
        raise RuntimeError("the VM speed factor is not measured yet: boot a VM (the `boot` or `machine` "
                           "fixture, or `speed`) before the first scaled wait")
    return seconds * PACE.factor


def budget() -> float:
    """pytest-timeout's limit for one VM test: scaled once the factor is known, the most it may be before."""
    return TEST_BUDGET_S * (PACE.factor if PACE.factor is not None else FACTOR_BOUNDS[1])
