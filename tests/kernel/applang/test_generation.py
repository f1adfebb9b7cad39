"""The strategy from request to app (generation.py), driven by a scripted stand-in for the model."""

from __future__ import annotations

import asyncio
import json
from typing import Any, cast

from llmos.kernel.applang.examples import Example
from llmos.kernel.applang.generation import NO_CLOSE_EXAMPLE, Completion, choose, run
from llmos.kernel.applang.retrieval import Library, Neighbour
from llmos.kernel.applang.things import read_away

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
        self.asks: list[Completion] = []

    async def __call__(self, ask: Completion) -> str:
        self.asks.append(ask)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def make(request: str, model: Model, **options: Any):
    return asyncio.run(run(request, model, examples=LIBRARY, **options))


def test_a_close_example_is_adapted_slot_by_slot() -> None:
    model = Model('Bead Counter", "state', '25"}]')
    outcome = make("a counter with a plus button for beads, starting at 25", model)
    assert (outcome.kind, outcome.how, outcome.example) == ("app", "adapted", "a counter with a plus button")
    assert outcome.source is not None and outcome.source["title"] == "Bead Counter"
    assert outcome.source["state"][0]["init"] == "25" and outcome.source["view"][1]["label"] == "Plus"
    assert outcome.app is not None and '"Bead Counter"' in outcome.app.code
    first, second = model.asks
    assert first.grammar and first.stop == ('"',) and first.answer_so_far == '{"title":"'
    assert first.prompt.endswith('beads, starting at 25\nApp: {"title":"')
    assert 'App: {"title":"Counter","state":[' in first.prompt  # the example is shown whole
    assert second.answer_so_far.startswith('{"title":"Bead Counter","state":[{"name":"count"')
    assert (first.left, second.left) == (2, 1)
    quiet = Model('Bead Counter", "state', '25"}]')
    unasked = make("a counter with a plus button for beads", quiet)
    assert unasked.source is not None and unasked.source["state"][0]["init"] != "25"  # not in the request
    assert len(quiet.asks) == 1  # no number stated: the number slot is not even asked for


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


def test_a_title_that_starts_with_five_words_of_the_request_is_the_examples() -> None:
    request = "a counter with a plus button for the beads on my necklace"
    copied = make(request, Model('A counter with a plus on", "state', '25"}]'))
    assert copied.source is not None and copied.source["title"] == "Counter"
    named = make(request, Model('Bead Counter", "state', '25"}]'))  # four words or fewer: a name
    assert named.source is not None and named.source["title"] == "Bead Counter"


def test_a_title_cut_off_at_its_length_limit_is_the_examples() -> None:
    cut = "Beads on the necklace, one by on"  # 32 characters: the grammar closed it mid-word
    outcome = make("a counter with a plus button for beads", Model(f'{cut}", "state', '25"}]'))
    assert outcome.source is not None and outcome.source["title"] == "Counter"
    whole = make("a counter with a plus button for beads", Model(f'{cut[:-3]}", "state', '25"}]'))
    assert whole.source is not None and whole.source["title"] == cut[:-3]


F_TO_C = {"title": "F to C", "state": [{"name": "f", "type": "number"}],
          "view": [{"kind": "input", "label": "Fahrenheit", "var": "f"},
                   {"kind": "text", "value": "fixed((f - 32) * 5 / 9, 1) + ' C'"}]}
C_TO_F = {"title": "C to F", "state": [{"name": "c", "type": "number"}],
          "view": [{"kind": "input", "label": "Celsius", "var": "c"},
                   {"kind": "text", "label": "Fahrenheit", "value": "fixed(c * 9 / 5 + 32, 1)"}]}
CONVERTERS = [Example("calculators", "fahrenheit to celsius", F_TO_C),
              Example("calculators", "celsius to fahrenheit", C_TO_F)]


def test_a_sibling_that_goes_the_other_way_is_passed_over() -> None:
    index = Library(CONVERTERS)
    found = [Neighbour(CONVERTERS[0], 0.8, 0.0), Neighbour(CONVERTERS[1], 0.7, 0.0)]
    request = "my thermometer reads celsius, what is that in fahrenheit"
    chosen = choose(request, found, index, 0.5)
    assert chosen is not None and chosen.example is CONVERTERS[1]
    assert choose(request, found[:1], index, 0.5) is None  # the only near one goes the other way
    assert choose(request, found, index, 0.75) is None  # the one that fits is not near enough
    refused = asyncio.run(run(request, Model("unused"), examples=Library(CONVERTERS[:1]), adapt_at=0.0,
                              write=False))
    assert refused.how == NO_CLOSE_EXAMPLE and refused.why == "it converts the other way"
    assert refused.example == CONVERTERS[0].request  # the refusal can name what came close, and why not


def test_two_fitting_examples_equally_near_by_meaning_are_told_apart_by_words_or_not_at_all() -> None:
    index = Library(CONVERTERS)
    index.meaning = cast(Any, object())  # thresholds by meaning, with their margin
    tied = [Neighbour(CONVERTERS[0], 0.8, 0.0), Neighbour(CONVERTERS[1], 0.79, 0.0)]
    chosen = choose("celsius to fahrenheit", tied, index, 0.5)
    assert chosen is not None and chosen.example is CONVERTERS[1]  # nearer by words
    assert choose("temperature converter", tied, index, 0.5) is None  # a guess between siblings
    apart = [Neighbour(CONVERTERS[0], 0.8, 0.0), Neighbour(CONVERTERS[1], 0.7, 0.0)]
    assert choose("temperature converter", apart, index, 0.5) is apart[0]


def test_of_two_tied_siblings_the_one_stating_the_requests_number_is_taken() -> None:
    dice = [Example("random", request, COUNTER)
            for request in ("roll a dice", "roll two dice and add them up", "roll a d20 for role playing")]
    index = Library(dice)
    index.meaning = cast(Any, object())  # thresholds by meaning, with their margin
    tied = [Neighbour(dice[0], 0.73, 0.0), Neighbour(dice[1], 0.72, 0.0), Neighbour(dice[2], 0.72, 0.0)]
    chosen = choose("throw a pair of dice and give me the total", tied, index, 0.5)
    assert chosen is not None and chosen.example is dice[1]  # a pair is two
    chosen = choose("a 20 sided die", tied, index, 0.5)
    assert chosen is not None and chosen.example is dice[2]
    chosen = choose("dice for our game", tied, index, 0.5)  # no number stated: words decide, as before
    assert chosen is not None and chosen.example is dice[0]


def test_an_adapted_app_that_still_lacks_the_named_items_is_not_presented() -> None:
    tally = {"title": "Tally", "state": [{"name": "options", "type": "list", "fields": [
        {"name": "name", "type": "text"}, {"name": "votes", "type": "number"}],
        "init": "[['Great', 0], ['Okay', 0], ['Bad', 0]]"}], "view": [
        {"kind": "button", "label": "+1", "do": [{"edit": "options", "at": str(at), "field": "votes",
                                                  "to": f"options[{at}].votes + 1"}]} for at in range(3)]}
    library = Library([Example("trackers", "a tally of moods", tally)])
    request = "a tally of moods: happy, okay and sad"
    kept = Model('Tally"', "Great'", "Okay'", "Bad'")  # the model leaves the rows as they were
    outcome = asyncio.run(run(request, kept, examples=library, adapt_at=0.0, write=False))
    assert outcome.kind == "failed" and outcome.how == NO_CLOSE_EXAMPLE and len(kept.asks) == 4
    assert (outcome.example, outcome.why) == ("a tally of moods", "it would have no happy, sad")
    renamed = Model('Tally"', "Happy'", "Okay'", "Sad'")
    outcome = asyncio.run(run(request, renamed, examples=library, adapt_at=0.0, write=False))
    assert outcome.kind == "app" and outcome.source is not None
    assert outcome.source["state"][0]["init"] == "[['Happy', 0], ['Okay', 0], ['Sad', 0]]"


def test_an_adapted_clock_shows_the_place_the_request_names() -> None:
    tokyo = {"title": "Tokyo Time", "state": [], "view": [
        {"kind": "text", "value": "time(now(), 'Tokyo')", "size": "xl"},
        {"kind": "text", "value": "weekday(now(), 'Tokyo') + ' ' + date(now(), 'Tokyo')"}]}
    clocks = Library([Example("clocks", "what time is it in Tokyo right now", tokyo)])
    model = Model('World Clock"')
    outcome = asyncio.run(run("what's the time in madrid", model, examples=clocks, adapt_at=0.0, write=False))
    assert outcome.how == "adapted" and outcome.source is not None, outcome
    assert outcome.source["title"] == "World Clock"  # the model's title; the zones are put in by name
    assert outcome.source["view"][0]["value"] == "time(now(), 'Madrid')"
    assert "'Tokyo'" not in json.dumps(outcome.source)
    three = asyncio.run(run("times for dubai, seoul and toronto", Model("unused"), examples=clocks,
                            adapt_at=0.0, write=False))
    assert three.how == NO_CLOSE_EXAMPLE
    assert three.why == "it shows the time of 1 place, and the request names 3"


def test_a_request_naming_its_things_gets_the_list_that_starts_with_them() -> None:
    state = [{"name": "player", "type": "text"}, {"name": "players", "type": "list"},
             {"name": "first", "type": "text"}]
    picker = {"title": "Who Starts", "state": state,
              "view": [{"kind": "input", "label": "Player", "var": "player",
                        "do": [{"add": "players", "item": ["player"]}]},
                       {"kind": "list", "var": "players", "delete": True},
                       {"kind": "button", "label": "Who goes first?",
                        "do": [{"set": "first", "to": "pick(players.text)"}]},
                       {"kind": "text", "value": "first"}]}
    library = Library([Example("random", "who goes first? pick a random player", picker),
                       Example("trackers", "a counter with a plus button", COUNTER)])
    request = "who goes first? pick one of alice, ben or carla"
    plain = read_away(request)
    assert plain == "who goes first? pick one of a few options"
    named, read = (library.nearest(text, 1)[0].score for text in (request, plain))
    assert named < read  # the names the index does not know pull the request away
    at = (named + read) / 2
    outcome = asyncio.run(run(request, Model('Who Starts"'), examples=library, adapt_at=at, write=False))
    assert outcome.kind == "app" and outcome.source is not None, outcome
    assert outcome.source["state"][1]["init"] == "['Alice', 'Ben', 'Carla']"
    stamped = json.loads(json.dumps(picker).replace('"item": ["player"]', '"item": ["\'Guest\'"]'))
    library = Library([Example("random", "who goes first? pick a random player", stamped)])
    outcome = asyncio.run(run(request, Model("unused"), examples=library, adapt_at=at, write=False))
    assert outcome.how == NO_CLOSE_EXAMPLE  # its rows are not names the person gives: not given these


def test_word_pairs_become_the_cards_of_a_vocabulary_example() -> None:
    fields = [{"name": "front", "type": "text"}, {"name": "back", "type": "text"}]
    words = {"title": "French Words", "state": [
        {"name": "cards", "type": "list", "fields": fields,
         "init": "[['le chien', 'the dog'], ['le pain', 'the bread']]"},
        {"name": "at", "type": "number"}], "view": [
        {"kind": "text", "value": "cards[at].front", "size": "xl"},
        {"kind": "button", "label": "Next", "do": [{"set": "at", "to": "(at + 1) % len(cards)"}]}]}
    library = Library([Example("learning", "vocabulary flashcards with words and their translations", words),
                       Example("trackers", "a counter with a plus button", COUNTER)])
    request = "vocabulary flashcards: hund is dog, katze is cat, haus is house"
    named, read = (library.nearest(text, 1)[0].score for text in (request, read_away(request) or ""))
    assert named < read
    outcome = asyncio.run(run(request, Model('German Words"'), examples=library, adapt_at=(named + read) / 2,
                              write=False))
    assert outcome.kind == "app" and outcome.source is not None, outcome
    assert outcome.source["state"][0]["init"] == "[['hund', 'dog'], ['katze', 'cat'], ['haus', 'house']]"
