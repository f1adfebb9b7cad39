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
