"""The offline path's refusals: plain words, and when an example came close, which one and why not."""

from __future__ import annotations

import asyncio

import pytest

from llmos.kernel.gateway.local import LocalModel
from llmos.kernel.gateway.spec_path import NOT_KNOWN, AppNotMade, composes, not_known

from .conftest import make_gateway


def test_a_refusal_names_the_nearest_example_and_why_it_does_not_fit() -> None:
    assert not_known("", "") == NOT_KNOWN
    assert not_known("fahrenheit to celsius", "") == NOT_KNOWN  # nothing to say about it
    words = not_known("fahrenheit to celsius", "it converts the other way")
    assert "“fahrenheit to celsius”" in words and "it converts the other way" in words
    assert words.startswith("The offline model can't make this app") and words.endswith("larger model.")


CONVERTER = ["app-3f2a/convert: converts an amount between currencies (from the app: a currency converter)"]


def test_a_request_to_use_an_installed_app_is_refused_offline_naming_it() -> None:
    words = composes("a budget app that uses my currency converter", CONVERTER)
    assert words is not None and "“a currency converter”" in words and "offers convert" in words
    assert "no calls between apps" in words
    assert composes("a budget app with a currency converter built in", CONVERTER) is None  # no "my app"
    assert composes("a budget app that uses my currency converter", []) is None  # none installed


def test_the_gateway_routes_such_a_request_away_from_the_offline_model(local_model: LocalModel) -> None:
    gateway = make_gateway(local_model)
    gateway.installed = lambda _request: CONVERTER

    async def attempt() -> None:
        async for _event in gateway.generate("a budget app that calls my currency converter"):
            pass

    with pytest.raises(AppNotMade, match="uses another app") as refused:
        asyncio.run(attempt())
    assert "add an Anthropic API key" in str(refused.value)
