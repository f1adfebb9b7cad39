"""Spec -> TypeScript: every spec shape yields code that tree-sitter parses without ERROR nodes and that
the kernel's static analysis accepts with the manifest read back from the code."""

from __future__ import annotations

import itertools
import json
import random

import pytest

from llmos.kernel.analysis import analyse
from llmos.kernel.codegen import SCHEMA, build, normalise, syntax_problems
from llmos.kernel.codegen.spec import ACTIONS, STATE_TYPES, WIDGET_KINDS

HOSTILE = ["it's \"quoted\"", "back`tick ${x}", "*/ eval('1') /*", "line\nbreak", "</script>",
           "\u2028sep", "ünïcødé ✓", "\\", "'); ui.notify(1); ('"]


def check(spec_json: dict) -> str:
    spec = normalise(spec_json)
    code, manifest = build(spec)
    assert syntax_problems(code) == [], code
    report = analyse(code, manifest.to_json())
    assert report.ok, (code, report.findings)
    return code


@pytest.mark.parametrize("kind, action, state_type, persist",
                         list(itertools.product(WIDGET_KINDS, ACTIONS, STATE_TYPES, (False, True))))
def test_every_widget_action_and_state_shape(kind: str, action: str, state_type: str, persist: bool) -> None:
    caps = ["ui:window", "storage:local"] if persist else ["ui:window"]
    code = check({"title": "Shape", "capabilities": caps, "state": [{"name": "thing", "type": state_type}],
                  "widgets": [{"kind": kind, "label": "L", "bind": "thing", "action": action}]})
    assert ("storage.useLocal" in code) == (persist and kind != "timer" and "const [" in code)


@pytest.mark.parametrize("label", HOSTILE)
def test_hostile_labels_stay_string_literals(label: str) -> None:
    code = check({"title": label, "capabilities": ["ui:window", "notify"], "state": [],
                  "widgets": [{"kind": "button", "label": label, "action": "notify"},
                              {"kind": "text", "label": label}]})
    assert "eval(" not in code.replace(json.dumps("*/ eval('1') /*")[1:-1], "")
    assert code.count("import ") == 1


def test_random_specs_always_generate_valid_code() -> None:
    rng = random.Random(1234)
    names = ["count", "x", "todo", "ui", "return", "Bad Name", "", "n2", "items"]
    for _ in range(150):
        spec = {
            "title": rng.choice([*HOSTILE, "", "Timer"]),
            "capabilities": rng.sample(["ui:window", "storage:local", "timer", "notify", "network:x"], 2),
            "state": [{"name": rng.choice(names), "type": rng.choice([*STATE_TYPES, "weird"])}
                      for _ in range(rng.randint(0, 4))],
            "widgets": [{"kind": rng.choice([*WIDGET_KINDS, "video"]), "label": rng.choice(HOSTILE),
                         "bind": rng.choice(names), "action": rng.choice([*ACTIONS, "launch"]),
                         "max": rng.choice([0, 5, 10**12, -3, "9"]), "seconds": rng.choice([0, 10, 1e9])}
                        for _ in range(rng.randint(0, 7))],
        }
        check(spec)


def test_reserved_and_invalid_names_never_become_identifiers() -> None:
    spec = normalise({"title": "T", "capabilities": [], "state": [{"name": "eval", "type": "number"}],
                      "widgets": [{"kind": "slider", "label": "s", "bind": "eval"},
                                  {"kind": "input", "label": "i", "bind": "constructor x"}]})
    assert {v.name for v in spec.state}.isdisjoint({"eval", "constructor x"})


def test_manifest_is_derived_from_the_code() -> None:
    spec = normalise({"title": "Pomodoro", "capabilities": ["ui:window", "storage:local"], "state": [],
                      "widgets": [{"kind": "timer", "label": "Focus", "seconds": 1500}]})
    code, manifest = build(spec)
    # storage was claimed but nothing is stored; the timer needs timer + notify.
    assert manifest.scopes == ["notify", "timer", "ui:window"]
    assert "1500 * 1000" in code and "timer.useInterval(() =>" in code


def test_schema_bounds_every_array_and_string() -> None:
    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "array":
                assert "maxItems" in node
            if node.get("type") == "string":
                assert "maxLength" in node or "pattern" in node
            for value in node.values():
                walk(value)
    walk(SCHEMA)


def test_seed_style_output_for_a_todo_spec() -> None:
    code = check({"title": "Todo", "capabilities": ["ui:window", "storage:local"],
                  "state": [{"name": "task", "type": "text"}, {"name": "todos", "type": "list"}],
                  "widgets": [{"kind": "input", "label": "New task", "bind": "task"},
                              {"kind": "button", "label": "Add", "bind": "todos", "action": "add"},
                              {"kind": "list", "label": "Tasks", "bind": "todos"}]})
    assert code.startswith("import { ui, storage } from '@llm-os/sdk';\n\nexport default function App() {")
    assert "storage.useLocal(\"todos\", [])" in code and "return ui.Window({ title: \"Todo\" }, [" in code
