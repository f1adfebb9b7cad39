"""The places a request names and those an app shows the time of (kernel/applang/places.py)."""

from __future__ import annotations

import json
from typing import Any

from llmos.kernel.applang.document import read_document
from llmos.kernel.applang.places import misfit, named_places, shown_places, with_places
from llmos.kernel.applang.validate import validate

TOKYO = {"title": "Tokyo Time", "state": [], "view": [
    {"kind": "text", "value": "time(now(), 'Tokyo')", "size": "xl"},
    {"kind": "text", "value": "weekday(now(), 'Tokyo') + ' ' + date(now(), 'Tokyo')"},
    {"kind": "text", "label": "Here", "value": "hhmm(now())"}]}
PAIR = {"title": "Time Zones", "state": [], "view": [
    {"kind": "text", "label": "Sydney", "value": "hhmm(now(), 'Sydney')"},
    {"kind": "text", "label": "Los Angeles", "value": "hhmm(now(), 'Los Angeles')"},
    {"kind": "text", "label": "UTC", "value": "hhmm(now(), 'UTC')"}]}


def valid(document: dict[str, Any]) -> bool:
    parsed, errors = read_document(document)
    return not (errors or validate(parsed))


def test_the_places_a_request_names_in_order_each_zone_once() -> None:
    assert named_places("what's the time in Paris") == ["paris"]
    assert named_places("clocks for NYC, new york, Sao Paulo and  Hong Kong") == [
        "nyc", "sao paulo", "hong kong"]
    assert named_places("what time is it in UTC") == []  # a clock standard, not a place
    assert named_places("a tip calculator for my trip") == []


def test_the_places_an_app_shows_the_time_of() -> None:
    assert shown_places(TOKYO) == ["tokyo"]
    assert shown_places(PAIR) == ["sydney", "los angeles"]
    here = {"title": "Clock", "state": [], "view": [{"kind": "text", "value": "time(now())"}]}
    assert shown_places(here) == []


def test_a_clock_takes_the_places_the_request_names_in_every_text() -> None:
    madrid = with_places("what's the time in madrid", TOKYO)
    assert madrid is not None and valid(madrid)
    assert madrid["title"] == "Madrid Time"
    assert "Tokyo" not in json.dumps(madrid) and json.dumps(madrid).count("'Madrid'") == 3
    assert TOKYO["title"] == "Tokyo Time"  # the example itself is left as it was
    nyc = with_places("time in nyc", TOKYO)
    assert nyc is not None and nyc["view"][0]["value"] == "time(now(), 'NYC')"


def test_a_place_the_app_already_shows_stays_where_it_is() -> None:
    swapped = with_places("clock showing berlin and sydney", PAIR)
    assert swapped is not None and valid(swapped)
    assert [w.get("label") for w in swapped["view"]] == ["Sydney", "Berlin", "UTC"]
    assert swapped["view"][1]["value"] == "hhmm(now(), 'Berlin')"
    assert swapped["view"][2]["value"] == "hhmm(now(), 'UTC')"
    assert with_places("my time next to sydney and los angeles", PAIR) is None  # nothing to change
    assert with_places("the time in tokyo", TOKYO) is None


def test_another_number_of_places_is_another_variant() -> None:
    assert misfit("times for dubai, seoul and toronto", TOKYO) == (
        "it shows the time of 1 place, and the request names 3")
    assert with_places("times for dubai, seoul and toronto", TOKYO) is None
    assert misfit("what's the time in rome", TOKYO) is None
    assert misfit("my local time next to sydney", PAIR) is None  # fewer, but all of them shown
    assert misfit("a packing list for paris", {"title": "List", "state": [], "view": []}) is None
    here = {"title": "Clock", "state": [], "view": [{"kind": "text", "value": "hhmm(now())"}]}
    assert misfit("clock for rome", here) == "it shows the time here only"
    assert misfit("a big clock", here) is None
    trip = {"title": "Trip", "state": [{"name": "d", "type": "text"}],
            "view": [{"kind": "text", "value": "text(days_until(d)) + ' days, from ' + date(today())"}]}
    assert misfit("days until my trip to paris", trip) is None  # a date, not a time of day
