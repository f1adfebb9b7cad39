"""Migration mappings as data and the plans they make (kernel/versions/mapping.py)."""

from __future__ import annotations

import json

import pytest

from llmos.kernel.versions import Mapping, MigrationRefused, Shape
from llmos.kernel.versions.mapping import plan


def stored(**values: object) -> dict[str, str]:
    return {key: json.dumps(value) for key, value in values.items()}


def test_conversions_that_keep_the_value() -> None:
    shape = Shape({"n": "number", "s": "string", "b": "boolean", "l": "list"})
    mapping = Mapping.parse({"convert": {"n": "number", "s": "string", "b": "boolean", "l": "list"}})
    done = plan(stored(n="42", s=2.5, b="true", l="one"), shape, mapping)
    assert {k: json.loads(v) for k, v in done.data.items()} == {"n": 42, "s": "2.5", "b": True, "l": ["one"]}
    assert done.aside == {} and done.notice() == ""


def test_unmapped_keys_are_kept_aside_with_a_reason() -> None:
    done = plan(stored(count=3, old="x", label=7), Shape({"count": "number", "label": "string"}), Mapping())
    assert done.data == stored(count=3)
    assert set(done.aside) == {"old", "label"}
    assert "does not read 'old'" in done.aside["old"][1] and "as string" in done.aside["label"][1]
    assert "2 stored value(s)" in done.notice()


def test_open_shapes_keep_unknown_keys_and_unchanged_text_stays_byte_exact() -> None:
    raw = {"k1": '{"a":  1}', "n": "0"}
    assert plan(raw, Shape({"n": "number"}, open=True), Mapping()).data == raw


@pytest.mark.parametrize(("values", "mapping", "reason"), [
    (stored(n="three"), {"convert": {"n": "number"}}, "cannot become a number"),
    (stored(flag=2), {"convert": {"flag": "boolean"}}, "cannot become a boolean"),
    (stored(rows=[{"a": 1, "b": 2}]), {"convert": {"rows": {"fields": {"a": "b"}}}}, "would both become 'b'"),
    (stored(rows=[1]), {"convert": {"rows": {"fields": {"a": "b"}}}}, "fields are renamed in objects"),
    (stored(a=1, b=2), {"rename": {"a": "b"}}, "would both be stored as 'b'"),
])
def test_plans_that_would_lose_data_are_refused(values: dict[str, str], mapping: object, reason: str) -> None:
    shape = Shape({"n": "number", "flag": "boolean", "rows": "list", "b": "number"})
    with pytest.raises(MigrationRefused, match=reason):
        plan(values, shape, Mapping.parse(mapping))


def test_a_swap_is_not_a_collision() -> None:
    done = plan(stored(a=1, b="x"), Shape({"a": "string", "b": "number"}),
                Mapping.parse({"rename": {"a": "b", "b": "a"}}))
    assert done.data == stored(a="x", b=1)
    assert Mapping.parse(json.dumps(Mapping.parse({"rename": {"a": "b"}}).to_json())).rename == {"a": "b"}
