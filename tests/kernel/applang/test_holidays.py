"""Holidays on a fixed date, read from how people write them (kernel/applang/holidays.py)."""

from __future__ import annotations

import pytest

from llmos.kernel.applang.adapt import DATE
from llmos.kernel.applang.holidays import FIXED, named_dates


@pytest.mark.parametrize(("text", "dates"), [
    ("days until halloween", ["10-31"]),
    ("Countdown to New Year\u2019s Eve", ["12-31"]),  # a typographic apostrophe; the eve, not the day
    ("new years day", ["01-01"]),
    ("how many sleeps till XMAS!", ["12-25"]),
    ("valentines", ["02-14"]),
    ("the 4th of July party", ["07-04"]),
    ("christmas eve, then christmas and christmas day again", ["12-24", "12-25"]),
    ("st. patrick's day", ["03-17"]),
])
def test_a_named_holiday_is_its_month_and_day(text: str, dates: list[str]) -> None:
    assert named_dates(text) == dates


@pytest.mark.parametrize("text", ["may I have a day off", "a tip calculator", "years of new yearsies",
                                  "easter egg hunt", "the day of the week"])
def test_words_that_only_look_like_a_holiday_name_none(text: str) -> None:
    assert named_dates(text) == []


SPELLED = ["new year's eve", "christmas eve", "christmas", "boxing day", "new year's day", "groundhog day",
           "valentine's day", "pi day", "saint patrick's day", "april fools' day", "earth day", "may day",
           "star wars day", "cinco de mayo", "juneteenth", "canada day", "fourth of july", "bastille day",
           "hallowe'en", "all saints' day", "bonfire night", "veterans day"]


def test_every_holiday_in_the_table_is_found_and_on_a_real_month_day() -> None:
    assert all(DATE.match(date) for _, date in FIXED)
    found = [date for name in SPELLED for date in named_dates(f"days until {name}, please")]
    assert found == [date for _, date in FIXED]  # each spelling finds its own row, in the table's order
