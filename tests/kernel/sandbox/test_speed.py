"""The machine speed factor (kernel/sandbox/speed.py) and the CPU limits scaled by it."""

from __future__ import annotations

import pytest

from llmos.kernel.sandbox import speed
from llmos.kernel.sandbox.limits import MAX_CPU_MS_PER_S, GuestLimits
from llmos.settings.sections import SandboxSettings


def test_the_limits_come_from_the_sandbox_settings() -> None:
    limits = GuestLimits.from_settings(SandboxSettings(cpu_ms_per_s=300, start_cpu_ms=1200))
    assert (limits.cpu_ms_per_s, limits.start_cpu_ms) == (300, 1200)
    assert (GuestLimits().cpu_ms_per_s, GuestLimits().start_cpu_ms) == (500, 600)


@pytest.mark.parametrize(("factor", "budget", "allowance"), [
    (1.0, 500, 600), (0.5, 500, 600), (1.4, 700, 840), (4.0, MAX_CPU_MS_PER_S, 2400)])
def test_a_slower_machine_gets_proportionally_more_cpu_and_never_most_of_a_core(
        factor: float, budget: int, allowance: int) -> None:
    scaled = GuestLimits().scaled(factor)
    assert (scaled.cpu_ms_per_s, scaled.start_cpu_ms) == (budget, allowance)


def test_the_factor_is_measured_here_or_taken_from_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert speed.speed_factor(3.5) == 3.5
    measured = speed.speed_factor()
    assert 1.0 <= measured <= speed.MAX_FACTOR
    monkeypatch.setattr(speed, "measure", lambda repeats=7: speed.REFERENCE_S * 4.2)  # an emulated CPU
    assert speed.speed_factor() == 4.2
    monkeypatch.setattr(speed, "measure", lambda repeats=7: speed.REFERENCE_S / 3)  # a faster machine
    assert speed.speed_factor() == 1.0
    monkeypatch.setattr(speed, "measure", lambda repeats=7: speed.REFERENCE_S * 500)
    assert speed.speed_factor() == speed.MAX_FACTOR


def test_the_measurement_uses_process_cpu_and_is_short() -> None:
    seconds = speed.measure()
    assert 0 < seconds < 0.5


@pytest.mark.parametrize(("runs", "taken", "best"), [
    ([0.20, 0.070, 0.071, 0.5], 3, 0.070),  # TCG: the first run translates, the next two agree
    ([0.005, 0.0051], 2, 0.005),  # a quiet machine: two runs
    ([0.10, 0.30, 0.15, 0.12, 0.20, 0.13, 0.40, 0.01], 7, 0.10),  # never agreeing: at most 7, the best
    ([0.09, 0.30, 0.093], 3, 0.09),  # a preempted run in between does not confirm, a later one does
])
def test_the_runs_stop_once_two_agree(runs: list[float], taken: int, best: float) -> None:
    clock, done = iter(t for run in runs for t in (0.0, run)), []
    assert speed.measure(clock=lambda: next(clock), work=lambda: done.append(1)) == best
    assert len(done) == taken
