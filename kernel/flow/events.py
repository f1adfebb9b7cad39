"""The flow's events: one shape, from the pipeline to every client.

The pipeline yields `Event`s; the kernel sends each one as `{"flow": id, **event.to_json()}`;
`llmos app … --json` prints `event.to_json()`, in-process or through the kernel alike. Field names
are the API's: `hash` is an app's code hash (the registry record calls it `codeHash`) and `asks`
are the capabilities to approve. The records some events carry (Ask, Offer, Launched) are the kernel
API's wire types in llmos/api.py. docs/kernel-api.md lists the kinds and their fields.

| kind | fields |
|---|---|
| looked-up | candidates: [{hash, prompt, score}], rejected? |
| offered-cached | hash, prompt, score, model, title |
| generating | attempt, phase, fraction, tokens |
| analysed | attempt, ok, findings, capabilities |
| repairing | attempt, problems |
| migration | mapping, model, refused? (a regeneration storing other keys: the model's mapping, or why not) |
| needs-approval | asks: [{scope, words, required, warning?}] |
| approved | granted |
| saved | hash, model, identity? and version? (a regeneration: the app and its new version number) |
| launched | hash, granted, app_id, title, pid |
| failed | reason, findings?, hash? |
| cancelled | (the session was cancelled) |
| finished | ok, state (always last; sent by the session, not the pipeline) |
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
from typing import Any

from llmos.api import Ask, Launched, Offer

# what counts as success (the user got the app) and failure, for `outcome`
SUCCEEDED = frozenset({"approved", "saved", "launched"})
FAILED = frozenset({"failed", "cancelled"})
ENVELOPE = ("flow", "event")  # the API message's own keys around an event's fields


@dataclass(frozen=True)
class Event:
    kind: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"event": self.kind, **self.data}

    @classmethod
    def from_json(cls, message: Mapping[str, object]) -> Event:
        """An event as the API sent it (`{"flow", "event", ...fields}`) or as `to_json` wrote it."""
        return cls(str(message["event"]), {k: v for k, v in message.items() if k not in ENVELOPE})


Events = AsyncGenerator[Event, None]  # a flow: the pipeline's steps, or the kernel's pushes read back


def outcome(ok: bool, kind: str) -> bool:
    """Whether the flow has succeeded so far, after an event of `kind`: approved, saved or launched
    make it a success, failed or cancelled a failure, anything else leaves `ok` as it was."""
    if kind in SUCCEEDED:
        return True
    if kind in FAILED:
        return False
    return ok


# -- the events whose fields are records, built in one place so each field has one spelling ------------
def candidate(app_hash: str, prompt: str, score: float) -> dict[str, object]:
    return {"hash": app_hash, "prompt": prompt, "score": score}


def offered(offer: Offer) -> Event:
    return Event("offered-cached", offer.to_json())


def migration(mapping: dict[str, object], model: str, refused: str = "") -> Event:
    """The migration mapping the model wrote for a regeneration; `refused`: why it is not used (the
    values it would have moved are kept aside instead)."""
    return Event("migration", {"mapping": mapping, "model": model,
                               **({"refused": refused} if refused else {})})


def needs_approval(asks: list[Ask]) -> Event:
    return Event("needs-approval", {"asks": [ask.to_json() for ask in asks]})


def saved(app_hash: str, model: str, **version: object) -> Event:
    """`version`: the app identity and version number a regeneration became (identity, version)."""
    return Event("saved", {"hash": app_hash, "model": model, **version})


def launched(app_hash: str, granted: list[str], app: Launched) -> Event:
    return Event("launched", {"hash": app_hash, "granted": granted, **app.to_json()})


def failed(reason: str, **extra: object) -> Event:
    return Event("failed", {"reason": reason, **extra})
