"""Deterministic paraphrases of a request: the same app asked for in other words.

A model trained on one wording per app learns that wording; people type others ("make me a …",
"i need …", US spellings, lower case, no punctuation). Each rule is a plain rewrite; a paraphrase
applies one framing and a seeded choice of the rest, so a run is reproducible from its seed.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

# word -> replacement, applied to whole words (case kept for the first letter)
SYNONYMS: dict[str, str] = {
    "colour": "color", "colours": "colors", "favourite": "favorite", "practise": "practice",
    "metres": "meters", "centimetres": "centimeters", "kilometres": "kilometers", "litres": "liters",
    "simple": "basic", "show": "display", "shows": "displays", "tick": "check", "ticks": "checks",
    "calculator": "calc", "minutes": "mins", "seconds": "secs", "kilograms": "kg", "kilos": "kg",
    "pick": "choose", "picks": "chooses", "track": "log", "tracker": "log", "count": "tally",
    "counter": "tally counter", "want": "would like", "things": "stuff", "maybe": "perhaps",
    "quick": "fast", "total": "sum", "each": "every", "every": "each", "tells": "gives",
    "random": "randomly chosen", "generator": "maker", "converter": "conversion tool",
}
# leading verbs that make a request an instruction ("add sales tax to a price")
VERBS = frozenset({"add", "turn", "resize", "shuffle", "draw", "convert", "practise", "practice", "learn",
                   "write", "keep", "help", "track", "count", "roll", "flip", "pick", "split", "call",
                   "time", "save", "work", "find", "check", "show", "log", "mark", "quiz", "test", "choose",
                   "make", "share", "guess", "spin", "generate", "remind", "tell", "measure", "plan"})
QUESTION_WORDS = frozenset({"how", "what", "is", "am", "when", "which", "who", "are", "do", "does", "can",
                            "will", "should"})


def _article_frames(text: str) -> list[str]:
    return [f"make me {text}", f"i need {text}", f"can you build {text}", f"{text} please",
            f"i want {text}", f"give me {text}"]


def _noun_frames(text: str) -> list[str]:
    article = "an" if text[:1].lower() in "aeiou" else "a"
    return [f"make me {article} {text}", f"i need {article} {text}", f"{article} {text} app",
            f"{text} app", f"build {article} {text}", f"can i get {article} {text}"]


def _verb_frames(text: str) -> list[str]:
    general = [f"an app to {text}", f"something to {text}", f"a tool to {text}"]
    if " me " in f" {text} ":  # "quiz me on …": not "help me quiz me on …"
        return general
    return [*general, f"i want to {text}", f"help me {text}", f"let me {text}"]


def _question_frames(text: str) -> list[str]:
    bare = text.rstrip("?").strip()
    return [f"an app that tells me {bare}", f"{bare}", f"i want to know {bare}", f"tell me {bare}",
            f"check {bare}", f"{bare}? make an app for it"]


def frames(request: str) -> list[str]:
    """The framings that fit the request's first word."""
    text = request.strip()
    first = text.split(" ", 1)[0].lower() if text else ""
    if first in ("a", "an"):
        return _article_frames(text)
    if first in QUESTION_WORDS or text.endswith("?"):
        return _question_frames(text)
    if first in VERBS:
        return _verb_frames(text)
    return _noun_frames(text)


def swap_words(text: str, rng: random.Random, chance: float = 0.5) -> str:
    """Each word with a synonym is swapped with the given chance."""

    def one(match: re.Match[str]) -> str:
        word = match.group(0)
        replacement = SYNONYMS.get(word.lower())
        if replacement is None or rng.random() >= chance:
            return word
        return replacement.capitalize() if word[:1].isupper() else replacement

    return re.sub(r"[A-Za-z]+", one, text)


def reorder_items(text: str, rng: random.Random) -> str:
    """'start, stop and reset' -> 'reset, start and stop': coordinated items in another order."""
    match = re.search(r"(\S+ )((?:[a-z-]+, )+)([a-z-]+) and ([a-z-]+)\b", text)
    if not match or match.group(1)[:1].isupper():  # "New York, London and UTC": names stay whole
        return text
    items = [*(item for item in match.group(2).split(", ") if item), match.group(3), match.group(4)]
    shuffled = items[:]
    rng.shuffle(shuffled)
    replaced = f"{match.group(1)}{', '.join(shuffled[:-1])} and {shuffled[-1]}"
    return text[:match.start()] + replaced + text[match.end():]


def casual(text: str, rng: random.Random) -> str:
    """How many people type: lower case, no final full stop."""
    text = text.lower() if rng.random() < 0.7 else text
    return text.rstrip(".") if rng.random() < 0.8 else text


RULES: tuple[Callable[[str, random.Random], str], ...] = (swap_words, reorder_items, casual)


def paraphrases(request: str, count: int, seed: int) -> list[str]:
    """Up to `count` distinct rewrites of `request`, none equal to it; the same for the same seed."""
    rng = random.Random(f"{seed}:{request}")
    options = frames(request)
    rng.shuffle(options)
    out: list[str] = []
    for framed in options:
        if len(out) >= count:
            break
        text = framed
        for rule in RULES:
            text = rule(text, rng)
        text = " ".join(text.split())
        if text.casefold() != request.casefold() and text not in out:
            out.append(text)
    return out
