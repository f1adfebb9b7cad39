"""The flow's one event shape: what the kernel sends is what the terminal reads back, and `outcome`
is the one answer to "did the flow succeed"."""

from __future__ import annotations

import pytest

from llmos.kernel.flow import Ask, Event, Launched, Offer, outcome
from llmos.kernel.flow import events as flow_events


def test_an_api_message_reads_back_as_the_event_that_was_sent() -> None:
    offer = Offer("sha256:" + "ab" * 32, "a timer", 0.8, "llmos-starter", "Timer")
    sent = flow_events.offered(offer)
    message = {"flow": "f1", **sent.to_json()}
    assert message == {"flow": "f1", "event": "offered-cached", "hash": offer.hash, "prompt": "a timer",
                       "score": 0.8, "model": "llmos-starter", "title": "Timer"}
    received = Event.from_json(message)
    assert received == sent and Offer.from_json(received.data) == offer and offer.short == "ab" * 6


def test_asks_and_launches_use_the_api_spelling() -> None:
    asks = [Ask("timer", "Set timers", True), Ask("notify", "Show notifications", False)]
    asked = flow_events.needs_approval(asks)
    assert asked.data == {"asks": [{"scope": "timer", "words": "Set timers", "required": True},
                                   {"scope": "notify", "words": "Show notifications", "required": False}]}
    assert [Ask.from_json(a) for a in asked.data["asks"]] == asks
    launched = flow_events.launched("sha256:00", ["timer"], Launched("app-00", "Timer", 7))
    assert launched.to_json() == {"event": "launched", "hash": "sha256:00", "granted": ["timer"],
                                  "app_id": "app-00", "title": "Timer", "pid": 7}
    assert flow_events.saved("sha256:00", "m").data == {"hash": "sha256:00", "model": "m"}


@pytest.mark.parametrize("kinds, ok", [
    ([], False),
    (["looked-up", "offered-cached", "needs-approval"], False),
    (["needs-approval", "approved"], True),                      # approved, then `launch: false`
    (["approved", "saved"], True),
    (["approved", "launched"], True),
    (["approved", "failed"], False),                             # approved but the launch failed
    (["approved", "cancelled"], False),
    (["approved", "saved", "generating"], True),                 # other kinds leave it as it was
])
def test_outcome_folds_a_stream_of_kinds(kinds: list[str], ok: bool) -> None:
    result = False
    for kind in kinds:
        result = outcome(result, kind)
    assert result is ok
