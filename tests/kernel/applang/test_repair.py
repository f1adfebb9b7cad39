"""The bounded repair loop and the deterministic repairs before it, with a scripted stand-in model."""

from __future__ import annotations

import asyncio
import json

from llmos.kernel.applang import check, fill, prompt
from llmos.kernel.applang.autofix import is_slip, repair, tidy
from llmos.kernel.applang.examples import load_examples
from llmos.kernel.applang.repair import attempt, compact
from llmos.kernel.applang.validate import validate

GOOD = {"title": "Counter", "state": [{"name": "count", "type": "number"}],
        "view": [{"kind": "text", "value": "count"},
                 {"kind": "button", "label": "Plus", "do": [{"set": "count", "to": "count + 1"}]}]}
BROKEN = {"title": "Counter", "state": [{"name": "count", "type": "number"}],
          "view": [{"kind": "text", "value": "count"},
                   {"kind": "button", "label": "Plus", "do": [{"set": "count", "to": "count + items"}]}]}


class Model:
    """Answers from a script and records the prompts it was given."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.prompts: list[str] = []

    async def __call__(self, text: str) -> str:
        self.prompts.append(text)
        return self.answers.pop(0)


def run(request: str, model: Model, tries: int = 3):
    return asyncio.run(fill(request, model, examples=[("a counter", GOOD)], tries=tries))


def test_a_good_answer_is_an_app_on_the_first_try() -> None:
    model = Model(json.dumps(GOOD))
    outcome = run("a counter", model)
    assert outcome.kind == "app" and outcome.tries == 1 and outcome.app is not None
    assert "export default function App()" in outcome.app.code
    assert model.prompts[0].endswith("Request: a counter\nApp: ")
    assert f"App: {compact(GOOD)}\n" in model.prompts[0]


def test_errors_are_fed_back_and_the_next_answer_is_used() -> None:
    model = Model(json.dumps(BROKEN), json.dumps(GOOD))
    outcome = run("a counter", model)
    assert outcome.kind == "app" and outcome.tries == 2
    second = model.prompts[1]
    assert "Errors: view[1].do[0].to: at column 9: unknown name 'items'" in second
    assert second.endswith("Request: a counter\nApp: ")


def test_after_the_last_try_the_outcome_is_an_honest_failure() -> None:
    model = Model(json.dumps(BROKEN), "{not json", json.dumps(BROKEN))
    outcome = run("a counter", model)
    assert outcome.kind == "failed" and outcome.app is None and outcome.tries == 3
    assert [str(e) for e in outcome.errors] == ["view[1].do[0].to: at column 9: unknown name 'items'"]
    assert len(model.prompts) == 3


def test_the_model_can_say_it_cannot() -> None:
    outcome = run("a counter", Model('{"unsupported": "it needs a printer\\u0007."}'))
    assert outcome.kind == "unsupported"
    assert outcome.unsupported == "This app can't be made offline: it needs a printer."


def test_out_of_scope_requests_never_reach_the_model() -> None:
    model = Model()
    outcome = run("what is the weather like in Oslo", model)
    assert outcome.kind == "unsupported" and "internet" in (outcome.unsupported or "")
    assert model.prompts == []


def test_prompt_shows_examples_in_the_grammar_key_order() -> None:
    text = prompt("a timer", [("t", {"view": [], "timers": [{"do": [], "while": "x", "every": "1"}],
                                     "title": "T", "state": []})])
    assert 'App: {"title":"T","state":[],"view":[],"timers":[{"every":"1","while":"x","do":[]}]}' in text


def test_autofix_repairs_only_slips() -> None:
    doc = {"title": "Tip", "state": [{"name": "bill", "type": "number"}, {"name": "bill", "type": "number"},
                                     {"name": "tip", "type": "number"}],
           "view": [{"kind": "input", "label": "Bill", "var": "bil"},
                    {"kind": "input", "label": "Bill", "var": "bil"},
                    {"kind": "text", "value": "bill * tipp / 100 +"},
                    {"kind": "button", "label": "Reset", "do": [{"clear": "bill"}, {"clear": "round"}]},
                    {"kind": "text", "value": "total"}]}
    first = attempt(json.dumps(doc))
    assert [str(e) for e in first.errors] == ["view[3].value: at column 1: unknown name 'total'"]
    fixed = json.loads(first.text)
    assert [v["name"] for v in fixed["state"]] == ["bill", "tip"]
    assert fixed["view"][0]["var"] == "bill" and len(fixed["view"]) == 4
    assert fixed["view"][1]["value"] == "bill * tip / 100"
    assert fixed["view"][2]["do"] == [{"clear": "bill"}]


def test_autofix_leaves_far_names_and_valid_documents_alone() -> None:
    for example in load_examples():
        data = tidy(example.app)
        assert data == example.app
    doc = {"title": "x", "state": [{"name": "weight", "type": "number"}],
           "view": [{"kind": "text", "value": "height * 2"}]}
    _, errors = check(doc)
    assert repair(doc, errors) is None  # 'height' is not a misspelling of 'weight'
    document, _ = check(GOOD)
    assert document is not None and validate(document) == []


def test_slips_are_typos_not_other_words() -> None:
    assert all(is_slip(a, "bill") for a in ("bil", "billl", "blil", "Bill"))
    assert not any(is_slip(a, b) for a, b in (("height", "weight"), ("ball", "bill"), ("tp", "tip"),
                                               ("count", "amount")))
