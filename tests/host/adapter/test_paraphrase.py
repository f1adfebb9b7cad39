"""The paraphrase rules: reproducible, never the original, and no names torn apart."""

from __future__ import annotations

import random

from llmos.host.adapter.paraphrase import casual, frames, paraphrases, reorder_items, swap_words


def test_the_same_seed_gives_the_same_paraphrases_and_another_seed_others() -> None:
    request = "a simple stopwatch with start, stop and reset"
    first = paraphrases(request, 3, seed=0)
    assert first == paraphrases(request, 3, seed=0)
    assert len(first) == 3 and request not in first and len(set(first)) == 3
    assert any(paraphrases(request, 3, seed=seed) != first for seed in range(1, 5))


def test_the_framing_fits_the_first_word() -> None:
    assert "make me a tip calculator" in frames("a tip calculator")
    assert "make me a shopping list" in frames("shopping list")
    assert "an app to convert words to snake_case" in frames("convert words to snake_case")
    assert "an app that tells me is this year a leap year" in frames("is this year a leap year?")
    assert not any(text.startswith("help me quiz me") for text in frames("quiz me on capitals"))


def test_listed_items_change_order_but_names_stay_whole() -> None:
    rng = random.Random(3)
    seen = {reorder_items("stopwatch with start, stop and reset", rng) for _ in range(20)}
    assert len(seen) > 1
    words = ["and", "reset", "start", "stop"]
    assert all(sorted(text.replace(",", "").split()[2:]) == words for text in seen)
    assert reorder_items("office hours in New York, London, Dubai and UTC", rng) == \
        "office hours in New York, London, Dubai and UTC"


def test_synonyms_and_casual_typing() -> None:
    assert swap_words("Favourite colour picker", random.Random(0), chance=1.0) == "Favorite color picker"
    assert swap_words("favourite colour", random.Random(0), chance=0.0) == "favourite colour"
    texts = {casual("Sleep Log.", random.Random(seed)) for seed in range(20)}
    assert "sleep log" in texts and all(text.lower().startswith("sleep log") for text in texts)
