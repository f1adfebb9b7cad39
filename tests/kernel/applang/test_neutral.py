"""Requests read without their particulars for retrieval (kernel/applang/neutral.py, meaning.py)."""

from __future__ import annotations

import pytest

from llmos.kernel.applang.neutral import neutral
from llmos.kernel.applang.retrieval import library


@pytest.mark.parametrize(("text", "read"), [
    ("what's the time in Paris", "what's the time in a city"),
    ("clock for paris, dubai and Sydney", "clock for several cities"),
    ("London or Tokyo", "several cities"),
    ("days until halloween", "days until a holiday"),
    ("Tokyo Time: countdown in days to Christmas", "a city Time: countdown in days to a holiday"),
    ("a tip calculator that splits the bill", "a tip calculator that splits the bill"),
])
def test_places_and_holidays_read_as_placeholders(text: str, read: str) -> None:
    assert neutral(text) == read


def test_a_city_or_a_holiday_the_library_does_not_name_still_finds_its_app() -> None:
    index = library()
    if index.meaning is None:
        pytest.skip("no sentence encoder installed")
    for request, app in (("what's the time in madrid", "what time is it in Tokyo right now"),
                         ("current time in chicago please", "what time is it in Tokyo right now"),
                         ("days until halloween", "how many days until New Year")):
        best = index.nearest(request, 1, apps_only=True)[0]
        assert (best.example.request, best.score >= index.thresholds.adapt) == (app, True), (request, best)


def test_a_request_without_particulars_scores_as_before() -> None:
    index = library()
    if index.meaning is None:
        pytest.skip("no sentence encoder installed")
    meaning = index.meaning
    rows = len(index.examples)
    assert meaning.vectors.shape[0] == 2 * rows
    for request in ("a tip calculator", "shopping list with checkboxes",
                    "show me the weather forecast for Paris"):
        plain = meaning.vectors[:rows] @ meaning.encoder.encode([request])[0]
        scores = meaning.similarities(request)
        if neutral(request) == request:
            assert (scores == plain).all()
        else:  # the better of the two readings, never less than the request as written (encoded in a
            #    batch of two, a reading differs from its encoding alone in the 8th decimal)
            assert (scores >= plain - 1e-6).all() and (scores > plain + 1e-3).any()
