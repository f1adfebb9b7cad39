"""From a request to a compiled app, or to an honest "cannot": the bounded repair loop.

The model is any async `complete(prompt) -> text` (the gateway passes the grammar-constrained local
model). Each try's output is parsed, validated and compiled; on errors the next prompt carries the
previous document and its located errors. After `tries` attempts the outcome is a failure with those
errors, never a half-working app.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from llmos.kernel.applang.autofix import repair, tidy
from llmos.kernel.applang.compile import CompiledApp, compile_app
from llmos.kernel.applang.document import Document, decode, read_document
from llmos.kernel.applang.errors import DocumentError, LocatedError
from llmos.kernel.applang.schema import canonical
from llmos.kernel.applang.scope import explain_unsupported
from llmos.kernel.applang.validate import validate

DEFAULT_TRIES = 3
AUTOFIX_ROUNDS = 3
MAX_ERRORS_SHOWN = 6
HEADER = ("Each request below describes a small app. Its app document lists the title, the state "
          "variables, the view widgets and any timers; expressions are formulas over the state.\n\n")
UNSUPPORTED_PREFIX = "This app can't be made offline: "

Complete = Callable[[str], Awaitable[str]]


@dataclass(frozen=True)
class Outcome:
    """What a request became: an app, an honest refusal with a reason, or a failure with errors."""

    app: CompiledApp | None = None
    document: Document | None = None
    unsupported: str | None = None
    errors: tuple[LocatedError, ...] = ()
    tries: int = 0
    how: str = ""  # "adapted" (an example's slots filled), "written", "refused" (generation.py)
    source: dict[str, Any] | None = None  # the app's document as JSON
    example: str = ""  # the request of the example it was adapted from (or, refused, the nearest)
    why: str = ""  # refused as "no close example": why the nearest example does not fit, in words

    @property
    def kind(self) -> str:
        if self.app is not None:
            return "app"
        return "unsupported" if self.unsupported is not None else "failed"


def compact(document: dict[str, Any]) -> str:
    """A document as the model writes it: one line, no spaces, keys in the grammar's order."""
    return json.dumps(canonical(document), separators=(",", ":"), ensure_ascii=False)


def prompt(request: str, examples: Iterable[tuple[str, dict[str, Any]]] = (), previous: str | None = None,
           errors: Iterable[LocatedError] = ()) -> str:
    """The completion prompt: few-shot pairs (a small model copies the closest one, so pass the most
    similar example last), then the request; on a repair, the failed document and its errors come
    just before the request, as a pair the next line corrects."""
    shots = "".join(f"Request: {req}\nApp: {compact(doc)}\n\n" for req, doc in examples)
    repair = ""
    listed = [str(error) for error in errors][:MAX_ERRORS_SHOWN]
    if previous is not None and listed:
        repair = (f"Request: {request}\nApp: {' '.join(previous.split())}\nErrors: {'; '.join(listed)}\n"
                  "Corrected app below.\n\n")
    return f"{HEADER}{shots}{repair}Request: {request}\nApp: "


def unsupported_reason(text: str) -> str:
    """The plain-words reason the shell shows for a model's `unsupported` answer."""
    clean = " ".join("".join(ch for ch in text if ch.isprintable()).split())[:160].rstrip(".")
    return f"{UNSUPPORTED_PREFIX}{clean or 'the request is outside what the app language can express'}."


@dataclass(frozen=True)
class Attempt:
    """One model answer checked end to end, after the deterministic repairs of autofix.py."""

    text: str  # the (repaired) document as the next repair prompt shows it
    document: Document | None
    app: CompiledApp | None
    errors: list[LocatedError]


def attempt(text: str) -> Attempt:
    data, errors = decode(text)
    if errors:
        return Attempt(text, None, None, errors)
    data = tidy(data)
    for _ in range(AUTOFIX_ROUNDS):
        document, errors = read_document(data)
        if not errors and document.unsupported is not None:
            return Attempt(text, document, None, [])
        if not errors:
            errors = validate(document)
        if not errors:
            try:
                return Attempt(compact(data), document, compile_app(document), [])
            except DocumentError as error:  # validate() and the compiler disagree: a bug, shown as errors
                return Attempt(compact(data), document, None, error.errors)
        fixed = repair(data, errors)
        if fixed is None:
            break
        data = fixed
    return Attempt(compact(data) if isinstance(data, dict) else text, None, None, errors)


async def fill(request: str, complete: Complete, *, examples: Iterable[tuple[str, dict[str, Any]]] = (),
               tries: int = DEFAULT_TRIES) -> Outcome:
    """Ask `complete` for a document until one compiles, at most `tries` times."""
    reason = explain_unsupported(request)
    if reason is not None:
        return Outcome(unsupported=reason)
    shots = list(examples)
    previous: str | None = None
    errors: list[LocatedError] = []
    for number in range(1, max(1, tries) + 1):
        result = attempt(await complete(prompt(request, shots, previous, errors)))
        errors = result.errors
        if result.document is not None and result.document.unsupported is not None:
            reason = unsupported_reason(result.document.unsupported)
            return Outcome(document=result.document, unsupported=reason, tries=number)
        if result.app is not None:
            return Outcome(app=result.app, document=result.document, tries=number, how="written")
        previous = result.text
    return Outcome(errors=tuple(errors), tries=max(1, tries))
