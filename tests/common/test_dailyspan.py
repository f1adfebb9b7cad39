"""Daily spans of local time (llmos/dailyspan.py), the reboot window of scheduled updates."""

from __future__ import annotations

import datetime as dt

import pytest

from llmos.dailyspan import DailySpan
from llmos.settings import UpdateSettings


def at(hour: int, minute: int, second: int = 0) -> dt.datetime:
    return dt.datetime(2026, 12, 2, hour, minute, second)


def test_inside_the_span_there_is_no_wait_and_outside_it_waits_for_the_next_start() -> None:
    night = DailySpan.parse("02:00-05:00")
    assert night is not None and str(night) == "02:00-05:00"
    assert night.wait_s(at(2, 0)) == 0 and night.wait_s(at(4, 59, 59)) == 0
    assert night.wait_s(at(5, 0)) == 21 * 3600  # its end is not part of it: tomorrow's start
    assert night.wait_s(at(1, 59, 30)) == 30
    assert night.wait_s(at(23, 0)) == 3 * 3600


def test_a_span_may_cross_midnight() -> None:
    late = DailySpan.parse(" 23:30-01:00 ")
    assert late is not None
    assert late.wait_s(at(23, 45)) == 0 and late.wait_s(at(0, 30)) == 0
    assert late.wait_s(at(1, 0)) == (22 * 60 + 30) * 60
    assert late.wait_s(at(23, 0)) == 30 * 60


@pytest.mark.parametrize(("text", "words"), [
    ("2-5", "expected a daily span such as 02:00-05:00"), ("24:00-05:00", "expected a daily span"),
    ("02:00 - 05:00", "expected a daily span"), ("03:00-03:00", "is empty"),
])
def test_a_bad_span_is_refused_and_so_is_the_setting(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        DailySpan.parse(text)
    with pytest.raises(ValueError, match=f"reboot_window.*{words}"):
        UpdateSettings().with_values({"reboot_window": text})
    assert DailySpan.parse("") is None and UpdateSettings().with_values({"reboot_window": "02:00-05:00"})
