"""The things a request names for its app to hold, read away for retrieval and put into the example's
lists: items ("pick one of alice, ben or carla": consistency.named_items) and word pairs ("german
flashcards: hund is dog, katze is cat, haus is house").

Why: the sentence encoder scores names and foreign words it does not know as noise, so a request that
spells out its contents falls under the threshold of the very example that would hold them. Read
with the things as "a few options" or "a few words and their translations", it is near that example
again (generation._for_things); the example is adapted only when one of its lists can start with the
things, and the app is presented only when it does (`with_things`).
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from llmos.kernel.applang import expressions as ex
from llmos.kernel.applang.consistency import by_position, holds_items, items_read_away, named_rows, typed_into

PAIRS_READ = "a few words and their translations"
_PAIR = re.compile(r"^\s*(?:and\s+)?(\S.*?)\s+(?:is|means|=|->|→)\s+(\S.*?)\s*$", re.IGNORECASE)
_SEPARATORS = re.compile(r",|;|\band\b", re.IGNORECASE)
_MIN_PAIRS = 2
Pair = tuple[str, str]


def named_pairs(request: str) -> list[Pair]:
    """The request's word pairs, as written: two or more "X is Y" (or means, =, ->) in a row, separated
    by commas, semicolons or "and", after a colon when there is one and up to the end of the
    sentence ("spanish: perro is dog, gato is cat. flip to see" -> perro/dog, gato/cat); [] when it
    lists fewer."""
    text = " ".join(request.replace("\u2019", "'").split())
    body = text.split(":", 1)[1] if ":" in text else text
    body = re.split(r"[.!?](?:\s|$)", body, maxsplit=1)[0]
    pairs: list[Pair] = []
    for part in _SEPARATORS.split(body):
        found = _PAIR.match(part)
        if found is None:
            if pairs:
                break
            continue
        pairs.append((found.group(1), found.group(2)))
    return pairs if len(pairs) >= _MIN_PAIRS else []


def pairs_read_away(request: str) -> str | None:
    """The request with its run of pairs read as "a few words and their translations", or None when
    it names no pairs."""
    pairs = named_pairs(request)
    if not pairs:
        return None
    text = " ".join(request.replace("\u2019", "'").split())
    start = text.find(pairs[0][0])
    end = text.rfind(pairs[-1][1])
    if start < 0 or end < start:
        return None
    return text[:start] + PAIRS_READ + text[end + len(pairs[-1][1]):]


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _card_lists(document: dict[str, Any]) -> list[tuple[int, list[Pair]]]:
    """(state index, starting pairs) of each list that holds cards: a first and a second text field,
    starting rows that are pairs of texts (or none, when the person types the cards in), and no
    expression or action that reaches a row by a fixed position."""
    text = json.dumps(document)
    found = []
    for index, state in enumerate(document.get("state", [])):
        if not isinstance(state, dict) or state.get("type") != "list":
            continue
        fields = state.get("fields", [])
        if len(fields) < 2 or any(not isinstance(f, dict) or f.get("type") != "text" for f in fields[:2]):
            continue
        try:
            node = ex.parse_expression(str(state.get("init", "[]")))
        except ex.ExprSyntaxError:
            continue
        if not isinstance(node, ex.ListLit) or not (node.items or typed_into(document, state.get("name"))):
            continue
        cells = [row.items[:2] for row in node.items if isinstance(row, ex.ListLit) and len(row.items) > 1]
        rows = [(first.value, second.value) for first, second in cells
                if isinstance(first, ex.Str) and isinstance(second, ex.Str)]
        if len(rows) < len(node.items) or by_position(text, state.get("name")):
            continue
        found.append((index, rows))
    return found


def _folded(pairs: list[Pair]) -> set[Pair]:
    return {(a.casefold(), b.casefold()) for a, b in pairs}


def with_pairs(request: str, document: dict[str, Any]) -> dict[str, Any] | None:
    """The document whose first card list starts with the request's pairs (or as it is, when it
    already does), or None when it has no card list or the request no pairs."""
    pairs = named_pairs(request)
    lists = _card_lists(document)
    if not pairs or not lists:
        return None
    index, rows = lists[0]
    if _folded(pairs) <= _folded(rows):
        return document
    out = copy.deepcopy(document)
    out["state"][index]["init"] = "[" + ", ".join(f"[{_quoted(a)}, {_quoted(b)}]" for a, b in pairs) + "]"
    return out


def read_away(request: str) -> str | None:
    """The request with the things it names read as a few of them (pairs first, then items), or None
    when it names none."""
    return pairs_read_away(request) or items_read_away(request)


def with_things(request: str, document: dict[str, Any]) -> dict[str, Any] | None:
    """The document with a list that starts with the things the request names (as it is when it
    already holds them), or None when no list of it can."""
    if named_pairs(request):
        return with_pairs(request, document)
    if holds_items(request, document):
        return document
    return named_rows(request, document, empty=True)
