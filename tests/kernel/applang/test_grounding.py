"""Grounding an adapted example's numbers in the request (kernel/applang/grounding.py)."""

from __future__ import annotations

from llmos.kernel.applang.adapt import template
from llmos.kernel.applang.grounding import grounded, plain_numbers, stated_numbers
from llmos.kernel.applang.schema import canonical

TIP = {"title": "Tip", "state": [{"name": "bill", "type": "number"},
                                 {"name": "tip", "type": "number", "init": "15"}],
       "view": [{"kind": "input", "label": "Bill", "var": "bill"},
                {"kind": "text", "label": "Tip", "value": "'You tip ' + fixed(bill * tip / 100, 2)"}]}


def test_a_number_the_request_does_not_state_goes_back_to_the_examples() -> None:
    shape = template(canonical(TIP))  # slots: title, the tip's starting 15
    assert grounded(shape, ["Tip", "20"], "a tip calculator with a 20 percent tip") == ["Tip", "20"]
    assert grounded(shape, ["Tip", "100"], "a tip calculator") == ["Tip", "15"]  # unasked: the example's
    assert grounded(shape, ["Tip", "lots"], "a tip calculator") == ["Tip", "15"]


def test_stated_numbers_read_digits_words_and_the_units_an_app_keeps_them_in() -> None:
    stated = stated_numbers("3 rounds of half a minute, then a ten second rest, to 10,000 steps")
    assert {3, 30, 10, 10000, 10_000 / 1000} <= stated  # half a minute is 30 seconds
    assert 120 in stated_numbers("boil for 2 minutes") and 7 not in stated_numbers("boil for 2 minutes")


def test_the_one_number_a_request_states_goes_to_the_one_number_slot_the_model_left_alone() -> None:
    sms = {"title": "SMS", "state": [{"name": "message", "type": "text"}, {"name": "limit", "type": "number",
                                                                          "init": "160"}],
           "view": [{"kind": "text", "value": "text(limit - chars(message)) + ' left'"}]}
    shape = template(canonical(sms))
    assert grounded(shape, ["Tweet", "160"], "tweet checker, 280 characters max") == ["Tweet", "280"]
    assert grounded(shape, ["Tweet", "160"], "tweet checker") == ["Tweet", "160"]  # nothing stated
    assert grounded(shape, ["Tweet", "160"], "280 or 300 characters") == ["Tweet", "160"]  # which one?
    two = template(canonical(TIP))  # title and one number slot, and the number 100 in a formula
    assert grounded(two, ["Tip", "15"], "tip on a bill of 100") == ["Tip", "15"]  # the app holds 100


def test_a_named_holiday_is_the_date_a_countdown_starts_at() -> None:
    countdown = {"title": "Christmas", "state": [{"name": "day", "type": "text", "init": "'12-25'"}],
                 "view": [{"kind": "text", "value": "text(days_until(next_date(day))) + ' days'"}]}
    shape = template(canonical(countdown))  # slots: title, the date
    assert [slot.kind for slot in shape.slots] == ["text", "date"]
    assert grounded(shape, ["Halloween", "12-25"], "days until halloween") == ["Halloween", "10-31"]
    assert grounded(shape, ["Trip", "06-01"], "days until my trip") == ["Trip", "06-01"]  # no holiday named
    assert grounded(shape, ["Both", "12-25"], "days until halloween or christmas") == ["Both", "12-25"]


def test_plain_numbers_are_the_numbers_as_written() -> None:
    assert plain_numbers("throw a pair of dice") == {2}
    assert plain_numbers("roll a d20, or 3 of them") == {20, 3}
    assert plain_numbers("half a minute") == {0.5}  # no units: 30 seconds is stated_numbers' reading
    assert plain_numbers("roll one die") == set()  # "one" is not read as a number (see _NUMBER_WORDS)
