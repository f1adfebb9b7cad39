"""From a request to an app with a small model: retrieval, then adapting the nearest example or writing
a document with repairs, and an honest "cannot" when neither gives a working app.

The strategy, in order (docs/gateway.md, "Making an app offline"):
1. A request the language clearly cannot serve (scope.py) is refused with a reason; no model runs.
2. The nearest examples are retrieved (retrieval.py). When the nearest is close (`ADAPT_AT`), its
   document is adapted: the model fills only its slots (adapt.py), so the app has the example's
   working structure with the request's words and numbers.
3. Otherwise the model writes a whole document under a grammar narrowed to the nearest examples'
   names, widget kinds and sizes, and each failed answer is repaired (autofix.py) and fed back with its
   located errors, at most `tries` times.
4. If no written document checks, the nearest example is adapted after all when it is near enough
   (`FALLBACK_AT`); else the outcome is a failure with the errors: never a half-working app.

`steps()` is a generator: it yields each `Ask` (one completion it needs) and is sent the model's text;
its return value is the Outcome. So the gateway streams every completion through whichever provider
it routes to, and tests drive it with a scripted model (`run`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable, Generator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from llmos.kernel.applang.adapt import Template, template, template_schema, values_in
from llmos.kernel.applang.compile import compile_app
from llmos.kernel.applang.document import read_document
from llmos.kernel.applang.errors import DocumentError, LocatedError
from llmos.kernel.applang.repair import (
    DEFAULT_TRIES,
    HEADER,
    MAX_ERRORS_SHOWN,
    Outcome,
    attempt,
    compact,
    unsupported_reason,
)
from llmos.kernel.applang.retrieval import Library, Match, library
from llmos.kernel.applang.schema import canonical, schema
from llmos.kernel.applang.scope import explain_unsupported
from llmos.kernel.applang.validate import validate

ADAPT_AT = 0.4  # retrieval score from which the nearest example is adapted rather than written anew
FALLBACK_AT = 0.3  # ... and from which it is adapted when no written document checks
SHOTS = 2  # examples in a prompt: every prompt token costs seconds in the VM
WRITE_TOKENS = 420  # the answer cap for a whole document
SLOT_TOKENS = {"text": 14, "quoted": 14, "number": 6}
RERANK = 3  # candidates the model re-ranks ...
RERANK_FLOOR = 0.2  # ... among those with at least this retrieval score
RERANK_WEIGHT = 0.3  # score per nat of average log-probability above the candidates' mean
MAX_INSTRUCTIONS = 2400  # characters (about 750 tokens): a farther shot is left out past this
NO_CLOSE_EXAMPLE = "no close example"


@dataclass(frozen=True)
class Ask:
    """One completion the generator needs. `instructions` is kernel text (a chat's system turn) and
    `request` the user's words (its user turn); `answer_so_far` is document text the kernel has
    already fixed, which the model continues (the embedded model only)."""

    instructions: str
    request: str
    max_tokens: int
    schema: dict[str, Any] | None = None  # a whole answer: the JSON schema it must match
    grammar: str | None = None  # a slot: the GBNF grammar of its value and closing character
    answer_so_far: str = ""
    stop: tuple[str, ...] = ()  # the answer ends before the first of these
    continuation: str | None = None  # when set, no completion: the answer is the average log-probability
    #                                  per token of this text after the prompt (rerank)
    what: str = "document"  # for progress: "document", "try 1 of 3", "slot 2 of 9"
    left: int = 1  # asks still to come in this part of the strategy, this one included (for progress)

    @property
    def prompt(self) -> str:
        """Both channels as one completion prompt, for a base model's plain completion (a likelihood
        ask's prompt is its `answer_so_far` alone)."""
        if self.continuation is not None:
            return self.answer_so_far
        return f"{self.instructions}Request: {self.request}\nApp: {self.answer_so_far}"

    def messages(self) -> list[dict[str, str]]:
        """The chat form, for a server: the request stays in the user turn."""
        system = self.instructions.rstrip() + "\n\nAnswer with the app document."
        return [{"role": "system", "content": system},
                {"role": "user", "content": f"Request: {self.request}"}]


Steps = Generator[Ask, str, Outcome]


def instructions(shots: Sequence[tuple[str, dict[str, Any]]], repair: str = "") -> str:
    """The kernel's part of a prompt: what a document is, the few-shot pairs (nearest last) and, on a
    repair, the failed answer with its errors."""
    return HEADER + "".join(f"Request: {req}\nApp: {compact(doc)}\n\n" for req, doc in shots) + repair


def narrowed_schema(documents: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The document schema narrowed to what the nearest examples use: their widget kinds, and arrays no
    longer than theirs plus one, since a base model pads arrays towards their maximum."""
    full = schema()
    apps = [doc for doc in documents if "unsupported" not in doc]
    if not apps:
        return full
    kinds = {w.get("kind") for doc in apps for top in doc.get("view", [])
             for w in (top, *top.get("items", []))}
    app = full["anyOf"][0]
    props = app["properties"]
    for key in ("state", "view", "timers"):
        longest = max(len(doc.get(key, [])) for doc in apps)
        props[key]["maxItems"] = min(props[key]["maxItems"], longest + 1)
        if longest == 0 and key == "timers":
            del props[key]
    leaves = full["$defs"]["leaf"]["anyOf"]
    kept = [leaf for leaf in leaves if leaf["properties"]["kind"]["const"] in kinds]
    full["$defs"]["leaf"]["anyOf"] = kept or leaves
    if "row" not in kinds:
        props["view"]["items"] = {"$ref": "#/$defs/leaf"}
    return full


def _check(document: dict[str, Any]) -> list[LocatedError]:
    parsed, errors = read_document(document)
    return errors or validate(parsed)


def _finish(document: dict[str, Any], how: str, tries: int, nearest: Match | None) -> Outcome:
    parsed, errors = read_document(document)
    errors = errors or validate(parsed)
    if errors:
        return Outcome(errors=tuple(errors), tries=tries, how=how)
    try:
        app = compile_app(parsed)
    except DocumentError as error:
        return Outcome(errors=tuple(error.errors), tries=tries, how=how)
    return Outcome(app=app, document=parsed, tries=tries, how=how, source=document,
                   example=nearest.example.request if nearest else "")


def adapt(request: str, match: Match, *, incremental: bool, shots: Sequence[Match] = ()) -> Steps:
    """Fill the slots of `match`'s document for `request` (see adapt.py)."""
    shape: Template = template(canonical(match.example.app))
    pairs = [m.example.shot() for m in shots if m is not match] + [match.example.shot()]
    text = instructions(pairs)
    while len(pairs) > 1 and len(text) > MAX_INSTRUCTIONS:
        pairs = pairs[1:]
        text = instructions(pairs)
    values: list[str] = []
    if incremental:
        for number, slot in enumerate(shape.slots):
            answer = yield Ask(text, request, SLOT_TOKENS[slot.kind], grammar=slot.grammar(),
                               answer_so_far=shape.prefix(values), stop=(slot.closer,),
                               what=f"slot {number + 1} of {len(shape.slots)}",
                               left=len(shape.slots) - number)
            value = _slot_value(answer, slot.closer)
            values.append(slot.original if _echoes(value, request) else value)
    else:
        answer = yield Ask(text, request, WRITE_TOKENS, schema=template_schema(shape))
        found = None
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            found = values_in(shape, compact(canonical(json.loads(answer))))
        values = found if found is not None else [slot.original for slot in shape.slots]
    document, _ = shape.settle(values, _check)
    return _finish(document, "adapted", 1, match)


def _echoes(value: str, request: str) -> bool:
    """Whether a filled text is a run of four or more of the request's own words: a base model's habit
    ("I want to add up what i spend on" as a title), never better than the example's text."""
    return len(value.split()) >= 4 and " ".join(value.lower().split()) in " ".join(request.lower().split())


def _slot_value(answer: str, closer: str) -> str:
    cut = answer.split(closer, 1)[0] if closer in answer else answer
    return cut.strip()


def write_document(request: str, matches: Sequence[Match], tries: int) -> Steps:
    """Ask for whole documents, repairing and feeding errors back, at most `tries` times."""
    shots = [m.example.shot() for m in reversed(matches)]
    narrowed = narrowed_schema([doc for _, doc in shots])
    previous = ""
    errors: list[LocatedError] = []
    for number in range(1, max(1, tries) + 1):
        repair = ""
        if previous and errors:
            listed = "; ".join(str(error) for error in errors[:MAX_ERRORS_SHOWN])
            repair = (f"Request: {request}\nApp: {' '.join(previous.split())}\nErrors: {listed}\n"
                      "Corrected app below.\n\n")
        answer = yield Ask(instructions(shots, repair), request, WRITE_TOKENS, schema=narrowed,
                           what=f"try {number} of {tries}", left=tries - number + 1)
        result = attempt(answer)
        if result.document is not None and result.document.unsupported is not None:
            reason = unsupported_reason(result.document.unsupported)
            return Outcome(document=result.document, unsupported=reason, tries=number, how="written")
        if result.app is not None:
            source = json.loads(result.text) if result.text.startswith("{") else None
            return Outcome(app=result.app, document=result.document, tries=number, how="written",
                           source=source)
        errors, previous = result.errors, result.text
    return Outcome(errors=tuple(errors), tries=max(1, tries), how="written")


def rerank(request: str, found: list[Match]) -> Generator[Ask, str, list[Match]]:
    """The candidates re-scored with the model's view (a noisy channel): how likely the request is
    after each example's document, as an average log-probability per token. Each score moves by
    `RERANK_WEIGHT` times the distance of its likelihood from the candidates' mean, so an example
    the model finds clearly more plausible than the others gains and one it finds less plausible
    loses; nearest first. Measured on held-out requests this mends lexical near misses ("count the
    words" is the word counter, not the vowel counter) at the cost of a few seconds."""
    candidates = [m for m in found[:RERANK] if m.score >= RERANK_FLOOR]
    if len(candidates) < 2:
        return found
    likelihoods: list[float] = []
    for number, match in enumerate(candidates):
        answer = yield Ask("", request, 1, answer_so_far=f"App: {compact(match.example.app)}\nRequest:",
                           continuation=f" {request}", what="choosing the nearest example",
                           left=len(candidates) - number)
        try:
            likelihoods.append(float(answer))
        except ValueError:
            return found
    mean = sum(likelihoods) / len(likelihoods)
    moved = [replace(m, score=round(min(1.0, max(0.0, m.score + RERANK_WEIGHT * (lp - mean))), 4))
             for m, lp in zip(candidates, likelihoods, strict=True)]
    moved.sort(key=lambda m: -m.score)
    return moved + [m for m in found if m not in candidates]


def steps(request: str, *, examples: Library | None = None, incremental: bool = True, write: bool = True,
          rank: bool = False, tries: int = DEFAULT_TRIES, adapt_at: float = ADAPT_AT,
          fallback_at: float = FALLBACK_AT) -> Steps:
    """The whole strategy (module docstring) as a generator of Asks returning the Outcome. Without
    `write`, a request with no close example fails at once (how="no close example"); with `rank`,
    the model re-ranks the nearest candidates first (`rerank`: only a model that can score a
    continuation, the embedded one)."""
    reason = explain_unsupported(request)
    if reason is not None:
        return Outcome(unsupported=reason, how="refused")
    found = (examples or library()).nearest(request, max(SHOTS, RERANK), apps_only=True)
    if rank:
        found = yield from rerank(request, found)
    found = found[:SHOTS]
    nearest = found[0] if found else None
    if nearest is not None and nearest.score >= adapt_at:
        return (yield from adapt(request, nearest, incremental=incremental, shots=found))
    if not write:
        return Outcome(how=NO_CLOSE_EXAMPLE, example=nearest.example.request if nearest else "")
    written = yield from write_document(request, found, tries)
    if written.app is not None or written.unsupported is not None:
        return written
    if nearest is not None and nearest.score >= fallback_at:
        adapted = yield from adapt(request, nearest, incremental=incremental, shots=found)
        return replace(adapted, tries=adapted.tries + written.tries, how="adapted after writing failed")
    return written


async def run(request: str, complete: Callable[[Ask], Awaitable[str]], **options: Any) -> Outcome:
    """Drive steps() with an async model: `complete(ask) -> text`."""
    plan = steps(request, **options)
    try:
        ask = next(plan)
        while True:
            ask = plan.send(await complete(ask))
    except StopIteration as done:
        outcome: Outcome = done.value
        return outcome
