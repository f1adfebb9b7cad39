"""What one app's guest may use: memory, stack, CPU deadlines, tree size and its host's CPU budget.

Apart from guest.py so that the kernel, which sets these limits but never runs a guest, does not import
QuickJS and wasmtime to start (tens of milliseconds, seconds under TCG)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from llmos.settings import SandboxSettings

_SANDBOX = SandboxSettings()  # the [sandbox] defaults, declared in llmos/settings/sections.py
MAX_CPU_MS_PER_S = 800  # the budget scaled for a slow machine stops here (GuestLimits.scaled)


@dataclass(frozen=True)
class GuestLimits:
    memory_bytes: int = _SANDBOX.memory_mb * 1024 * 1024
    stack_bytes: int = _SANDBOX.stack_kb * 1024
    deadline_s: float = _SANDBOX.deadline_ms / 1000        # per callback
    load_deadline_s: float = _SANDBOX.load_deadline_ms / 1000  # top-level app code + first render
    max_nodes: int = _SANDBOX.max_nodes
    max_depth: int = 64
    max_tree_bytes: int = 1024 * 1024
    cpu_ms_per_s: int = _SANDBOX.cpu_ms_per_s  # CPU the app's host may use in any one second (cpu.py)
    start_cpu_ms: int = _SANDBOX.start_cpu_ms  # CPU after ready before the per-second budget applies

    @classmethod
    def from_settings(cls, values: SandboxSettings) -> GuestLimits:
        """The limits the [sandbox] section sets (the rest keep their defaults)."""
        return cls(memory_bytes=values.memory_mb * 1024 * 1024, stack_bytes=values.stack_kb * 1024,
                   deadline_s=values.deadline_ms / 1000, load_deadline_s=values.load_deadline_ms / 1000,
                   max_nodes=values.max_nodes, cpu_ms_per_s=values.cpu_ms_per_s,
                   start_cpu_ms=values.start_cpu_ms)

    def scaled(self, factor: float) -> GuestLimits:
        """The CPU limits for a machine `factor` times slower than the reference one (speed.py): the
        start allowance grows with it, the per-second budget too but to at most MAX_CPU_MS_PER_S, so
        an app never holds most of a core."""
        factor = max(1.0, factor)
        return replace(self, cpu_ms_per_s=min(MAX_CPU_MS_PER_S, max(self.cpu_ms_per_s,
                                                                      round(self.cpu_ms_per_s * factor))),
                       start_cpu_ms=round(self.start_cpu_ms * factor))
