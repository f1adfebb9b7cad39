"""Checks of an example against a request (consistency.py): named items, direction, counting down,
and a list's starting rows taken from the request."""

from __future__ import annotations

from typing import Any

from llmos.kernel.applang.adapt import template
from llmos.kernel.applang.consistency import (
    choices,
    counts_up_only,
    hides_draw,
    holds_items,
    items_read_away,
    lacks_asked,
    lacks_field,
    misfit,
    missing_items,
    named_items,
    named_rows,
    wrong_direction,
)
from llmos.kernel.applang.document import read_document
from llmos.kernel.applang.schema import canonical
from llmos.kernel.applang.validate import validate


def texts(request: str) -> list[str]:
    return [item.text for item in named_items(request)]


def test_the_items_of_an_enumeration_without_the_words_around_them() -> None:
    assert texts("checkboxes for my habits: swim, stretch and floss daily") == ["swim", "stretch", "floss"]
    assert texts("the time right now in new york, rome and lima") == ["new york", "rome", "lima"]
    assert texts("a timer with quick 2, 4 or 8 minute buttons") == ["2", "4", "8"]
    assert texts("brew a cuppa, green or black") == ["cuppa", "green", "black"]
    assert texts("pick tea, coffee or cocoa for me") == ["tea", "coffee", "cocoa"]
    assert texts("a counter with plus and minus") == []  # two items, no list of three
    assert texts("roll a die") == []


MOOD = {"title": "Mood",
        "state": [{"name": "moods", "type": "list", "fields": [{"name": "mood", "type": "text"}]}],
        "view": [{"kind": "row", "items": [
            {"kind": "button", "label": label, "do": [{"add": "moods", "item": [f"'{label}'"]}]}
            for label in ("Great", "Okay", "Bad")]}]}
CALCULATOR = {"title": "Calculator", "state": [{"name": "a", "type": "number"}], "view": [
    {"kind": "input", "label": "Number", "var": "a"},
    *({"kind": "button", "label": op, "do": [{"set": "a", "to": "a"}]} for op in ("+", "-", "x", "/"))]}


def test_a_variant_with_other_choices_lacks_the_named_items() -> None:
    assert choices(MOOD) == ["great", "okay", "bad"]
    assert missing_items("buttons for happy, okay and sad", MOOD) == ["happy", "sad"]
    assert missing_items("buttons for great, okay and bad", MOOD) == []
    assert missing_items("moods: great, okay or terrible", MOOD) == []  # one word apart: a synonym, maybe
    # items in another vocabulary than the choices are not judged: "+" is what "add" does
    assert missing_items("add, subtract, multiply or divide two numbers", CALCULATOR) == []


def test_named_numbers_must_all_be_there() -> None:
    presets = {"title": "Timer", "state": [{"name": "left", "type": "number"}], "view": [
        {"kind": "button", "label": f"{n} min", "do": [{"set": "left", "to": str(n * 60)}]}
        for n in (1, 5, 10)]}
    assert missing_items("countdown with 1, 5 or 10 minute buttons", presets) == []
    assert missing_items("countdown with 1, 3 or 10 minute buttons", presets) == ["3"]


CLOCK = {"title": "Tokyo", "state": [],
         "view": [{"kind": "text", "label": "Tokyo", "value": "time(now(), 'Asia/Tokyo')"}]}


def test_free_slots_may_take_the_missing_items() -> None:
    three = {"title": "World", "state": [], "view": [
        {"kind": "text", "label": "City", "value": f"time(now(), '{zone}')"}
        for zone in ("Europe/Paris", "Asia/Tokyo", "America/Lima")]}
    request = "the time in rome, tokyo and oslo"
    assert missing_items(request, CLOCK, template(canonical(CLOCK))) == ["rome", "oslo"]
    assert missing_items(request, three, template(canonical(three))) == []  # two cities to rename
    assert missing_items(request, three) == ["rome", "oslo"]  # once adapted, they must be there


HABITS = {"title": "Habits", "state": [
    {"name": "habits", "type": "list",
     "fields": [{"name": "name", "type": "text"}, {"name": "done", "type": "flag"}],
     "init": "['Exercise', 'Read']", "keep": "daily"}],
    "view": [{"kind": "list", "var": "habits", "row": "name", "check": "done", "delete": True},
             {"kind": "text", "value": "text(count(habits.done)) + ' of ' + len(habits)"}]}


def test_a_list_that_can_take_any_rows_starts_with_the_named_items() -> None:
    request = "habit boxes to tick: floss, read and swim"
    renamed = named_rows(request, HABITS)
    assert renamed is not None and renamed["state"][0]["init"] == "['Floss', 'Read', 'Swim']"
    parsed, errors = read_document(renamed)
    assert not errors and not validate(parsed)
    assert missing_items(request, HABITS) == []  # so the example fits
    assert named_rows("habit boxes: exercise and read", HABITS) is None  # nothing named
    assert named_rows("my habits: exercise, read and floss", HABITS) is not None
    fixed = {**HABITS, "view": [*HABITS["view"], {"kind": "text", "value": "habits[0].name"}]}
    assert named_rows(request, fixed) is None  # a row reached by its position: not resizable


def converter(source: str, target: str, *, both: bool = False) -> dict[str, Any]:
    view = [{"kind": "input", "label": source.title(), "var": "x"},
            {"kind": "text", "label": target.title(), "value": "x * 2"}]
    if both:
        view += [{"kind": "input", "label": target.title(), "var": "y"},
                 {"kind": "text", "label": source.title(), "value": "y / 2"}]
    return {"title": "Convert", "state": [{"name": "x", "type": "number"}, {"name": "y", "type": "number"}],
            "view": view}


def test_a_one_way_converter_does_not_serve_the_other_way() -> None:
    one_way = converter("fahrenheit", "celsius")
    assert wrong_direction("it says 20 celsius, what is that in fahrenheit", "fahrenheit to celsius", one_way)
    assert wrong_direction("turn celsius into fahrenheit", "fahrenheit to celsius", one_way)
    assert wrong_direction("to fahrenheit from celsius", "fahrenheit to celsius", one_way)
    assert not wrong_direction("what is 100 fahrenheit in celsius", "fahrenheit to celsius", one_way)
    assert not wrong_direction("celsius please", "fahrenheit to celsius", one_way)  # no direction stated
    both = converter("pounds", "kilos", both=True)
    assert not wrong_direction("turn kilos into pounds", "pounds to kilos converter", both)
    why = misfit("turn celsius into fahrenheit", "fahrenheit to celsius", one_way)
    assert why == "it converts the other way"


def timer(action: dict[str, Any], during: str = "on") -> dict[str, Any]:
    return {"title": "T", "state": [{"name": "t", "type": "number"}, {"name": "on", "type": "flag"}],
            "view": [{"kind": "text", "value": "t"}],
            "timers": [{"every": "1000", "while": during, "do": [action]}]}


def test_counting_down_needs_a_timer_that_ends() -> None:
    up = timer({"set": "t", "to": "t + 1"})
    down = timer({"set": "t", "to": "t - 1"})
    bounded = timer({"set": "on", "to": "false", "if": "t >= 60"})
    request = "a timer that counts down 40 seconds"
    assert counts_up_only(request, up)
    assert not counts_up_only(request, down) and not counts_up_only(request, bounded)
    assert not counts_up_only("a stopwatch", up)
    assert not counts_up_only("countdown to my birthday", MOOD)  # no timer: days, not seconds
    assert misfit("plank countdown of a minute", "plank timer", up) == "it counts up and never ends"


def test_what_the_request_asks_to_see_must_be_in_what_the_app_shows() -> None:
    def shows(value: str, brush: str = "'#000000'") -> dict[str, Any]:
        return {"title": "A", "state": [{"name": "d", "type": "text"}, {"name": "r", "type": "number"}],
                "view": [{"kind": "input", "label": "Date", "var": "d"}, {"kind": "text", "value": value},
                         {"kind": "canvas", "var": "r", "color": brush}]}

    assert lacks_asked("what day of the week was 2 may 1990", shows("day_of_week(d)")) is None
    assert lacks_asked("what day of the week was 2 may 1990", shows("age(d)")) == "it never shows a weekday"
    assert lacks_asked("show today's date", shows("today()")) is None
    assert lacks_asked("show today's date", shows("d")) == "it does not read today's date"
    painter = shows("text(r)", brush="hex(r, 0, 0)")  # hex() for the brush, but no code shown
    assert lacks_asked("mix a colour and show its hex code", painter) == "it shows no colour code"
    assert lacks_asked("mix a colour and show its hex code", shows("hex(r, 0, 0)")) is None
    assert lacks_asked("count the days until a date", shows("age(d)")) is None  # nothing asked to see
    fields = [{"name": "day", "type": "text"}, {"name": "text", "type": "text"}]
    save = [{"add": "entries", "item": ["today()", "entry"]}]
    diary = {"title": "Diary",
             "state": [{"name": "entries", "type": "list", "fields": fields},
                       {"name": "entry", "type": "text"}],
             "view": [{"kind": "input", "label": "Entry", "var": "entry"},
                      {"kind": "button", "label": "Save", "do": save},
                      {"kind": "list", "var": "entries", "row": "day + ': ' + text"}]}
    assert lacks_asked("a diary that puts today's date on each entry", diary) is None  # stamped, then shown


def test_a_random_number_asked_for_must_be_shown() -> None:
    def game(hint: str, shown: str = "hint") -> dict[str, Any]:
        draw = [{"set": "secret", "to": "randint(1, 100)"}, {"set": "hint", "to": hint}]
        state = [{"name": "secret", "type": "number"}, {"name": "hint", "type": "text"}]
        return {"title": "G", "state": state,
                "view": [{"kind": "button", "label": "Go", "do": draw}, {"kind": "text", "value": shown}]}

    guessing = game("if 50 < secret then 'Higher' else 'Lower'")
    hidden = "it never shows the number it draws"
    assert hides_draw("give me a random number from 1 to 100", guessing) == hidden
    assert misfit("a random whole number please", "guess the number", guessing) == hidden
    assert hides_draw("give me a random number from 1 to 100", game("'x'", shown="secret")) is None
    assert hides_draw("random number", game("'x'", shown="text(randint(1, 6))")) is None  # drawn where shown
    assert hides_draw("guess my number between 1 and 100", guessing) is None  # no random number asked for
    assert hides_draw("a game where i guess a random number", guessing) is None  # hidden on purpose
    timer = {"title": "T", "state": [{"name": "n", "type": "number"}],
             "view": [{"kind": "text", "value": "n"}],
             "timers": [{"every": "1000", "do": [{"set": "n", "to": "randint(1, 9)"}]}]}
    assert hides_draw("a random number every second", timer) is None  # drawn by a timer, then shown


def test_a_value_the_person_types_or_sets_needs_a_field() -> None:
    presets = {"title": "Timer", "state": [{"name": "t", "type": "number"}],
               "view": [{"kind": "text", "value": "t"},
                        {"kind": "button", "label": "5 min", "do": [{"set": "t", "to": "300"}]}]}
    field = {"title": "Timer", "state": [{"name": "t", "type": "number"}],
             "view": [{"kind": "input", "label": "Minutes", "var": "t"}, {"kind": "text", "value": "t"}]}
    slider = {"title": "Timer", "state": [{"name": "t", "type": "number"}],
              "view": [{"kind": "slider", "label": "Minutes", "var": "t", "min": "1", "max": "60"}]}
    assert misfit("countdown timer, i set the minutes", "timer with presets", presets) == (
        "it has no field or slider to set a value with")
    assert lacks_field("countdown timer, i set the minutes", slider) is None
    assert lacks_field("cooking timer where I type in the minutes", slider) == "it has no field to type in"
    assert lacks_field("let me enter the minutes and count down", field) is None
    assert lacks_field("let me enter the minutes and count down", presets) == "it has no field to type in"
    for plain in ("what type of tea timer", "press enter to start", "a timer with a set of presets"):
        assert lacks_field(plain, presets) is None  # no one types or sets a value here


def test_an_enumeration_is_read_away_and_a_typed_list_can_start_with_it() -> None:
    assert items_read_away("pick one of alice, ben or carla for me") == "pick one of a few options for me"
    assert items_read_away("tip with 10, 15 or 20 percent") is None  # numbers are not things to list
    assert items_read_away("a plain counter") is None
    names = {"title": "Names", "state": [{"name": "name", "type": "text"}, {"name": "names", "type": "list"}],
             "view": [{"kind": "input", "label": "Name", "var": "name",
                       "do": [{"add": "names", "item": ["name"]}]}, {"kind": "list", "var": "names"}]}
    request = "pick one of alice, ben or carla"
    assert named_rows(request, names) is None  # an empty list only when asked for
    filled = named_rows(request, names, empty=True)
    assert filled is not None and filled["state"][1]["init"] == "['Alice', 'Ben', 'Carla']"
    assert holds_items(request, filled) and not holds_items(request, names)
    moods = {"title": "Mood", "state": [{"name": "log", "type": "list", "fields": [
        {"name": "day", "type": "text"}, {"name": "mood", "type": "text"}]}],
        "view": [{"kind": "button", "label": "Great", "do": [{"add": "log", "item": ["today()", "'Great'"]}]},
                 {"kind": "list", "var": "log", "row": "day + ': ' + mood"}]}
    assert named_rows("my mood: happy, okay and sad", moods, empty=True) is None  # rows the app stamps
