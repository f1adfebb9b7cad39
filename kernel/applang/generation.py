"""From a request to an app with a small model: retrieval, then adapting the nearest example or writing
a document with repairs, and an honest "cannot" when neither gives a working app.

The strategy, in order (docs/gateway.md, "Making an app offline"):
1. A request the language clearly cannot serve (scope.py) is refused with a reason; no model runs.
   With the embedded model's LoRA adapter, the adapter writes the app from the bare request first;
   the steps below run only when its app does not check (`write_bare`).
2. The nearest examples are retrieved (retrieval.py). The nearest that is close (the library's
   `thresholds.adapt`) and that the request does not plainly rule out (consistency.py: another
   direction, other named items, counting up for a count down, not showing what is asked to be
   seen) is adapted, unless another that fits
   is as near (`choose`): the model fills only its slots (adapt.py), so the app has the example's
   working structure with the request's words and numbers. An adapted app that still lacks items
   the request names is not presented.
3. Otherwise the model writes a whole document under a grammar narrowed to the nearest examples'
   names, widget kinds and sizes, and each failed answer is repaired (autofix.py) and fed back with its
   located errors, at most `tries` times.
4. If no written document checks, the nearest example is adapted after all when it is near enough
   (`thresholds.fallback`); else the outcome is a failure with the errors: never a half-working app.

`steps()` is a generator: it yields each `Completion` (one completion it needs) and is sent the model's text;
its return value is the Outcome. So the gateway streams every completion through whichever provider
it routes to, and tests drive it with a scripted model (`run`).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Awaitable, Callable, Generator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from llmos.kernel.applang import places, things
from llmos.kernel.applang.adapt import Slot, Template, template, template_schema, values_in
from llmos.kernel.applang.compile import compile_app
from llmos.kernel.applang.consistency import misfit, missing_items, named_rows
from llmos.kernel.applang.document import read_document
from llmos.kernel.applang.errors import DocumentError, LocatedError
from llmos.kernel.applang.grounding import grounded, plain_numbers, stated_numbers
from llmos.kernel.applang.repair import (
    DEFAULT_TRIES,
    HEADER,
    MAX_ERRORS_SHOWN,
    Outcome,
    attempt,
    compact,
    unsupported_reason,
)
from llmos.kernel.applang.retrieval import Library, Neighbour, library
from llmos.kernel.applang.schema import canonical, schema
from llmos.kernel.applang.scope import explain_unsupported
from llmos.kernel.applang.validate import validate

# Examples in a prompt; every prompt token costs about 0.7 s in the VM under TCG. Adapting shows only
# the nearest: on the 82-prompt bench, one shot gave the same verdict for every prompt as two, with 45 %
# fewer prompt tokens (165 against 295 a prompt). Writing a document anew shows two.
ADAPT_SHOTS = 1
WRITE_SHOTS = 2
WRITE_TOKENS = 420  # the answer cap for a whole document
SLOT_TOKENS = {"text": 14, "quoted": 14, "number": 6, "date": 6}
CHECKED = 4  # nearest examples checked against the request (consistency.py) for one that fits
WORD_GAP = 0.05  # a tie by meaning is broken when one example is this much nearer by words
RERANK = 3  # candidates the model re-ranks ...
RERANK_FLOOR = 0.2  # ... among those with at least this retrieval score
RERANK_WEIGHT = 0.3  # score per nat of average log-probability above the candidates' mean
ECHO_WORDS = 4  # a filled text that is all a run of this many of the request's words is an echo
ECHO_START = 5  # ... and so is one that starts with a run of this many
MAX_INSTRUCTIONS = 2400  # characters (about 750 tokens): a farther shot is left out past this
NO_CLOSE_EXAMPLE = "no close example"


@dataclass(frozen=True)
class Completion:
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
    adapter: bool = False  # for the embedded model's LoRA adapter: the bare prompt, the adapter applied

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


Steps = Generator[Completion, str, Outcome]


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


def _finish(document: dict[str, Any], how: str, tries: int, nearest: Neighbour | None) -> Outcome:
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


def choose(request: str, found: Sequence[Neighbour], index: Library, at: float) -> Neighbour | None:
    """The example to adapt among `found` (nearest first): the nearest with a score of at least `at` that
    the request does not plainly rule out (consistency.misfit: another direction, other named items).
    When another that fits is within the library's margin by meaning, the one whose request states a
    number the request states is taken when only one does ("a pair of dice": two dice, not one; a
    d20, not a d6), else the nearer by words (by `WORD_GAP`), and if neither is, none: two siblings
    equally near is a guess, and an honest "cannot" is better than the wrong sibling."""
    fitting = [m for m in found if m.score >= at and misfit(
        request, m.example.request, m.example.app, template(canonical(m.example.app))) is None]
    if not fitting:
        return None
    margin = index.thresholds.margin
    tied = [m for m in fitting if m.score > fitting[0].score - margin - 1e-9] if margin > 0 else fitting[:1]
    if len(tied) == 1:
        return tied[0]
    asked = plain_numbers(request)
    numbered = [m for m in tied if asked & plain_numbers(m.example.request)]
    if len(numbered) == 1:
        return numbered[0]
    by_words = sorted(((index.word_score(request, m.example), m) for m in tied), key=lambda pair: -pair[0])
    return by_words[0][1] if by_words[0][0] - by_words[1][0] >= WORD_GAP else None


def _for_things(request: str, index: Library, at: float) -> Neighbour | None:
    """The example for a request that names its things ("pick one of alice, ben or carla", "hund is
    dog, katze is cat") when it is near only once they are read away (things.read_away), and one of
    its lists can start with them (things.with_things). Why: things.py."""
    plain = things.read_away(request)
    if plain is None:
        return None
    match = choose(plain, index.nearest(plain, CHECKED, apps_only=True), index, at)
    if match is None or things.with_things(request, match.example.app) is None:
        return None
    return match


def adapt(request: str, match: Neighbour, *, incremental: bool, shots: Sequence[Neighbour] = (),
          named: bool = False) -> Steps:
    """Fill the slots of `match`'s document for `request` (see adapt.py). An app that still lacks
    items the request names (consistency.missing_items: the model did not put them in its slots) is
    not presented: the outcome is "no close example". A clock shows the places the request names
    (places.with_places) before the model fills anything, so its texts are written around them.
    With `named` (the match came from `_for_things`), the app must start with the things named."""
    shape: Template = template(canonical(places.with_places(request, match.example.app) or match.example.app))
    pairs = [m.example.shot() for m in shots if m is not match] + [match.example.shot()]
    text = instructions(pairs)
    while len(pairs) > 1 and len(text) > MAX_INSTRUCTIONS:
        pairs = pairs[1:]
        text = instructions(pairs)
    values: list[str] = []
    if incremental:
        numbers_stated = bool(stated_numbers(request))
        for number, slot in enumerate(shape.slots):
            if slot.kind == "number" and not numbers_stated:
                values.append(slot.original)  # grounding would put it back: no completion (seconds in a VM)
                continue
            answer = yield Completion(text, request, SLOT_TOKENS[slot.kind], grammar=slot.grammar(),
                                      answer_so_far=shape.prefix(values), stop=(slot.closer,),
                                      what=f"slot {number + 1} of {len(shape.slots)}",
                                      left=len(shape.slots) - number)
            value = _slot_value(answer, slot.closer)
            values.append(slot.original if _cut(value, slot) or _echoes(value, request) else value)
    else:
        answer = yield Completion(text, request, WRITE_TOKENS, schema=template_schema(shape))
        found = None
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            found = values_in(shape, compact(canonical(json.loads(answer))))
        values = found if found is not None else [slot.original for slot in shape.slots]
    document, _ = shape.settle(grounded(shape, values, request), _check)
    renamed = things.with_things(request, document) if named else named_rows(request, document)
    if renamed is not None and not _check(renamed):
        document = renamed
    elif named:
        return Outcome(how=NO_CLOSE_EXAMPLE, tries=1, example=match.example.request,
                       why="its list could not start with the things named")
    lacking = missing_items(request, document)
    if lacking:
        return Outcome(how=NO_CLOSE_EXAMPLE, tries=1, example=match.example.request,
                       why="it would have no " + ", ".join(lacking))
    return _finish(document, "adapted", 1, match)


def _echoes(value: str, request: str) -> bool:
    """Whether a filled text copies the request rather than naming a thing, a base model's habit, never
    better than the example's text: all of it a run of four or more of the request's words ("I want to
    add up what i spend on" as a title), or its first five words such a run with more after them
    ("Stopwatch for my runs that are 1")."""
    words, asked = _words(value), f" {' '.join(_words(request))} "
    return ((len(words) >= ECHO_WORDS and f" {' '.join(words)} " in asked)
            or (len(words) > ECHO_START and f" {' '.join(words[:ECHO_START])} " in asked))


def _words(text: str) -> list[str]:
    return re.findall(r"[\w']+", text.lower())


def _cut(value: str, slot: Slot) -> bool:
    """Whether a text ran into its slot's length limit, where the grammar closed it mid-word: a base
    model that copies the request does ("Signature pad with a button to [")."""
    return slot.kind in ("text", "quoted") and len(value) >= slot.limit


def _slot_value(answer: str, closer: str) -> str:
    cut = answer.split(closer, 1)[0] if closer in answer else answer
    return cut.strip()


def write_document(request: str, matches: Sequence[Neighbour], tries: int) -> Steps:
    """Completion for whole documents, repairing and feeding errors back, at most `tries` times."""
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
        answer = yield Completion(instructions(shots, repair), request, WRITE_TOKENS, schema=narrowed,
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


BY_ADAPTER = "written by the adapter"


def write_bare(request: str) -> Steps:
    """The LoRA adapter's way (docs/adapter.md): the bare request and one whole document under the
    full grammar, with no examples in the prompt. A document that does not check, or that lacks items
    the request names, is not presented: the outcome is a failure, and few-shot retrieval goes next."""
    answer = yield Completion("", request, WRITE_TOKENS, schema=schema(), what="document", adapter=True)
    result = attempt(answer)
    if result.app is None or result.document is None:
        return Outcome(errors=tuple(result.errors), tries=1, how=BY_ADAPTER)
    source = json.loads(result.text)
    lacking = missing_items(request, source)
    if lacking:
        return Outcome(tries=1, how=BY_ADAPTER, why="it would have no " + ", ".join(lacking))
    return Outcome(app=result.app, document=result.document, tries=1, how=BY_ADAPTER, source=source)


def rerank(request: str, found: list[Neighbour]) -> Generator[Completion, str, list[Neighbour]]:
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
        answer = yield Completion("", request, 1,
                                  answer_so_far=f"App: {compact(match.example.app)}\nRequest:",
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
          rank: bool = False, bare: bool = False, tries: int = DEFAULT_TRIES, adapt_at: float | None = None,
          fallback_at: float | None = None) -> Steps:
    """The whole strategy (module docstring) as a generator of Asks returning the Outcome. Without
    `write`, a request with no close example fails at once (how="no close example"); with `rank`,
    the model re-ranks the nearest candidates by words first (`rerank`: only a model that can score a
    continuation, the embedded one; retrieval by meaning needs no re-ranking, and the VM saves the
    seconds). With `bare`, the embedded model's adapter writes the app from the bare request first
    (`write_bare`), and the rest runs only when its app does not check. The thresholds are the
    library's unless given."""
    reason = explain_unsupported(request)
    if reason is not None:
        return Outcome(unsupported=reason, how="refused")
    if bare:
        written = yield from write_bare(request)
        if written.app is not None:
            return written
    index = examples or library()
    adapt_at = index.thresholds.adapt if adapt_at is None else adapt_at
    fallback_at = index.thresholds.fallback if fallback_at is None else fallback_at
    found = index.nearest(request, max(WRITE_SHOTS, RERANK, CHECKED), apps_only=True)
    if rank and index.meaning is None:
        found = yield from rerank(request, found)
    nearest = found[0] if found else None
    chosen = choose(request, found, index, adapt_at)
    if chosen is not None:
        return (yield from adapt(request, chosen, incremental=incremental, shots=_shots(found, chosen)))
    listing = _for_things(request, index, adapt_at)
    if listing is not None:
        return (yield from adapt(request, listing, incremental=incremental, shots=[listing], named=True))
    if not write:
        return Outcome(how=NO_CLOSE_EXAMPLE, example=nearest.example.request if nearest else "",
                       why=_why_not(request, nearest, adapt_at))
    written = yield from write_document(request, found[:WRITE_SHOTS], tries)
    if written.app is not None or written.unsupported is not None:
        return written
    chosen = choose(request, found, index, fallback_at)
    if chosen is not None:
        adapted = yield from adapt(request, chosen, incremental=incremental, shots=_shots(found, chosen))
        return replace(adapted, tries=adapted.tries + written.tries, how="adapted after writing failed")
    return written


def _why_not(request: str, nearest: Neighbour | None, at: float) -> str:
    """Why the nearest example was not adapted, for the refusal: it does not fit the request (misfit),
    or it is only somewhat alike; "" when it is not alike at all."""
    if nearest is None or nearest.score < at:
        return ""
    app = nearest.example.app
    reason = misfit(request, nearest.example.request, app, template(canonical(app)))
    return reason or "another example is as near, so which one was meant is a guess"


def _shots(found: Sequence[Neighbour], chosen: Neighbour) -> list[Neighbour]:
    """The examples an adapting prompt shows: the chosen one last, after the nearest others."""
    return [*[m for m in found if m is not chosen][:ADAPT_SHOTS - 1], chosen]


async def run(request: str, complete: Callable[[Completion], Awaitable[str]], **options: Any) -> Outcome:
    """Drive steps() with an async model: `complete(ask) -> text`."""
    plan = steps(request, **options)
    try:
        ask = next(plan)
        while True:
            ask = plan.send(await complete(ask))
    except StopIteration as done:
        outcome: Outcome = done.value
        return outcome
