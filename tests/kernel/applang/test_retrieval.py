"""Retrieval of the nearest examples: BM25 over an in-memory FTS5 index, re-scored on a 0..1 scale."""

from __future__ import annotations

from llmos.kernel.applang.examples import Example, load_examples
from llmos.kernel.applang.retrieval import Library, library, shots, words


def example(request: str, title: str = "App", labels: tuple[str, ...] = ()) -> Example:
    view = [{"kind": "text", "label": label} for label in labels] or [{"kind": "text", "label": title}]
    return Example("test", request, {"title": title, "state": [], "view": view})


SMALL = Library([
    example("a tip calculator that splits the bill", "Tip"),
    example("loan payment calculator", "Loan"),
    example("body mass index calculator", "BMI", ("Weight (kg)", "Height (cm)")),
    example("count the words and sentences in a text", "Word Counter"),
    example("count the vowels in a word", "Vowels"),
    example("stopwatch with laps", "Stopwatch"),
    Example("unsupported", "show me the weather forecast", {"unsupported": "it needs the internet"}),
])


def requests(matches) -> list[str]:
    return [match.example.request for match in matches]


def test_a_rare_word_decides_between_two_calculators() -> None:
    found = SMALL.nearest("calculator for the tip on a restaurant bill", 2)
    assert requests(found)[0] == "a tip calculator that splits the bill"
    assert found[0].score > found[1].score


def test_words_of_the_document_are_found_too() -> None:
    """Neither "weight" nor "height" is in the example's request; its labels say them."""
    assert requests(SMALL.nearest("what is my weight for my height", 1)) == ["body mass index calculator"]


def test_words_written_side_by_side_break_a_tie() -> None:
    found = SMALL.nearest("count the words I write", 2)
    assert requests(found) == ["count the words and sentences in a text", "count the vowels in a word"]


def test_the_score_is_comparable_between_requests() -> None:
    exact = SMALL.nearest("stopwatch with laps", 1)[0]
    loose = SMALL.nearest("a stopwatch for my kitchen and garden and bicycle rides", 1)[0]
    assert exact.score == 1.0 and 0 < loose.score < 0.6
    assert SMALL.nearest("zqxv blorf", 3) == [] and SMALL.nearest("", 3) == []


def test_filler_and_numbers_do_not_match() -> None:
    assert words("I want something that shows me 20 percent of what I type") == ["percent"]


def test_unsupported_examples_can_be_left_out() -> None:
    assert requests(SMALL.nearest("weather forecast", 1)) == ["show me the weather forecast"]
    assert SMALL.nearest("weather forecast", 1, apps_only=True) == []


def test_shots_put_the_nearest_last() -> None:
    found = SMALL.nearest("loan calculator for my tip", 2)
    assert [request for request, _ in shots(found)] == requests(found)[::-1]


def test_every_example_finds_itself() -> None:
    index = library()
    assert index is library()  # built once while the files stay the same
    for ex in load_examples():
        if words(ex.request):
            best = index.nearest(ex.request, 1)[0]
            assert best.score == 1.0, (ex.where, best.example.where)


def test_a_word_the_stemmer_leaves_long_is_taken_as_the_example_word_it_begins_with() -> None:
    library = Library([example("flip a coin", "Coin"), example("roll a dice", "Dice")])
    assert library.stems("a coin flipper") == ["coin", "flip"]
    assert library.nearest("a coin flipper", 1)[0].score == 1.0
    assert library.stems("a fli") == ["fli"]  # too short to stand for anything
