"""Templates of examples: which parts a model may change, and that whatever it writes there the document
still checks (a value a check rejects goes back to the example's)."""

from __future__ import annotations

import json

import pytest

from llmos.kernel.applang import check
from llmos.kernel.applang.adapt import Slot, template, template_schema, values_in
from llmos.kernel.applang.examples import load_examples
from llmos.kernel.applang.generation import _check
from llmos.kernel.applang.repair import compact
from llmos.kernel.applang.schema import canonical

APPS = [ex for ex in load_examples() if not ex.unsupported]
TIP = {"title": "Tip", "state": [{"name": "bill", "type": "number"},
                                 {"name": "tip", "type": "number", "init": "15"}],
       "view": [{"kind": "input", "label": "Bill", "var": "bill"},
                {"kind": "button", "label": "+5", "do": [{"set": "tip", "to": "tip + 5"}]},
                {"kind": "text", "label": "Tip", "value": "'You tip ' + fixed(bill * tip / 100, 2)"},
                {"kind": "text", "value": "if tip > 20 then 'Generous' else 'Fair'", "if": "bill > 0"}]}
CLOCKS = {"title": "World Clock", "state": [],
          "view": [{"kind": "text", "label": "Tokyo", "value": "hhmm(now(), 'Tokyo')"}]}
CARDS = {"title": "Cards", "state": [{"name": "cards", "type": "list", "fields": [
    {"name": "front", "type": "text"}, {"name": "back", "type": "text"}],
    "init": "[['hola', 'hello'], ['gato', 'cat']]"}],
    "view": [{"kind": "list", "var": "cards", "row": "front + ' = ' + back"}]}
MODES = {"title": "Case", "state": [{"name": "mode", "type": "text", "init": "'upper'"},
                                    {"name": "text", "type": "text"}],
         "view": [{"kind": "button", "label": "Upper", "do": [{"set": "mode", "to": "'upper'"}]},
                  {"kind": "text", "value": "if mode == 'upper' then upper(text) else lower(text)"}]}


@pytest.mark.parametrize("ex", APPS, ids=[ex.where for ex in APPS])
def test_every_example_is_its_own_template_filled_with_its_values(ex) -> None:
    shape = template(canonical(ex.app))
    assert shape.text() == compact(ex.app)
    assert values_in(shape, shape.text()) == [slot.original for slot in shape.slots]


def test_the_title_and_starting_values_are_slots_but_names_formulas_and_words_are_not() -> None:
    shape = template(canonical(TIP))
    assert [(s.kind, s.original) for s in shape.slots] == [("text", "Tip"), ("number", "15")]
    fixed = "".join(shape.pieces)
    assert '"name":"bill"' in fixed and "fixed(bill * tip / 100, 2)" in fixed and "tip > 20" in fixed
    assert '"label":"Bill"' in fixed and "'You tip '" in fixed and "'Generous'" in fixed


def test_zones_and_list_contents_are_slots_and_a_compared_mode_name_is_not() -> None:
    assert [s.original for s in template(CLOCKS).slots] == ["World Clock", "Tokyo"]
    assert [s.original for s in template(CARDS).slots] == ["Cards", "hola", "hello", "gato", "cat"]
    assert "upper" not in [s.original for s in template(canonical(MODES)).slots]


def test_filled_values_make_the_document_and_a_rejected_one_goes_back() -> None:
    shape = template(CLOCKS)
    document, used = shape.settle(["Clocks", "Paris"], _check)
    assert used == ["Clocks", "Paris"] and check(document)[0] is not None
    assert document["view"][0]["label"] == "Tokyo"  # a label is the example's
    document, used = shape.settle(["Clocks", "Atlantis"], _check)
    assert used == ["Clocks", "Tokyo"]  # no such zone: the example's value comes back
    assert check(document)[0] is not None


def test_values_outside_the_slot_rules_are_not_used() -> None:
    _, used = template(canonical(TIP)).settle(['Tip "x"', "lots"], _check)
    assert used == ["Tip", "15"]
    _, used = template(CARDS).settle(["Cards", "it's", "7 x 8", "gato", "cat"], _check)
    assert used == ["Cards", "hola", "7 x 8", "gato", "cat"]  # content may hold numbers, not quotes


def test_a_date_a_state_starts_at_is_a_slot_that_takes_only_a_date_of_its_shape() -> None:
    holiday = {"title": "Christmas", "state": [{"name": "day", "type": "text", "init": "'12-25'"}],
               "view": [{"kind": "text", "value": "text(days_until(next_date(day))) + ' days'"}]}
    shape = template(canonical(holiday))
    assert [(s.kind, s.original) for s in shape.slots] == [("text", "Christmas"), ("date", "12-25")]
    document, used = shape.settle(["New Year", "01-01"], _check)
    assert used == ["New Year", "01-01"] and document["state"][0]["init"] == "'01-01'"
    _, used = shape.settle(["New Year", "13-01"], _check)
    assert used == ["New Year", "12-25"]  # no 13th month: the example's date comes back
    assert not shape.slots[1].accepts("2027-01-01")  # a month-day stays a month-day


def test_slot_grammars_are_llama_cpp_grammars() -> None:
    llama_grammar = pytest.importorskip("llama_cpp.llama_grammar")
    for kind, original in (("text", "x"), ("quoted", "x"), ("number", "1"), ("date", "12-25"),
                           ("date", "2027-01-01")):
        llama_grammar.LlamaGrammar.from_string(Slot(kind, original, "title").grammar(), verbose=False)


def test_the_template_schema_holds_the_structure_and_frees_only_the_slots() -> None:
    schema = template_schema(template(CLOCKS))
    assert schema["properties"]["title"]["pattern"].startswith("^[^")
    view = schema["properties"]["view"]
    assert view["minItems"] == view["maxItems"] == 1 and view["items"] is False
    widget = view["prefixItems"][0]["properties"]
    assert widget["kind"] == {"const": "text"}
    assert widget["value"]["pattern"].startswith("^hhmm\\(now\\(\\), '") and json.dumps(schema)

