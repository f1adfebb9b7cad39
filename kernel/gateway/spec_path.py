"""The spec path, in one place: how a request becomes an app through the app language
(kernel/applang) when the model is a small one that fills documents rather than writing code.

The embedded model and every spec-tier server (openai_provider.py) go through `SpecJob`: it runs
applang's strategy (retrieval, adapting the nearest example, or writing with repairs; see
kernel/applang/generation.py), hands the gateway one `Completion` at a time to stream through the provider,
and in the end gives the checked app (`SpecApp`) or an honest failure (`CannotMake`) whose message is
plain words for the shell. So a change of the app language is made here once and every provider
follows it.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

from llmos.kernel.applang.generation import NO_CLOSE_EXAMPLE, Completion, instructions, narrowed_schema, steps
from llmos.kernel.applang.repair import Outcome
from llmos.kernel.applang.retrieval import library, shots
from llmos.kernel.caps.manifest import Manifest, Request
from llmos.kernel.gateway.errors import GatewayError, ProviderError
from llmos.kernel.gateway.sanitize import one_line

REPAIR_TEMPERATURE = 0.6  # a repair of a spec-made app can only re-sample: warmer, with another seed
BASE_SEED = 7
NO_APP = "The offline model could not make a working app for this request"
NOT_KNOWN = ("The offline model can't make this app: it is not close to any of the apps it knows how to "
             "build (calculators, trackers, lists, timers, clocks, random picks, flashcards, text tools, "
             "drawing).")


# "a budget app that uses my currency converter": the request names another app to use
USES_ANOTHER_APP = re.compile(r"\b(?:uses?|using|calls?|calling|asks?|asking|through|via|from|with)\s+"
                              r"(?:my|the|our)\b", re.IGNORECASE)


def composes(request: str, installed: list[str]) -> str | None:
    """The plain-words refusal for a request to use another installed app (`installed`: what the
    matching apps provide, kernel/registry/providers.py): the app language has no calls between
    apps, so the offline model would silently leave the call out. None when it does not ask that."""
    if not installed or USES_ANOTHER_APP.search(request) is None:
        return None
    function, _, about = installed[0].partition(": ")
    source = about.rsplit("(from the app: ", 1)[-1].rstrip(")") if "(from the app: " in about else function
    return (f"The offline model can't make an app that uses another app (“{source}”, which offers "
            f"{function.rsplit('/', 1)[-1]}): its app language has no calls between apps, and the app "
            "would leave the call out.")


def not_known(example: str, why: str) -> str:
    """The refusal, naming the nearest app it knows and why that one does not fit, when it came close."""
    if not (example and why):
        return NOT_KNOWN
    return (f"The offline model can't make this app: the nearest app it knows (“{example}”) does not fit: "
            f"{why}. Say more about what it should do, or use a larger model.")


class CannotMake(ProviderError):
    """An honest failure of the spec path: the request is outside the app language, or no checked app
    came of it. `reason` is the plain-words sentence the shell shows."""

    def __init__(self, provider: str, reason: str, *, unsupported: bool) -> None:
        super().__init__(provider, reason)
        self.reason = reason
        self.unsupported = unsupported


class AppNotMade(GatewayError):
    """The gateway's answer when the spec path was the only one to try and it could not make the app:
    the message is the plain-words reason (and what the user can do), for the shell to show as is."""

    plain = True


@dataclass(frozen=True)
class SpecApp:
    """A checked, compiled app from a filled document."""

    code: str
    manifest: Manifest
    title: str
    document: dict[str, Any]  # the filled app document (JSON)
    notes: list[str] = field(default_factory=list)  # how it was made, for the audit log


@dataclass(frozen=True)
class SpecTask:
    """One whole-document request for a spec-tier model, as a server receives it (kept as the simple
    form of an Completion for benchmarks that talk to a server directly)."""

    instructions: str
    request: str
    schema: dict[str, Any]
    temperature: float
    seed: int

    @property
    def prompt(self) -> str:
        return f"{self.instructions}Request: {self.request}\nApp: "

    def messages(self) -> list[dict[str, str]]:
        return Completion(self.instructions, self.request, 0).messages()


def sampling(attempt: int) -> tuple[float, int]:
    """(temperature, seed): greedy on a first try; a repair re-samples, each attempt with its own seed."""
    return (REPAIR_TEMPERATURE, BASE_SEED + attempt) if attempt else (0.0, BASE_SEED)


def spec_task(text: str, attempt: int = 0) -> SpecTask:
    """The whole-document task for a sanitised request: its nearest examples as shots, the schema
    narrowed to them."""
    request = one_line(text)
    nearest = library().nearest(request, apps_only=True)
    pairs = shots(nearest)
    temperature, seed = sampling(attempt)
    narrowed = narrowed_schema([doc for _, doc in pairs])
    return SpecTask(instructions(pairs), request, narrowed, temperature, seed)


class SpecJob:
    """One request through the app language for one provider. Drive it with `first()` and
    `answer(text)` until they return None, then take `result()`.

    `incremental`: the provider is the embedded model, which continues a prompt cheaply (it keeps its
    prompt cache) and can score a continuation: it re-ranks the nearest examples and fills an adapted
    example's slots one short completion at a time. A server gets one whole answer under a JSON schema
    instead. `write`: whether the model may write a document of its own when no example is close (off
    for the embedded model, whose written documents were mostly wrong apps when they checked at all;
    docs/gateway.md). `bare`: the embedded model has its LoRA adapter loaded, which writes first from
    the bare request (docs/adapter.md)."""

    def __init__(self, text: str, *, incremental: bool, write: bool, attempt: int = 0,
                 bare: bool = False) -> None:
        self.request = one_line(text)
        self.temperature, self.seed = sampling(attempt)
        self._steps: Generator[Completion, str, Outcome] = steps(self.request, incremental=incremental,
                                                          rank=incremental, write=write, bare=bare)
        self._outcome: Outcome | None = None
        self.asked = 0
        self._answered = 0
        self._expected = 1  # asks answered plus those the current part of the strategy still makes

    def _advance(self, send: str | None) -> Completion | None:
        self._answered += send is not None
        try:
            ask = next(self._steps) if send is None else self._steps.send(send)
        except StopIteration as done:
            self._outcome = done.value
            return None
        self.asked += 1
        self._expected = max(self._expected, self._answered + ask.left)
        return ask

    @property
    def progress(self) -> float:
        """How far the job is, 0..1, for a progress bar: the share of its asks answered so far."""
        return self._answered / max(1, self._expected)

    def first(self) -> Completion | None:
        return self._advance(None)

    def answer(self, text: str) -> Completion | None:
        return self._advance(text)

    def result(self, provider: str) -> SpecApp:
        """The app, or CannotMake with the reason in plain words."""
        outcome = self._outcome
        if outcome is None:
            raise CannotMake(provider, f"{NO_APP} (the model stopped before answering).", unsupported=False)
        if outcome.unsupported is not None:
            raise CannotMake(provider, outcome.unsupported, unsupported=True)
        if outcome.how == NO_CLOSE_EXAMPLE:
            raise CannotMake(provider, not_known(outcome.example, outcome.why), unsupported=False)
        if outcome.app is None or outcome.source is None:
            first = f": {outcome.errors[0]}" if outcome.errors else ""
            raise CannotMake(provider, f"{NO_APP}{first}.", unsupported=False)
        app = outcome.app
        manifest = Manifest(tuple(Request(scope) for scope in sorted(app.scopes)))
        how = f"{outcome.how} from the example {outcome.example!r}" if outcome.example else outcome.how
        return SpecApp(app.code, manifest, app.title, outcome.source,
                       [f"app language: {how}, {self.asked} completions"])


def spec_job(text: str, *, incremental: bool, write: bool | None = None, attempt: int = 0,
             bare: bool = False) -> SpecJob:
    """The job for a sanitised request; by default only a server may write documents of its own."""
    return SpecJob(text, incremental=incremental, write=not incremental if write is None else write,
                   attempt=attempt, bare=bare)
