"""Grounding an adapted example's numbers in the request: a number the model writes into a slot must be
one the request states, and a number the request plainly states goes where it can only go.

Why: measured with the embedded model, it writes numbers of its own into starting values and bounds
(a colour slider's 255 became 100, a random range 0 to 0), and it copies the example's number
however plainly the request states another (an SMS counter's 160 for "280 characters max"). The same
holds for a day named instead of a date ("days until halloween"): holidays.py knows the date.
"""

from __future__ import annotations

import re

from llmos.kernel.applang.adapt import Template
from llmos.kernel.applang.holidays import named_dates

_NUMBER_WORDS = {
    "zero": 0, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30,
    "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100,
    "thousand": 1000, "dozen": 12, "half": 0.5, "quarter": 0.25, "pair": 2, "couple": 2,
}  # not "one": "throw one for me" asks for a die, not a one-sided one
_STATED = re.compile(r"\d+(?:[.,]\d+)?|[a-z]+")
# the unit changes an example's starting value may need: seconds <-> minutes <-> hours, milliseconds
_UNITS = (1, 60, 1 / 60, 3600, 1 / 3600, 1000, 1 / 1000, 60_000, 100, 1 / 100)


def plain_numbers(text: str) -> set[float]:
    """The numbers a text states in digits or words, as written ("a pair of dice": 2; "d20": 20)."""
    found: set[float] = set()
    for token in _STATED.findall(text.lower().replace(",000", "000")):
        value = float(token.replace(",", ".")) if token[0].isdigit() else _NUMBER_WORDS.get(token)
        if value is not None:
            found.add(value)
    return found


def stated_numbers(request: str) -> set[float]:
    """The numbers a request states, in digits or words ("3 rounds", "half a minute", "a dozen"), each
    also in the units an app may keep it in (a minute as 60 seconds, 1000 ms, 100 percent)."""
    return {round(value * unit, 6) for value in plain_numbers(request) for unit in _UNITS}


def grounded(shape: Template, values: list[str], request: str) -> list[str]:
    """`values` with every number slot the model changed to a number the request does not state put back
    to the example's. Why: measured, the small model writes numbers of its own into starting values
    and bounds (a colour slider's 255 became 100, a random range 0 to 0), and an unasked number is
    never better than the example's working one."""
    stated = stated_numbers(request)
    out = []
    for slot, value in zip(shape.slots, values, strict=True):
        if slot.kind == "number" and value != slot.original:
            try:
                number = round(float(value), 6)
            except ValueError:
                number = None
            if number not in stated:
                value = slot.original
        out.append(value)
    return _named_day(shape, _one_number_left(shape, out, request), request)


_DIGITS = re.compile(r"(?<![\d.])\d+(?:\.\d+)?(?![\d.])")


def _one_number_left(shape: Template, values: list[str], request: str) -> list[str]:
    """When the request states exactly one number in digits that the app does not hold, and exactly one
    number slot still has the example's value, that number is meant for that slot ("a 280-character
    limit" in an SMS counter's `limit` of 160). Why: the small model copies the example's number
    however plainly the request states another; one number and one place to put it leave no doubt."""
    numbers = [slot for slot in shape.slots if slot.kind == "number"]
    kept = [i for i, slot in enumerate(shape.slots) if slot.kind == "number" and values[i] == slot.original]
    if len(numbers) != 1 or len(kept) != 1:
        return values
    held = {float(n) for n in _DIGITS.findall(shape.text(values))}
    unheld = {float(n) for n in _DIGITS.findall(request.replace(",000", "000"))} - held
    if len(unheld) != 1:
        return values
    (number,) = unheld
    out = list(values)
    out[kept[0]] = f"{number:g}" if number != int(number) else str(int(number))
    return out


def _named_day(shape: Template, values: list[str], request: str) -> list[str]:
    """When the request names one holiday on a fixed date and the app starts one state at a month-day,
    that state starts at the holiday's date, whatever the model wrote there."""
    dates = named_dates(request)
    days = [i for i, slot in enumerate(shape.slots) if slot.kind == "date" and len(slot.original) == 5]
    if len(dates) != 1 or len(days) != 1:
        return values
    out = list(values)
    out[days[0]] = dates[0]
    return out
