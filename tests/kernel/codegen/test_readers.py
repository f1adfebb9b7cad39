"""Reading model output: truncated JSON repair, the two-block answer format, the claimed manifest."""

from __future__ import annotations

import json

import pytest

from llmos.kernel.caps.manifest import Manifest
from llmos.kernel.codegen.direct import AnswerError, split_answer
from llmos.kernel.gateway.jsonrepair import parse_truncated

FULL = json.dumps({"title": "Dice", "capabilities": ["ui:window"], "state": [{"name": "n", "type": "number"}],
                   "widgets": [{"kind": "text", "label": "Roll \"it\"", "bind": "n", "max": 10},
                               {"kind": "button", "label": "Go", "action": "increment"}]},
                  separators=(",", ":"))


def test_every_prefix_of_a_spec_parses() -> None:
    for end in range(len(FULL) + 1):
        value = parse_truncated(FULL[:end])
        assert isinstance(value, dict)
    assert parse_truncated(FULL) == json.loads(FULL)
    assert parse_truncated(FULL[:30])["title"] == "Dice"


def test_split_answer_reads_header_and_code() -> None:
    answer = split_answer('x\n```json\n{"title": "A", "capabilities": ["timer"]}\n```\n'
                          "```ts\nimport { ui } from '@llm-os/sdk';\n```")
    assert answer.header["title"] == "A" and answer.code.startswith("import { ui }")
    assert Manifest.from_model(answer.header).scopes == ["timer"]
    assert split_answer("import { ui } from '@llm-os/sdk';").header == {}
    with pytest.raises(AnswerError):
        split_answer("Sorry, I cannot help with that.")


def test_manifest_reader_ignores_junk() -> None:
    manifest = Manifest.from_model({"capabilities": [
        "timer", 7, {"scope": "notify", "required": False}, {"nope": 1}, "timer",
        {"scope": "bus:x", "optional": True}]})
    assert manifest.scopes == ["timer", "notify", "bus:x"]
    assert [r.optional for r in manifest.requests] == [False, True, True]
