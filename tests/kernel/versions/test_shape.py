"""The storage shape an app's code declares (kernel/versions/shape.py)."""

from __future__ import annotations

from pathlib import Path

from llmos.kernel.versions import Shape, ShapeError, infer

STARTER = Path(__file__).parents[3] / "kernel" / "starter" / "apps"


def test_shapes_of_the_starter_apps() -> None:
    assert infer((STARTER / "todo.ts").read_text()) == Shape({"todos": "list"})
    assert infer((STARTER / "pomodoro.ts").read_text()).keys == {"minutes": "number"}
    assert infer((STARTER / "checklist.ts").read_text()).keys == {"items": "list"}


def test_types_from_generics_initials_and_other_calls() -> None:
    code = """import { ui, storage as s } from '@llm-os/sdk';
const [a] = s.useLocal<{ day: string; value: number }>('a', { day: '', value: 0 });
const [b] = s.useLocal('b', true);
const c = s.get('c');
s.set('c', 'text');
s.set('d', 1); s.set('d', 'one');
export default function App() { return ui.Window({}, []); }
"""
    assert infer(code) == Shape({"a": "object", "b": "boolean", "c": "string", "d": "any"})
    assert infer(code).id == infer(code).id != Shape({"a": "object"}).id


def test_computed_keys_make_the_shape_open() -> None:
    code = ("import { storage } from '@llm-os/sdk';\nconst k = 'x' + 1;\nstorage.set(k, 2);\n"
            "storage.useLocal('n', 0);\n")
    shape = infer(code)
    assert shape.open and shape.expects("anything") == "any" and shape.expects("n") == "number"
    assert infer("import { storage } from '@llm-os/sdk';\nstorage.keys();\n").open
    assert infer("const storage = { set(k: string) {} };\nstorage.set('x');\n") == Shape()  # not the SDK's


def test_declared_shape_round_trips_and_bad_ones_are_located() -> None:
    shape = Shape.from_json({"version": 2, "keys": {"tasks": "list"}})
    assert shape.id == "v2" and Shape.from_json(shape.to_json()) == shape
    for bad, where in [({"keys": {"x": "float"}}, "shape.keys.x"), ({"version": "2"}, "shape.version"),
                       ({"kinds": {}}, "unknown field 'kinds'"), ([], "expected an object")]:
        try:
            Shape.from_json(bad)
        except ShapeError as error:
            assert where in str(error)
        else:
            raise AssertionError(f"{bad} was accepted")
