"""The places a request names and the places an app shows the time of, so a clock adapted from an example
shows the cities asked for.

Why: measured on 2026-12-06, "what's the time in madrid" adapted the Tokyo clock and kept Tokyo. An
example's city is written in several expressions (`time(now(), 'Tokyo')`, `weekday(now(), 'Tokyo')`),
so it is no slot the model fills (adapt.py leaves a literal written twice alone), and the model would
not reliably change it anyway. Instead the cities are put in by name (`with_places`), and an example
that shows another number of cities than the request names, or only the time here, is another
variant (`misfit`).

The places are the cities the app language knows (llmos.sdk.zones), the same names a clock app resolves.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import cache
from typing import Any

from llmos.kernel.applang import expressions as ex
from llmos.kernel.applang.adapt import ZONE_ARGS
from llmos.kernel.applang.document import keyed_strings
from llmos.sdk import zones

_NOT_PLACES = frozenset({"utc", "gmt"})  # zones that name a clock standard, not a place
CLOCK_FACES = frozenset({"time", "hhmm"})  # functions that show a time of day


@cache
def pattern() -> re.Pattern[str]:
    """A known place as a whole word, any case, any spacing ("New  York")."""
    return _any_of(name for name in zones.ZONES if name not in _NOT_PLACES)


def _any_of(names: Iterable[str]) -> re.Pattern[str]:
    """Any of `names` as whole words, any case, any spacing; the longest first."""
    spelled = (re.escape(name).replace(r"\ ", r"\s+") for name in sorted(names, key=len, reverse=True))
    return re.compile(r"\b(?:" + "|".join(spelled) + r")\b", re.IGNORECASE)


def _key(name: str) -> str:
    return " ".join(name.casefold().split())


def named_places(text: str) -> list[str]:
    """The places `text` names, in order, lower case, each time zone once ("nyc" and "new york" are one)."""
    found: list[str] = []
    seen: set[str] = set()
    for match in pattern().finditer(text):
        name = _key(match.group())
        zone = zones.resolve(name) or name
        if zone not in seen:
            seen.add(zone)
            found.append(name)
    return found


def zone_literals(node: ex.Expr) -> Iterator[str]:
    """The quoted zone names of an expression (`time(now(), 'Tokyo')` gives 'Tokyo')."""
    if isinstance(node, ex.Call) and node.name in ZONE_ARGS and ZONE_ARGS[node.name] < len(node.args):
        yield from literals(node.args[ZONE_ARGS[node.name]])
    for child in ex.children(node):
        yield from zone_literals(child)


def literals(node: ex.Expr) -> Iterator[str]:
    """Every quoted text of an expression, in order."""
    if isinstance(node, ex.Str):
        yield str(node.value)
        return
    for child in ex.children(node):
        yield from literals(child)


def shown_places(document: dict[str, Any]) -> list[str]:
    """The places an app shows the time of, in document order, lower case, each once (not UTC)."""
    found: list[str] = []
    for node in _expressions(document):
        for name in zone_literals(node):
            key = _key(name)
            if key in zones.ZONES and key not in _NOT_PLACES and key not in found:
                found.append(key)
    return found


def _shows_a_clock(document: dict[str, Any]) -> bool:
    """Whether an app shows a time of day (`time(…)`, `hhmm(…)`), here or somewhere."""
    def calls(node: ex.Expr) -> bool:
        if isinstance(node, ex.Call) and node.name in CLOCK_FACES:
            return True
        return any(calls(child) for child in ex.children(node))

    return any(calls(node) for node in _expressions(document))


def _expressions(document: dict[str, Any]) -> Iterator[ex.Expr]:
    """Every string of a document that reads as an expression, parsed (labels read as names)."""
    for _, text in keyed_strings(document):
        try:
            yield ex.parse_expression(text)
        except ex.ExprSyntaxError:
            continue


def _same_places(asked: list[str], shown: list[str]) -> bool:
    zones_shown = {zones.resolve(name) for name in shown}
    return all(zones.resolve(name) in zones_shown for name in asked)


def misfit(request: str, document: dict[str, Any]) -> str | None:
    """Why an app cannot show the time of the places a request names, or None: it shows another
    number of places, not all of those asked, or it is a clock for here only. (An app that shows no
    time of day is not judged: "a packing list for paris" names a place too.)"""
    asked, shown = named_places(request), shown_places(document)
    if not asked:
        return None
    if not shown:
        return "it shows the time here only" if _shows_a_clock(document) else None
    if len(asked) == len(shown) or _same_places(asked, shown):
        return None
    return (f"it shows the time of {len(shown)} place{'s' * (len(shown) > 1)}, "
            f"and the request names {len(asked)}")


def display(name: str) -> str:
    """A place as an app shows it: "new york" is "New York", "nyc" "NYC"."""
    return name.upper() if len(name) <= 3 and name.isalpha() else name.title()


def with_places(request: str, document: dict[str, Any]) -> dict[str, Any] | None:
    """The document with the places it shows replaced by those the request names (in every text: the
    zones, the title, the labels), when there are as many; a place asked for that the app already shows
    stays where it is. None when there is nothing to change."""
    asked, shown = named_places(request), shown_places(document)
    if not asked or len(asked) != len(shown) or _same_places(asked, shown):
        return None
    kept = {zones.resolve(name) for name in asked}
    free = [name for name in shown if zones.resolve(name) not in kept]
    shown_zones = {zones.resolve(name) for name in shown}
    new = [name for name in asked if zones.resolve(name) not in shown_zones]
    if len(free) != len(new):  # the app shows one zone under two names ("New York", "Boston")
        return None
    renames = {old: display(name) for old, name in zip(free, new, strict=True)}
    names = _any_of(renames)

    def rename(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: rename(item) for key, item in value.items()}
        if isinstance(value, list):
            return [rename(item) for item in value]
        if isinstance(value, str):
            return names.sub(lambda match: renames[_key(match.group())], value)
        return value

    out: dict[str, Any] = rename(document)
    return out
