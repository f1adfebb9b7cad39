"""The regeneration's question to the model (kernel/versions/renames.py): only fitting moves are offered,
only keys and types are shown, and an answer becomes a mapping that cannot merge two values."""

from __future__ import annotations

import json

from llmos.kernel.versions import Mapping, Shape, renames

OLD = Shape({"todos": "list", "dark": "boolean", "name": "string", "kept": "number"})
NEW = Shape({"tasks": "list", "theme": "string", "owner": "string", "kept": "number", "done": "any"})


def test_each_gone_key_is_offered_the_new_keys_of_a_fitting_type() -> None:
    asked = renames.choices(OLD, NEW)
    assert asked == {"todos": ["tasks", "done"], "dark": ["done"], "name": ["theme", "owner", "done"]}
    assert renames.choices(OLD, OLD) == {}
    assert renames.choices(Shape({"a": "list"}), Shape({"b": "number"})) == {}  # nothing fits: no question


def test_the_prompt_shows_keys_and_types_and_the_schema_allows_only_the_choices() -> None:
    asked = renames.choices(OLD, NEW)
    text = renames.prompt(asked, OLD, NEW)
    assert text.endswith("Old keys: todos (list), dark (boolean), name (string)\n"
                         "New keys: tasks (list), theme (string), owner (string), done (any)\nMapping: ")
    schema = renames.schema(asked)
    assert schema["required"] == ["dark", "name", "todos"] and schema["additionalProperties"] is False
    assert schema["properties"]["todos"] == {"enum": ["tasks", "done", "none"]}


def test_an_answer_becomes_a_mapping_and_never_merges_two_values() -> None:
    asked = renames.choices(OLD, NEW)
    mapping = renames.mapping_from('{"todos":"tasks","dark":"none","name":"owner"}', asked)
    assert mapping == {"rename": {"todos": "tasks", "name": "owner"}}
    assert Mapping.parse(mapping).rename == {"todos": "tasks", "name": "owner"}
    # two old keys on one new key: neither is moved, so both are kept aside rather than one lost
    assert renames.mapping_from('{"todos":"done","dark":"done","name":"theme"}', asked) == {
        "rename": {"name": "theme"}}
    assert renames.mapping_from('{"todos":"elsewhere","kept":"tasks"}', asked) == {}  # outside the choices
    assert renames.mapping_from("not json", asked) == {} and renames.mapping_from("[1]", asked) == {}
    assert json.loads(json.dumps(renames.mapping_from('{"dark":"none"}', asked))) == {}
