"""Things a request names (things.py): word pairs read from the request, read away for retrieval, and
put into an example's card list; items go to consistency.named_rows."""

from __future__ import annotations

from typing import Any

from llmos.kernel.applang.document import read_document
from llmos.kernel.applang.things import PAIRS_READ, named_pairs, read_away, with_pairs, with_things
from llmos.kernel.applang.validate import validate


def cards(init: str | None = "[['le chien', 'the dog'], ['la maison', 'the house']]",
          shown: str = "cards[at].front") -> dict[str, Any]:
    state: dict[str, Any] = {"name": "cards", "type": "list",
                             "fields": [{"name": "front", "type": "text"}, {"name": "back", "type": "text"}]}
    if init is not None:
        state["init"] = init
    return {"title": "Words", "state": [state, {"name": "at", "type": "number"}],
            "view": [{"kind": "text", "value": shown, "size": "xl"},
                     {"kind": "button", "label": "Next",
                      "do": [{"set": "at", "to": "(at + 1) % len(cards)"}]}]}


def test_pairs_are_read_as_written_up_to_the_end_of_the_sentence() -> None:
    spanish = "flashcards to learn spanish: perro is dog, gato is cat, casa is house. flip to see"
    assert named_pairs(spanish) == [("perro", "dog"), ("gato", "cat"), ("casa", "house")]
    assert named_pairs("Vocab: l'eau means water; le pain = bread and la mer -> the sea") == [
        ("l'eau", "water"), ("le pain", "bread"), ("la mer", "the sea")]
    assert named_pairs("my dog is called rex") == []  # one pair is no list of them
    assert named_pairs("pick one of alice, ben or carla") == []


def test_reading_away_puts_a_few_of_them_in_place_of_the_things() -> None:
    assert read_away("german flashcards: hund is dog, katze is cat, haus is house") == (
        f"german flashcards: {PAIRS_READ}")
    assert read_away("pick one of alice, ben or carla") == "pick one of a few options"
    assert read_away("a tip calculator") is None


def test_a_card_list_starts_with_the_pairs_and_the_app_still_checks() -> None:
    request = "german flashcards: hund is dog, katze is cat, haus is house"
    out = with_pairs(request, cards())
    assert out is not None
    assert out["state"][0]["init"] == "[['hund', 'dog'], ['katze', 'cat'], ['haus', 'house']]"
    parsed, errors = read_document(out)
    assert not errors and not validate(parsed)
    assert with_pairs(request, out) is out  # holds them already: nothing to change
    quote = with_pairs("french: l'eau is water, le lait is milk", cards())
    assert quote is not None and quote["state"][0]["init"] == "[['l\\'eau', 'water'], ['le lait', 'milk']]"
    parsed, errors = read_document(quote)
    assert not errors and not validate(parsed)


def test_a_list_that_is_not_one_of_cards_takes_no_pairs() -> None:
    request = "german flashcards: hund is dog, katze is cat"
    assert with_pairs(request, cards(shown="cards[0].front")) is None  # a row by its position
    assert with_pairs(request, cards(init=None)) is None  # empty, and nothing adds to it
    assert with_pairs(request, cards(init="[['a', 'b']]")) is not None
    assert with_things(request, {"title": "T", "state": [], "view": []}) is None
