"""The strategy from request to app (generation.py), driven by a scripted stand-in for the model."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from llmos.kernel.applang.examples import Example
from llmos.kernel.applang.generation import NO_CLOSE_EXAMPLE, Ask, run
from llmos.kernel.applang.retrieval import Library

COUNTER = {"title": "Counter", "state": [{"name": "count", "type": "number", "init": "10"}],
           "view": [{"kind": "text", "value": "count", "size": "xl"},
                    {"kind": "button", "label": "Plus", "do": [{"set": "count", "to": "count + 1"}]}]}
NOTES = {"title": "Notes", "state": [{"name": "note", "type": "text"}, {"name": "notes", "type": "list"}],
         "view": [{"kind": "input", "label": "Note", "var": "note"},
                  {"kind": "button", "label": "Save", "do": [{"add": "notes", "item": ["note"]}]},
                  {"kind": "list", "var": "notes", "delete": True}]}
LIBRARY = Library([Example("trackers", "a counter with a plus button", COUNTER),
                   Example("lists", "notes I can save and delete", NOTES)])


class Model:
    """Answers from a script (the last answer repeats) and records what it was asked."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.asks: list[Ask] = []

    async def __call__(self, ask: Ask) -> str:
        self.asks.append(ask)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def make(request: str, model: Model, **options: Any):
    return asyncio.run(run(request, model, examples=LIBRARY, **options))


def test_a_close_example_is_adapted_slot_by_slot() -> None:
    model = Model('Bead Counter", "state', '25"}]')
    outcome = make("a counter with a plus button for beads", model)
    assert (outcome.kind, outcome.how, outcome.example) == ("app", "adapted", "a counter with a plus button")
    assert outcome.source is not None and outcome.source["title"] == "Bead Counter"
    assert outcome.source["state"][0]["init"] == "25" and outcome.source["view"][1]["label"] == "Plus"
    assert outcome.app is not None and '"Bead Counter"' in outcome.app.code
    first, second = model.asks
    assert first.grammar and first.stop == ('"',) and first.answer_so_far == '{"title":"'
    assert first.prompt.endswith('Request: a counter with a plus button for beads\nApp: {"title":"')
    assert 'App: {"title":"Counter","state":[' in first.prompt  # the example is shown whole
    assert second.answer_so_far.startswith('{"title":"Bead Counter","state":[{"name":"count"')
    assert (first.left, second.left) == (2, 1)


def test_a_server_fills_the_whole_template_in_one_answer() -> None:
    filled = dict(COUNTER, title="Bead Counter")
    model = Model(json.dumps(filled))
    outcome = make("a counter with a plus button for beads", model, incremental=False)
    assert outcome.kind == "app" and outcome.source is not None and outcome.source["title"] == "Bead Counter"
    assert len(model.asks) == 1 and model.asks[0].schema is not None and model.asks[0].grammar is None
    # An answer that is not the template filled leaves the example as it is.
    outcome = make("a counter with a plus button for beads", Model('{"title": "x"}'), incremental=False)
    assert outcome.source == COUNTER


def test_without_a_close_example_the_model_writes_and_errors_are_fed_back() -> None:
    broken = dict(COUNTER, view=[{"kind": "text", "value": "cuont + items"}])
    model = Model(json.dumps(broken), json.dumps(COUNTER))
    outcome = make("a tally of my daily glasses of water", model, adapt_at=2.0)
    assert outcome.kind == "app" and outcome.how == "written" and outcome.tries == 2
    assert model.asks[0].schema is not None
    assert "unknown name 'items'" in model.asks[1].prompt and "Corrected app below." in model.asks[1].prompt


def test_a_failed_writer_falls_back_to_a_near_enough_example() -> None:
    model = Model("{not json")
    outcome = make("a counter with a plus button for beads", model, adapt_at=2.0, fallback_at=0.3, tries=2)
    assert outcome.kind == "app" and outcome.how == "adapted after writing failed"
    assert outcome.source is not None and outcome.source["state"] == COUNTER["state"]


def test_nothing_close_and_no_writing_is_an_honest_failure_without_asking() -> None:
    model = Model("unused")
    outcome = make("a harpsichord tuner", model, write=False)
    assert outcome.kind == "failed" and outcome.how == NO_CLOSE_EXAMPLE and model.asks == []


def test_a_request_outside_the_language_never_reaches_the_model() -> None:
    model = Model("unused")
    outcome = make("read me the news headlines", model)
    assert outcome.kind == "unsupported" and "internet" in (outcome.unsupported or "") and model.asks == []


def test_the_model_saying_it_cannot_is_kept_as_its_reason() -> None:
    outcome = make("a harpsichord tuner", Model('{"unsupported": "it needs the microphone"}'))
    assert outcome.kind == "unsupported"
    assert outcome.unsupported == "This app can't be made offline: it needs the microphone."


WORDS = {"title": "Words", "state": [{"name": "text", "type": "text"}],
         "view": [{"kind": "input", "label": "Text", "var": "text"},
                  {"kind": "text", "label": "Words", "value": "words(text)"}]}
VOWELS = {"title": "Vowels", "state": [{"name": "text", "type": "text"}],
          "view": [{"kind": "input", "label": "Word", "var": "text"},
                   {"kind": "text", "label": "Vowels", "value": "len(text)"}]}
COUNTERS = Library([Example("text", "count the vowels in a word", VOWELS),
                    Example("text", "count the words and sentences of a text", WORDS)])


def test_the_model_reranks_close_candidates_by_how_likely_the_request_is_after_each() -> None:
    plain = Model('Counter"')  # without ranking, the lexical order decides and no likelihood is asked
    lexical = asyncio.run(run("count words", plain, examples=COUNTERS)).example
    assert [ask.continuation for ask in plain.asks] == [None]
    model = Model("-6.0", "-3.0", 'Counter"')  # the lexically nearest is the less likely
    outcome = asyncio.run(run("count words", model, examples=COUNTERS, rank=True))
    first, second, slot = model.asks
    assert first.continuation == second.continuation == " count words" and slot.continuation is None
    assert first.prompt.startswith("App: {") and first.prompt.endswith("}\nRequest:")
    assert f'"title":"{COUNTERS.nearest(lexical, 1)[0].example.app["title"]}"' in first.prompt
    assert outcome.kind == "app" and outcome.example != lexical


def test_a_title_that_repeats_the_request_is_the_examples() -> None:
    model = Model('a counter with a plus button for beads", "state', '25"}]')
    outcome = make("a counter with a plus button for beads", model)
    assert outcome.source is not None and outcome.source["title"] == "Counter"
