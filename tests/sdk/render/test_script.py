"""The declarative script language (llmos.sdk.render.script): parsing with located errors
(script_parse.py), and reading values off painted text (readings.py). Scripts run against real apps in
tests/sdk/render/test_driver.py and tests/bench."""

from __future__ import annotations

import datetime as dt
import itertools
import random

import pytest

from llmos.sdk.render.readings import (
    date_texts,
    durations_in,
    looks_random,
    next_day,
    numbers_in,
    time_texts,
    years_between,
)
from llmos.sdk.render.script_parse import ScriptError, parse_expectation, parse_step


def test_numbers_as_shown() -> None:
    assert numbers_in("Total: $1,234.50, change −3 (x2), 15% of 0.5") == [1234.5, -3, 15, 0.5]
    assert numbers_in("2026-12-01") == [2026, 12, 1]  # dashes between digits are not minus signs


@pytest.mark.parametrize(("text", "seconds"), [
    ("04:57", [297]), ("1:02:03", [3723]), ("0:05.2", [5.2]), ("2 min 5 s", [125]), ("12.5 s", [12.5]),
    ("Lap 1 00:05.0 | 0:10", [5.0, 10]), ("3 steps", []),
])
def test_durations_as_shown(text: str, seconds: list[float]) -> None:
    assert durations_in(text) == pytest.approx(seconds)


def test_clock_and_date_forms() -> None:
    now = dt.datetime(2026, 12, 1, 14, 5)
    assert {"14:05", "2:05", "02:05", "14:04", "14:06"} <= set(time_texts(now))
    assert {"2026-12-01", "12/1/2026", "1 December", "Dec 1"} <= set(date_texts(now.date()))
    assert next_day("12-25", dt.date(2026, 12, 1)) == dt.date(2026, 12, 25)
    assert next_day("01-01", dt.date(2026, 12, 1)) == dt.date(2027, 1, 1)
    assert years_between(dt.date(1990, 5, 17), dt.date(2026, 12, 1)) == 36
    assert years_between(dt.date(1990, 12, 2), dt.date(2026, 12, 1)) == 35


def test_randomness_is_told_from_counting_and_cycles() -> None:
    rng = random.Random(4)
    assert looks_random([(str(rng.randint(1, 6)),) for _ in range(10)]) is None
    assert looks_random([(rng.choice(["heads", "tails"]),) for _ in range(20)]) is None
    assert looks_random([("Dice", "3"), ("Dice", "5"), ("Dice", "1"), ("Dice", "6")]) is None
    assert "nothing varied" in looks_random([(str(i),) for i in range(10)])             # a counter
    assert "nothing varied" in looks_random([(str(i % 6 + 1),) for i in range(10)])     # a cycle
    assert "nothing varied" in looks_random([(("heads", "tails")[i % 2],) for i in range(20)])
    assert "nothing varied" in looks_random([(("heads", "heads", "tails")[i % 3],) for i in range(20)])
    # A fair coin's 12 flips repeat their first 6 one time in 64: two repetitions are chance, not a cycle.
    six = ["heads", "tails", "tails", "heads", "tails", "heads"]
    assert looks_random([(side,) for side in six * 2]) is None
    assert "nothing varied" in looks_random([(f"asked {i} times",) for i in range(8)])
    assert "showed nothing" in looks_random([("4",), ()])


@pytest.mark.parametrize(("sides", "presses"), [(("heads", "tails"), 16), (("rock", "paper", "scissors"), 10),
                                                (("north", "east", "south", "west"), 8)])
def test_chance_is_called_a_cycle_under_once_in_ten_thousand(sides: tuple[str, ...], presses: int) -> None:
    """Every series a fair coin or die can show: chance must almost never fail the check (the examples
    hold about thirty such checks, each run in every test run)."""
    series = list(itertools.product(sides, repeat=presses))
    failed = sum(1 for s in series if looks_random([(side,) for side in s]) is not None)
    assert failed / len(series) <= 1e-4


def test_a_coin_that_cycles_is_caught_with_enough_presses() -> None:
    alternating = [(("heads", "tails")[i % 2],) for i in range(24)]
    assert looks_random(alternating[:12]) is None  # chance alternates 12 flips one time in 2,048
    assert "nothing varied" in looks_random(alternating)  # and 24 one time in 8 million


@pytest.mark.parametrize(("raw", "message"), [
    ({"press": "add", "tims": 3}, "steps[0]: press takes no option 'tims'"),
    ({"press": "add", "type": "x"}, "a step needs one (and only one) of"),
    ({"type": "bill"}, "type needs text"),
    ({"wait": 0}, "wait must be milliseconds"),
    ({"drag": [[0.1, 0.2]]}, "drag must be a list of at least two"),
    ({"press": "roll", "sample": "("}, "press: sample is not a valid regular expression"),
    ({"expect": {"number": "12"}}, "steps[0].expect: number must be a number"),
    ({"set": "red", "value": True}, "option value has the wrong type"),
])
def test_bad_steps_are_located(raw: dict, message: str) -> None:
    with pytest.raises(ScriptError) as error:
        parse_step(raw, "steps[0]")
    assert message in str(error.value)


def test_expectations_parse_and_nest() -> None:
    any_of = parse_expectation({"any": [{"text": "a"}, {"number": 2, "tol": 0.5}]}, "expect[0]")
    assert [e.kind for e in any_of.value] == ["text", "number"] and any_of.value[1].opt("tol") == 0.5
    with pytest.raises(ScriptError, match=r"expect\[0\]\.any\[1\]: time_now must be"):
        parse_expectation({"any": [{"text": "a"}, {"time_now": "Mars/Olympus"}]}, "expect[0]")
    with pytest.raises(ScriptError, match="days_until must be a date"):
        parse_expectation({"days_until": "christmas"}, "expect[0]")
