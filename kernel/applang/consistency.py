"""Whether an example can do what a request names: checks of an example's document against the request,
so the generator skips a near example that would launch and do a different job (generation.choose).

Why: by meaning, the nearest example is often a sibling of the one the request needs: another
direction of the same converter ("fahrenheit to celsius" for "celsius ... in fahrenheit"), one city's
clock for three, a habit list with other habits, a mood tracker with other buttons. Adapted, such an
example is a working app for another request; the person would rather hear "cannot" (or get the
next example that fits). Each check rests on words the request states plainly, and none rules an
example out for its own request (tests/kernel/applang/test_retrieval.py):

- **Named items.** A request that lists three or more items ("meditate, read and walk", "London,
  Tokyo and New York", "1, 5 or 10 min") wants each of them in the app. The example's choices (list
  contents, city names, the labels of buttons, sliders, checkboxes and texts) are compared with them:
  when the example shares some and lacks more than it shares, it is another variant, unless it has
  free slots to take them (a city, a row's text) or a list whose starting rows can be any
  (`named_rows`: they become the named items). Items that share nothing with the choices are not
  judged ("add, subtract, multiply or divide" names what buttons labelled + - × ÷ do), nor are lists
  of what an app does ("add, edit or delete", "check them off").
- **Direction.** A one-way converter ("fahrenheit to celsius", with no field for celsius) is the
  wrong one for a request that plainly asks the other way ("celsius ... what is that in fahrenheit").
- **Counting down.** A timer that only counts up (a stopwatch, a plank timer) never says the time is
  up, so it cannot serve a request to count down.
- **A value the person types or sets.** "I type my birthday", "let me enter the minutes", "I set the
  minutes" need a field (or, to set, a slider): preset buttons are another variant of the app.
- **What the request asks to see.** A weekday, today's date or a colour's code must be in what the
  app shows (its texts and rows), not only somewhere in it (a painter's brush colour is hex() too).
  So must a random number asked for: a guessing game draws one and keeps it hidden (`hides_draw`).
"""
from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from llmos.kernel.applang import expressions as ex
from llmos.kernel.applang import places
from llmos.kernel.applang.adapt import Template
from llmos.kernel.applang.document import keyed_strings

PREFIX = 4  # letters two words share to count as one ("kilo", "kilograms"; "meditate", "meditation")
CONTROLS = frozenset({"button", "slider", "check", "text"})  # widgets whose labels name a choice or a result
_WORD = re.compile(r"[a-z0-9]+")
_ITEM = r"[a-z0-9][a-z0-9' ]{0,30}?"
# items separated by commas, the last after "and" or "or": "meditate, read and walk", "1, 5 or 10"
_LIST = re.compile(rf"((?:{_ITEM}, ?)+(?:{_ITEM},? )?(?:and|or|&) {_ITEM})"
                   r"(?=$|[.,;:!?)]| (?:and|or|&) | [a-z])")
_UNIT_WORDS = frozenset({"min", "mins", "minute", "minutes", "sec", "secs", "second", "seconds", "s", "m",
                         "h", "hour", "hours", "bpm", "beats", "percent", "kg", "lb", "km"})
# words around an item, not the item: "a", "my", "buttons" ("happy, okay and sad buttons")
_STOP = frozenset({
    "a", "an", "the", "my", "our", "your", "his", "her", "their", "i", "im", "me", "we", "you", "it", "its",
    "is", "are", "be", "to", "of", "for", "in", "on", "at", "by", "from", "with", "into", "as", "some",
    "buttons", "button", "each", "one", "ones", "all", "any", "either", "then", "also", "just", "like",
    "how", "many", "much", "what", "which", "who",
})
# an enumeration of what an app does, not of what it holds: "add, edit or delete", "check them off"
_VERBS = frozenset({"add", "edit", "delete", "remove", "check", "tick", "untick", "clear", "reset", "save",
                    "start", "stop", "pause", "resume", "undo", "copy", "share", "sort", "search", "filter",
                    "mark", "hide", "show", "see", "keep", "track", "list", "type", "enter", "change"})
_PRONOUNS = frozenset({"it", "them", "they", "those", "ones", "these", "this", "that", "i", "me", "we"})
# direction: "X to Y" / "X into Y" in an example's request; the request's target after these words
_ONE_WAY = re.compile(r"\b([a-z]+) (?:to|into) (?:us |uk |metric )?([a-z]+)\b")
_TARGET = re.compile(r"\b(?:to|into) (?:us |uk |metric )?([a-z]+)")
_LAST_IN = re.compile(r"\bin (?:us |uk |metric )?([a-z]+)(?: please)?\s*(?:$|[.,;!?])")
_SOURCE = re.compile(r"\bfrom ([a-z]+)")
_BOTH_WAYS = re.compile(r"\b(?:and back|both ways|either way|back and forth|and the other way)\b")


def _same(a: str, b: str) -> bool:
    """Two words that name the same thing: equal, or the same first PREFIX letters (both that long)."""
    if a == b:
        return True
    if a.isdigit() or b.isdigit():
        return False
    return len(a) >= PREFIX and len(b) >= PREFIX and a[:PREFIX] == b[:PREFIX]


@dataclass(frozen=True)
class Item:
    words: tuple[str, ...]  # the item's meaningful words ("new york" -> ("new", "york"))
    text: str  # the item as the request writes it, lower case, without the words around it

    @property
    def number(self) -> bool:
        return len(self.words) == 1 and self.words[0].isdigit()


def named_items(request: str) -> list[Item]:
    """The items of the request's longest enumeration of three or more ("habits: meditate, read and
    walk" -> meditate, read, walk); [] when it lists none. The first item starts after the last
    word around it ("... right now in new york" -> new york), the last ends where the others'
    length does ("walk every day" -> walk). A number item keeps only its number ("10 min" -> 10)."""
    text = " ".join(request.casefold().replace("\u2019", "'").split())
    best: list[str] = []
    for match in _LIST.finditer(text):
        parts = [p.strip() for p in re.split(r",|\b(?:and|or)\b|&", match.group(1))]
        parts = [p for p in parts if p]
        if len(parts) > len(best):
            best = parts
    if len(best) < 3:
        return []
    split = [_WORD.findall(part.replace("'", "")) for part in best]
    if any(_PRONOUNS & set(words) for words in split[1:]):
        return []  # clauses ("check them off and delete them"), not items
    longest = max((len(words) for words in split[1:-1]), default=2) or 1
    out: list[Item] = []
    for index, found in enumerate(split):
        numbers = [w for w in found if w.isdigit()]
        if numbers and all(w.isdigit() or w in _UNIT_WORDS or w in _STOP for w in found):
            out.append(Item((numbers[0],), numbers[0]))
            continue
        if index == 0:
            cut = max((at + 1 for at, w in enumerate(found) if w in _STOP), default=0)
            found = found[cut:][-(longest + (cut > 0)):]  # one word more after a clear boundary
        elif index == len(split) - 1:
            end = next((at for at, w in enumerate(found) if w in _STOP), len(found))
            found = found[:end][:longest]
        found = [w for w in found if w not in _STOP]
        if found and found[-1].isdigit() and index == 0:
            found = found[-1:]  # "quick 1, 5 or 10 min": the first item is the number
        if found and not set(found) <= _VERBS:
            out.append(Item(tuple(found), " ".join(found)))
    return out if len(out) >= 3 else []


def _widgets(view: Sequence[Any]) -> Iterator[dict[str, Any]]:
    for widget in view:
        if isinstance(widget, dict):
            yield widget
            yield from _widgets(widget.get("items", []))


def _parsed(text: Any) -> ex.Expr | None:
    if not isinstance(text, str):
        return None
    try:
        return ex.parse_expression(text)
    except ex.ExprSyntaxError:
        return None


def choices(document: dict[str, Any]) -> list[str]:
    """The words of what an app offers to choose from or shows by name: the texts of lists' starting
    rows, city and zone names, and the labels of buttons, sliders, checkboxes and texts (not of
    fields: "deposit" is a down payment)."""
    texts: list[str] = []
    for state in document.get("state", []):
        if isinstance(state, dict) and state.get("type") == "list":
            node = _parsed(state.get("init"))
            texts += list(places.literals(node)) if node is not None else []
    for widget in _widgets(document.get("view", [])):
        if widget.get("kind") in CONTROLS and isinstance(widget.get("label"), str):
            texts.append(widget["label"])
        for key in ("value", "row", "fill"):
            node = _parsed(widget.get(key))
            texts += list(places.zone_literals(node)) if node is not None else []
    return [w for text in texts for w in _WORD.findall(text.casefold().replace("'", ""))]


def _free_slots(shape: Template | None, items: Sequence[Item]) -> int:
    """Slots the model may fill with a named item: quoted texts (list rows, cities) that are not
    already one of the items."""
    if shape is None:
        return 0
    free = 0
    for slot in shape.slots:
        if slot.kind != "quoted":
            continue
        held = _WORD.findall(slot.original.casefold())
        if not any(_same(w, i) for item in items for i in item.words for w in held):
            free += 1
    return free


def _resizable(document: dict[str, Any], empty: bool = False) -> list[tuple[int, list[str]]]:
    """(index in state, rows) of each list whose starting rows are plain texts and that no expression or
    action reaches by a fixed position: its rows can be others, and more or fewer. With `empty`, also
    each list that starts empty and gets its rows from what the person types (`typed_into`)."""
    text = json.dumps(document)
    out = []
    for index, state in enumerate(document.get("state", [])):
        if not isinstance(state, dict) or state.get("type") != "list":
            continue
        node = _parsed(state.get("init", "[]" if empty else None))
        if not isinstance(node, ex.ListLit) or not (node.items or typed_into(document, state.get("name"))):
            continue
        if any(not isinstance(item, ex.Str) for item in node.items):
            continue
        if by_position(text, state.get("name")):
            continue
        out.append((index, [str(i.value) for i in node.items if isinstance(i, ex.Str)]))
    return out


def by_position(text: str, name: Any) -> bool:
    """Whether a document (its JSON `text`) reaches a row of list `name` by a fixed position
    (`name[0]`, an edit or a removal at "1"): then its rows cannot be others."""
    escaped = re.escape(str(name))
    return any(re.search(pattern, text) for pattern in (
        rf"\b{escaped}\s*\[\s*\d", rf'"(?:edit|remove)": "{escaped}", "at": "\d'))


def typed_into(document: dict[str, Any], name: Any) -> bool:
    """Whether an action adds to list `name` a row that starts with what the person typed in a field
    (a names list, a list of places): its rows are things named, not records the app stamps (a mood
    log's buttons add today's date and a fixed mood)."""
    typed = {w.get("var") for w in _widgets(document.get("view", [])) if w.get("kind") == "input"}

    def adds(value: Any) -> bool:
        if isinstance(value, dict):
            item = value.get("item")
            if value.get("add") == name and isinstance(item, list) and item and item[0] in typed:
                return True
            return any(adds(child) for child in value.values())
        return isinstance(value, list) and any(adds(child) for child in value)

    return adds(document.get("view", []))


def holds_items(request: str, document: dict[str, Any]) -> bool:
    """Whether one of the app's lists starts with every thing the request names."""
    items = named_items(request)
    for _, rows in _resizable(document, empty=True):
        held = [w for row in rows for w in _WORD.findall(row.casefold().replace("'", ""))]
        if items and all(any(_same(w, h) for w in item.words for h in held) for item in items):
            return True
    return False


def named_rows(request: str, document: dict[str, Any], *, empty: bool = False) -> dict[str, Any] | None:
    """The document with a list's starting rows replaced by the items the request names ("habits:
    meditate, read and walk" for a habit list that starts with Exercise and Read), when the list can
    take any rows (`_resizable`) and shares an item with them, or, with `empty`, starts with none;
    None when there is nothing to change.
    Why: the model fills a starting list slot by slot, so it can rename rows but never add one."""
    items = named_items(request)
    if not items or any(item.number for item in items):
        return None
    for index, rows in _resizable(document, empty):
        held = [w for row in rows for w in _WORD.findall(row.casefold().replace("'", ""))]
        shared = [item for item in items if any(_same(w, h) for w in item.words for h in held)]
        if (rows and not shared) or len(shared) == len(items) == len(rows):
            continue
        out = copy.deepcopy(document)
        out["state"][index]["init"] = "[" + ", ".join(
            "'" + item.text[:1].upper() + item.text[1:] + "'" for item in items) + "]"
        return out
    return None


def items_read_away(request: str) -> str | None:
    """The request with its enumeration of named things read as "a few options" ("pick one of alice,
    ben or carla" -> "pick one of a few options"), or None when it names none, or numbers: how near
    an example is that takes whatever items are named into a list (things.py)."""
    items = named_items(request)
    if not items or any(item.number for item in items):
        return None
    text = " ".join(request.casefold().replace("\u2019", "'").split())
    first = re.search(rf"\b{re.escape(items[0].words[0])}\b", text)
    last = [m.end() for m in re.finditer(rf"\b{re.escape(items[-1].words[-1])}\b", text)]
    if first is None or not last or last[-1] <= first.start():
        return None
    return text[:first.start()] + "a few options" + text[last[-1]:]


def missing_items(request: str, document: dict[str, Any], shape: Template | None = None) -> list[str]:
    """The request's named items that the app lacks, when the app is a variant with other choices
    (module docstring); [] when it has them all, when it could take them in its free slots or its
    starting rows (`named_rows`), or when none of them is among its choices."""
    items = named_items(request)
    if not items or named_rows(request, document) is not None:
        return []
    offered = choices(document)
    numbers = all(item.number for item in items)
    if numbers:
        found = [item for item in items if item.words[0] in offered]
    else:
        if not any(_same(w, o) for item in items for w in item.words for o in offered):
            return []  # another vocabulary ("add, subtract or divide" for + - ÷): not judged
        shown = offered + _inputs(document) + _WORD.findall(str(document.get("title", "")).casefold())
        found = [item for item in items if any(_same(w, o) for w in item.words for o in shown)]
    lacking = [item for item in items if item not in found]
    if not numbers and (len(lacking) < 2 or len(lacking) <= len(found)):
        return []  # one word apart, or mostly there: a synonym ("big" for "large") or where the
        #            list starts ("a cuppa, green or black"), not another variant
    if len(lacking) <= _free_slots(shape, items):
        return []
    return [" ".join(item.words) for item in lacking]


def _inputs(document: dict[str, Any]) -> list[str]:
    """The words of the labels of an app's fields: what a person types in."""
    return [w for widget in _widgets(document.get("view", [])) if widget.get("kind") == "input"
            for w in _WORD.findall(str(widget.get("label", "")).casefold())]


def wrong_direction(request: str, example_request: str, document: dict[str, Any]) -> bool:
    """Whether the example converts one way only ("X to Y" in its request, and no field for Y) and
    the request plainly asks the other way: Y is where it comes from ("from Y"), or X where it goes
    ("into X", "to X", or "in X" at the end of a sentence: "what is that in X")."""
    wanted = " ".join(request.casefold().split())
    own = example_request.casefold()
    if _BOTH_WAYS.search(own):
        return False
    fields = _inputs(document)
    words = _WORD.findall(wanted)
    goes_to = _TARGET.findall(wanted) + _LAST_IN.findall(wanted)
    comes_from = _SOURCE.findall(wanted)
    pairs = _ONE_WAY.findall(own)
    for source, target in pairs:
        if source in _STOP or target in _STOP or _same(source, target):
            continue
        if any(_same(target, w) for w in fields):
            continue  # a field for the target too: it converts both ways
        if any(_same(source, back) and _same(target, there) for there, back in pairs):
            continue  # "inches to cm and cm to inches"
        if not (own.startswith(f"{source} ") or "conver" in own):
            continue  # a conversion ("X to Y", "a converter ... X to Y"), not "a counter to count"
        if not (any(_same(source, w) for w in words) and any(_same(target, w) for w in words)):
            continue
        if any(_same(source, w) for w in goes_to) or any(_same(target, w) for w in comes_from):
            return True
    return False


_COUNT_DOWN = re.compile(r"\bcount(?:s|ing)?(?: \w+)? down\b|\bcount ?downs?\b|\bdown to (?:zero|0)\b")


def _ends_by_itself(timer: dict[str, Any]) -> bool:
    """Whether a timer counts towards an end: it subtracts, goes round (a breathing cycle), stops at a
    bound, or acts on a condition."""
    if any(op in str(timer.get("while", "")) for op in ("<", ">")):
        return True
    actions = [action for action in timer.get("do", []) if isinstance(action, dict)]
    return any("if" in action or any(op in str(action.get("to", "")) for op in "-%") for action in actions)


def counts_up_only(request: str, document: dict[str, Any]) -> bool:
    """Whether the request asks for a count down and the app ticks without ever reaching an end (a
    stopwatch, a plank timer that counts up, a metronome): it would never say the time is up."""
    timers = [t for t in document.get("timers", []) if isinstance(t, dict)]
    if not timers or not _COUNT_DOWN.search(" ".join(request.casefold().split())):
        return False
    return not any(_ends_by_itself(timer) for timer in timers)


# what a request asks to see -> the functions an app needs to show it; whether only what the app shows
# counts (a brush's colour is hex() too, but shows no code; a date stamped on a row by an action is
# shown in the row); and how to say it lacks it
_ASKED: tuple[tuple[re.Pattern[str], frozenset[str], bool, str], ...] = (
    (re.compile(r"\bday of the week\b|\bweekdays?\b|\bwhat day\b"), frozenset({"day_of_week", "weekday"}),
     False, "it never shows a weekday"),
    (re.compile(r"\btoday'?s (?:date|day)\b|\bcurrent date\b|\bdate today\b|\bwhat day (?:it is|is it)\b"),
     frozenset({"today", "now"}), False, "it does not read today's date"),
    (re.compile(r"\bhex\b|\bcolou?r codes?\b|\bcodes?\b.*\b(?:web|html|css)\b"), frozenset({"hex"}),
     True, "it shows no colour code"),
)
_SHOWN = frozenset({"value", "row"})  # keys of what a widget shows
_EXPRESSIONS = _SHOWN | {"to", "item", "init", "if", "while", "where", "notify", "copy", "fill", "color"}


def _calls(document: dict[str, Any], keys: frozenset[str]) -> set[str]:
    """The names of the functions an app's expressions under `keys` call."""
    found: set[str] = set()

    def visit(node: ex.Expr) -> None:
        if isinstance(node, ex.Call):
            found.add(node.name)
        for child in ex.children(node):
            visit(child)

    for key, value in keyed_strings(document):
        if key in keys and (node := _parsed(value)) is not None:
            visit(node)
    return found


def lacks_asked(request: str, document: dict[str, Any]) -> str | None:
    """Why the app cannot show what the request plainly asks to see (a weekday, today's date, a
    colour's hex code), or None: none of the functions that show it is in the app (in what it
    shows, for a colour code)."""
    wanted = " ".join(request.casefold().replace("\u2019", "'").split())
    for pattern, needed, shown_only, why in _ASKED:
        if not pattern.search(wanted):
            continue
        calls = _calls(document, _SHOWN if shown_only else _EXPRESSIONS)
        if not calls & needed and not _shows_hex(needed, document):
            return why
    return None


def _shows_hex(needed: frozenset[str], document: dict[str, Any]) -> bool:
    """Whether an app that asks for a colour code has it otherwise: fixed codes ('#ff0000') or a field
    where the person types one."""
    if "hex" not in needed:
        return False
    text = json.dumps(document).casefold()
    return bool(re.search(r"#[0-9a-f]{6}\b", text)) or any(w in ("hex", "code") for w in _inputs(document))


# a request to be given a random number ("a random number from 1 to 100", "random whole number")
_DRAW_ASKED = re.compile(r"\brandom (?:whole |lucky )?(?:number|integer)\b")
_RANDOM_CALLS = frozenset({"randint", "random", "pick", "shuffle"})
_GUESSING = re.compile(r"\bguess")  # "a game where i guess a random number": hidden on purpose


def hides_draw(request: str, document: dict[str, Any]) -> str | None:
    """Why the app does not show the random number the request asks for, or None: what it shows (its
    texts and rows) neither calls a random function nor reads a value that an action sets from one. A
    guessing game draws its number and shows only hints about it (right for a request to guess)."""
    wanted = " ".join(request.casefold().split())
    if not _DRAW_ASKED.search(wanted) or _GUESSING.search(wanted):
        return None
    drawn: set[str] = set()
    shown: set[str] = set()

    def visit(node: ex.Expr, into: set[str]) -> None:
        if isinstance(node, ex.Call) and node.name in _RANDOM_CALLS:
            into.add("")  # a draw in the expression itself
        if isinstance(node, ex.Name):
            into.add(node.name)
        for child in ex.children(node):
            visit(child, into)

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            target, expression = value.get("set"), _parsed(value.get("to"))
            if isinstance(target, str) and expression is not None:
                found: set[str] = set()
                visit(expression, found)
                if "" in found:
                    drawn.add(target)
            for key in _SHOWN:
                if (parsed := _parsed(value.get(key))) is not None:
                    visit(parsed, shown)
            for child in value.values():
                walk(child)
        elif isinstance(value, list):
            for child in value:
                walk(child)

    walk(document.get("view", []))
    walk(document.get("timers", []))
    return None if shown & (drawn | {""}) else "it never shows the number it draws"


# the person types a value in ("i type my birthday", "let me enter the minutes"), or sets one ("i set the
# minutes"): after a word that makes the verb theirs, so "what type of" and "press enter" are not
_TYPES_IN = re.compile(r"\b(?:i|me|we|you|can|to|then|and|i'll|i'd)\s+"
                       r"(?:type|enter|input|put in|key in|fill in)\b")
_SETS = re.compile(r"\b(?:i|me|we|you|can|to|then|and)\s+set\b")


def lacks_field(request: str, document: dict[str, Any]) -> str | None:
    """Why the app cannot take the value the request says the person types or sets, or None: typing
    needs a field; setting a field or a slider (preset buttons set one of a few values, not the one
    the person has in mind)."""
    wanted = " ".join(request.casefold().replace("\u2019", "'").split())
    kinds = {widget.get("kind") for widget in _widgets(document.get("view", []))}
    if _TYPES_IN.search(wanted) and "input" not in kinds:
        return "it has no field to type in"
    if _SETS.search(wanted) and not kinds & {"input", "slider"}:
        return "it has no field or slider to set a value with"
    return None


def misfit(request: str, example_request: str, document: dict[str, Any], shape: Template | None = None
           ) -> str | None:
    """Why the example cannot serve the request, in words, or None when nothing plainly says so."""
    if wrong_direction(request, example_request, document):
        return "it converts the other way"
    field = lacks_field(request, document)
    if field is not None:
        return field
    elsewhere = places.misfit(request, document)
    if elsewhere is not None:
        return elsewhere
    if counts_up_only(request, document):
        return "it counts up and never ends"
    asked = lacks_asked(request, document) or hides_draw(request, document)
    if asked is not None:
        return asked
    lacking = missing_items(request, document, shape)
    if lacking:
        return "it has no " + ", ".join(lacking)
    return None
