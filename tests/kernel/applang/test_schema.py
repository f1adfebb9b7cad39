"""The JSON schema a grammar is built from: bounded everywhere, number-free, and every example fits it."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from llmos.kernel.applang import schema
from llmos.kernel.applang.examples import load_examples
from llmos.kernel.applang.schema import canonical


def resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = root["$defs"][node["$ref"].rsplit("/", 1)[1]]
    return node


def walk(node: Any, root: dict[str, Any], seen: set[int] | None = None) -> list[dict[str, Any]]:
    """Every sub-schema reachable from `node`, references followed once."""
    seen = set() if seen is None else seen
    if not isinstance(node, dict):
        return []
    node = resolve(node, root)
    if id(node) in seen:
        return []
    seen.add(id(node))
    out = [node]
    for key in ("properties",):
        for child in node.get(key, {}).values():
            out += walk(child, root, seen)
    for key in ("items",):
        if key in node:
            out += walk(node[key], root, seen)
    for child in node.get("anyOf", []):
        out += walk(child, root, seen)
    return out


def conforms(value: Any, node: dict[str, Any], root: dict[str, Any], where: str = "$") -> list[str]:
    """A small validator for exactly the schema features the document schema uses."""
    node = resolve(node, root)
    if "anyOf" in node:
        results = [conforms(value, option, root, where) for option in node["anyOf"]]
        return [] if any(not r for r in results) else min(results, key=len)
    if "const" in node:
        return [] if value == node["const"] else [f"{where}: {value!r} != {node['const']!r}"]
    if "enum" in node:
        return [] if value in node["enum"] else [f"{where}: {value!r} not in {node['enum']}"]
    kind = node.get("type")
    if kind == "boolean":
        return [] if isinstance(value, bool) else [f"{where}: not a boolean"]
    if kind == "string":
        if not isinstance(value, str):
            return [f"{where}: not a string"]
        problems = []
        if not node.get("minLength", 0) <= len(value) <= node.get("maxLength", 10**9):
            problems.append(f"{where}: length {len(value)} outside the bounds")
        if "pattern" in node and not re.search(node["pattern"], value):
            problems.append(f"{where}: {value!r} does not match {node['pattern']}")
        return problems
    if kind == "array":
        if not isinstance(value, list):
            return [f"{where}: not a list"]
        bounded = node.get("minItems", 0) <= len(value) <= node["maxItems"]
        problems = [] if bounded else [f"{where}: bad length"]
        for index, item in enumerate(value):
            problems += conforms(item, node["items"], root, f"{where}[{index}]")
        return problems
    if kind == "object":
        if not isinstance(value, dict):
            return [f"{where}: not an object"]
        problems = [f"{where}: missing {key}" for key in node["required"] if key not in value]
        problems += [f"{where}: extra {key}" for key in value if key not in node["properties"]]
        for key, item in value.items():
            if key in node["properties"]:
                problems += conforms(item, node["properties"][key], root, f"{where}.{key}")
        return problems
    raise AssertionError(f"unexpected schema node {node}")


def test_every_array_is_bounded_every_string_limited_and_there_are_no_numbers() -> None:
    root = schema()
    nodes = walk(root, root)
    assert len(nodes) > 40
    for node in nodes:
        assert node.get("type") not in ("number", "integer")
        if node.get("type") == "array":
            assert 1 <= node["maxItems"] <= 12
        if node.get("type") == "string":
            assert "maxLength" in node or "pattern" in node
        if node.get("type") == "object":
            assert node["additionalProperties"] is False


@pytest.mark.parametrize("example", load_examples(), ids=lambda e: e.where)
def test_every_example_is_something_the_grammar_can_produce(example) -> None:
    root = schema()
    assert conforms(example.app, root, root) == []
    assert list(canonical(example.app)) == [k for k in ("title", "state", "view", "timers", "unsupported")
                                            if k in example.app]


def test_llama_cpp_builds_a_grammar_from_it() -> None:
    llama_grammar = pytest.importorskip("llama_cpp.llama_grammar")
    gbnf = llama_grammar.json_schema_to_gbnf(json.dumps(schema()))
    rules = [line.split(" ::=")[0] for line in gbnf.splitlines()]
    assert rules.count("expr") == 1 and rules.count("actions") == 1
    assert len(gbnf) < 40_000  # shared parts are rules once, not copies
    llama_grammar.LlamaGrammar.from_string(gbnf, verbose=False)
