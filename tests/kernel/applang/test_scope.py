"""Requests clearly outside the app language get a plain-words reason; everyday requests do not."""

from __future__ import annotations

import pytest

from llmos.kernel.applang import explain_unsupported
from llmos.kernel.applang.examples import load_examples


@pytest.mark.parametrize("request_text, words", [
    ("show me the weather in Paris tomorrow", "internet"),
    ("live bitcoin price ticker", "internet"),
    ("a browser for my favourite websites", "internet"),
    ("translate English to Spanish", "language model or an online service"),
    ("send an email to my boss every Monday", "sends messages"),
    ("take a photo with the camera", "camera"),
    ("record my voice memos", "microphone"),
    ("play music from my collection", "audio or video"),
    ("open a PDF file and show it", "files"),
    ("show my current location on a map", "location"),
    ("turn bluetooth on and off", "the device or the system"),
    ("a chatbot that answers anything", "language model"),
    ("a tetris game", "game"),
])
def test_out_of_scope_requests_get_a_reason(request_text: str, words: str) -> None:
    reason = explain_unsupported(request_text)
    assert reason is not None and reason.startswith("This app can't be made offline: ")
    assert words in reason


@pytest.mark.parametrize("request_text", [
    "a volume converter from litres to gallons",
    "a list of movies I want to watch",
    "a contact list with names and phone numbers",
    "loan payment calculator",
    "a quiz where I answer questions about capitals",
    "things to buy at the market",
    "a todo list that works without internet",
    "draw a picture with my mouse",
    "feeding tracker for the baby",
])
def test_everyday_requests_pass(request_text: str) -> None:
    assert explain_unsupported(request_text) is None


def test_no_example_request_is_refused_by_mistake() -> None:
    for example in load_examples():
        reason = explain_unsupported(example.request)
        assert (reason is not None) == example.unsupported, (example.request, reason)
