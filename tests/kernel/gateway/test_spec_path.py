"""The offline path's refusals: plain words, and when an example came close, which one and why not."""

from __future__ import annotations

from llmos.kernel.gateway.spec_path import NOT_KNOWN, not_known


def test_a_refusal_names_the_nearest_example_and_why_it_does_not_fit() -> None:
    assert not_known("", "") == NOT_KNOWN
    assert not_known("fahrenheit to celsius", "") == NOT_KNOWN  # nothing to say about it
    words = not_known("fahrenheit to celsius", "it converts the other way")
    assert "“fahrenheit to celsius”" in words and "it converts the other way" in words
    assert words.startswith("The offline model can't make this app") and words.endswith("larger model.")
