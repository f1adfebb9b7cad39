"""Documents: every structural and semantic problem is reported, located, in words that say the fix."""

from __future__ import annotations

import copy
import json

import pytest

from llmos.kernel.applang import Document, check, parse_document, validate

TIP = {
    "title": "Tip",
    "state": [{"name": "bill", "type": "number"}, {"name": "tip", "type": "number", "init": "15"}],
    "view": [
        {"kind": "input", "label": "Bill", "var": "bill"},
        {"kind": "slider", "label": "Tip %", "var": "tip", "min": "0", "max": "30"},
        {"kind": "text", "label": "Tip", "value": "fixed(bill * tip / 100, 2)"},
    ],
}


def errors_of(doc: dict) -> list[str]:
    _, errors = check(doc)
    return [str(error) for error in errors]


def with_change(path: str, value: object) -> dict:
    """TIP with one value replaced, e.g. 'view[2].value'."""
    doc = copy.deepcopy(TIP)
    node: object = doc
    parts = path.replace("]", "").replace("[", ".").split(".")
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node[part]  # type: ignore[index]
    last = parts[-1]
    node[int(last) if last.isdigit() else last] = value  # type: ignore[index]
    return doc


def test_a_good_document_has_no_errors() -> None:
    document, errors = check(TIP)
    assert errors == [] and isinstance(document, Document)
    assert check(json.dumps(TIP))[1] == []


def test_an_unknown_name_is_located_with_a_suggestion() -> None:
    assert errors_of(with_change("view[2].value", "fixed(bil * tip / 100, 2)")) == [
        "view[2].value: at column 7: unknown name 'bil' (did you mean 'bill'?)"]


def test_every_error_is_reported_not_only_the_first() -> None:
    doc = copy.deepcopy(TIP)
    doc["view"] += [{"kind": "check", "label": "x", "var": "bill"},
                    {"kind": "text", "value": "tip +"},
                    {"kind": "button", "label": "Go", "do": [{"set": "tips", "to": "1"}]}]
    assert errors_of(doc) == [
        "view[3].var: a check box needs a flag (true/false) variable, but 'bill' is a number",
        "view[4].value: at column 6: the expression ends too early",
        "view[5].do[0].set: unknown state variable 'tips' (did you mean 'tip'?); declare it in state",
    ]


@pytest.mark.parametrize("path, value, expected", [
    ("view[1].min", "tip", "view[1].min: a slider's min must be a plain number"),
    ("view[1].max", "-5", "view[1].max: max (-5) must be greater than min (0)"),
    ("view[0].var", "tip2", "view[0].var: unknown state variable 'tip2' (did you mean 'tip'?)"),
    ("state[1].init", "'fifteen'", "state[1].init: at column 1: the initial value must be a number, but "
                                   "this is a text"),
    ("state[1].init", "bill * 2", "state[1].init: an initial value cannot use state (bill)"),
    ("state[1].name", "bill", "state[1].name: 'bill' is declared twice"),
    ("state[1].name", "return", "state[1].name: 'return' is a reserved word"),
    ("state[1].name", "setBill", "looks like a setter"),
    ("state[1].name", "Tip", "'Tip' is not a name: start with a lower-case letter"),
    ("state[1].type", "numbr", "state[1].type: 'numbr' is not one of number, text, flag, list, drawing "
                               "(did you mean 'number'?)"),
    ("view[2].kind", "txt", "view[2].kind: 'txt' is not one of"),
    ("view[2].size", "huge", "view[2].size: 'huge' is not one of sm, md, lg, xl"),
    ("title", "", "title: must not be empty"),
])
def test_located_errors(path: str, value: object, expected: str) -> None:
    found = errors_of(with_change(path, value))
    assert any(expected in error for error in found), found


def test_structure_unknown_keys_missing_keys_and_bounds() -> None:
    doc = copy.deepcopy(TIP)
    doc["view"][0]["lable"] = "x"
    del doc["view"][1]["var"]
    doc["state"] = [{"name": f"v{i}", "type": "number"} for i in range(7)]
    found = errors_of(doc)
    assert ("view[0]: unknown key 'lable' for a 'input' widget (did you mean 'label'?); allowed: kind, "
            "label, var, do, if") in found
    assert "view[1]: a 'slider' widget needs 'var'" in found
    assert "state: has 7 items; at most 6 are allowed" in found


def test_lists_rows_fields_and_actions_are_checked() -> None:
    doc = {
        "title": "Todo",
        "state": [{"name": "task", "type": "text"},
                  {"name": "todos", "type": "list", "fields": [{"name": "text", "type": "text"},
                                                               {"name": "done", "type": "flag"}]},
                  {"name": "n", "type": "number", "fields": [{"name": "x", "type": "text"}]}],
        "view": [
            {"kind": "list", "var": "todos", "row": "text + ' ' + done2", "check": "text", "where": "done"},
            {"kind": "button", "label": "Add", "do": [{"add": "todos", "item": ["task", "false", "1"]}]},
            {"kind": "button", "label": "Edit",
             "do": [{"edit": "todos", "at": "0", "field": "txt", "to": "'a'"}]},
            {"kind": "button", "label": "Bad", "do": [{"set": "n", "to": "task"}, {"toggle": "task"}]},
            {"kind": "text", "value": "done"},
            {"kind": "text", "value": "todos"},
        ],
        "timers": [{"every": "10", "while": "1", "do": [{"notify": "task"}]}],
    }
    assert errors_of(doc) == [
        "state[2].fields: only a list has fields, and 'n' is a number",
        "view[0].row: at column 14: unknown name 'done2' (did you mean 'done'?)",
        "view[0].check: 'check' needs a flag field, and 'text' is a text",
        "view[1].do[0].item: 3 values for a list with 2 fields (text, done); give them in that order",
        "view[2].do[0].field: 'todos' has no field 'txt' (did you mean 'text'?); its fields are text, done",
        "view[3].do[0].to: at column 1: the new n must be a number, but this is a text (use num(...) to "
        "read a number from a text)",
        "view[3].do[1].toggle: 'toggle' needs a flag (true/false) variable, but 'task' is a text",
        "view[4].value: at column 1: 'done' is a field of the list 'todos': outside that list's rows write "
        "todos[i].done or todos.done",
        "view[5].value: at column 1: a list of rows (text: text, done: flag) cannot be shown as text (show "
        "len(...) of it, or use a list widget)",
        "timers[0].while: at column 1: 'while' must be a flag (true/false), but this is a number",
        "timers[0].every: 'every' is in milliseconds and must be at least 50 (1000 is one second)",
    ]


def test_not_json_and_not_an_object() -> None:
    errors = parse_document('{"title": "x", ')
    assert isinstance(errors, list)
    assert str(errors[0]).startswith("document: not valid JSON: Expecting property name")
    assert [str(e) for e in parse_document("[1]")] == ["an app document must be a JSON object, got a list"]


def test_unsupported_answer_parses_and_has_nothing_to_validate() -> None:
    parsed = parse_document('{"unsupported": "needs the camera"} trailing words are ignored')
    assert isinstance(parsed, Document) and parsed.unsupported == "needs the camera"
    assert validate(parsed) == []
