"""The nearest examples for a request: by meaning (sentence embeddings, meaning.py) when the encoder
is installed, as it is in the image; else by words, BM25 over an in-memory SQLite FTS5 index of the
example library. Each scale has its own thresholds (`Thresholds`).

Why BM25 and FTS5: the registry's engine (porter stemming) with the registry's stop words
(kernel/registry/similarity.py), and bm25 weighs a rare word ("tip", "laps", "hex") far above a
common one ("calculator", "list"), which is what tells two calculators apart. Each example is indexed
by its request and, at a lower weight, by the words of its document (title, labels, state and field
names), so "body mass index from kilos" still finds the example whose fields say weight and height.

bm25 ranks, but its values are not comparable between queries, so every match also carries a
`score` in 0..1 that is: the IDF-weighted share of the request's words found in the example, blended
with the share of the example's own request words found in the request. The generator adapts the
nearest example only when that score is high (adapt.py), and a prompt shows the nearest example last,
because a small model copies what it saw most recently.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from llmos.kernel.applang.document import keyed_strings
from llmos.kernel.applang.examples import Example, load_examples
from llmos.kernel.applang.meaning import MeaningIndex, meaning_index
from llmos.kernel.registry.similarity import STOPWORDS

DEFAULT_SHOTS = 2
DOCUMENT_WEIGHT = 0.4  # bm25 weight of the document's words against the request's (1.0)
BETA = 1.5  # the request's share weighs BETA² times the example's in the score
CANDIDATES = 40  # bm25's best, re-scored
MIN_HEAD = 4  # letters an example word needs to stand for a longer unknown word it begins
PHRASE_BONUS = 0.15  # added to the score for each pair of words both requests write side by side ...
MAX_PHRASES = 2  # ... for at most this many pairs
_WORD = re.compile(r"[a-z0-9]+")
_NAME_PART = re.compile(r"[A-Z]?[a-z]+|[0-9]+")  # camelCase names split into words: "dueDate"


# Words of how people phrase a request rather than of what they ask for ("something where I type
# the words and it shows me how many"): on top of the registry's stop words, they would match every
# example that happens to be phrased alike.
FILLER = frozenset((
    "want", "wants", "need", "needs", "thing", "things", "something", "anything", "whatever", "help",
    "helps", "tell", "tells", "show", "shows", "type", "typed", "types", "typing", "tap", "taps",
    "press", "presses", "put", "enter", "enters", "many", "much", "right", "now", "able", "way", "know",
    "see", "use", "using", "got", "go", "goes", "us", "them", "him", "her", "his", "their", "there",
    "here", "then", "than", "whenever", "everything",
))


def words(text: str) -> list[str]:
    """The words of a text that carry meaning, in order: lower case, no stop words, no filler and no
    numbers (a number is a setting of the app, "a 20 percent tip", not what app it is)."""
    return [w for w in _WORD.findall(text.casefold().replace("'", ""))
            if w not in STOPWORDS and w not in FILLER and not w.isdigit()]


def _document_words(app: dict[str, Any]) -> list[str]:
    """Title, labels, state and field names of a document: the words its app shows or is built from."""
    found: list[str] = []
    for key, value in keyed_strings(app):
        if key in ("title", "label", "name", "unsupported"):
            found.extend(words(" ".join(_NAME_PART.findall(value)) if key == "name" else value))
    return found


Phrases = frozenset[tuple[str, str]]  # pairs of stemmed words written side by side


@dataclass(frozen=True)
class Neighbour:
    example: Example
    score: float  # comparable between requests: a cosine by meaning, or 0..1 by words (module docstring)
    bm25: float  # FTS5's rank: lower is nearer; only comparable within one request (0 by meaning)


@dataclass(frozen=True)
class Thresholds:
    """The scores from which the nearest example is adapted, and adapted after written documents
    failed: each scale has its own (calibrated on tests/kernel/applang/retrieval_dev.toml)."""

    adapt: float
    fallback: float
    margin: float = 0.0  # two examples that fit nearer to each other than this are a tie: words decide


BY_WORDS = Thresholds(adapt=0.4, fallback=0.3)
# By meaning, at 0.55 the development set's nearest example was adapted for 123 of its 167 requests
# that have one, and a wrong one for 14 of its 224 requests (BM25 at 0.4: 64 right, 37 wrong; at
# 0.58 by meaning, 115 and 11).
# With the checks of consistency.py and a margin of 0.02 (a tie is broken by words,
# `Library.word_score`, else no example is adapted; generation.choose), on the 245 requests of the
# set since 2026-12-02: 137 of 184 adapted from the intended example, 11 from a wrong one (the nearest
# alone at 0.55: 132 and 22).
BY_MEANING = Thresholds(adapt=0.55, fallback=0.45, margin=0.02)


class Library:
    """An index over a fixed list of examples: by meaning when a sentence encoder is given its vectors
    (meaning.py), else by words (BM25)."""

    def __init__(self, examples: Sequence[Example], meaning: MeaningIndex | None = None) -> None:
        self.examples = list(examples)
        self.meaning = meaning
        # built in the kernel's warm-up thread, then used on its event loop
        self.db = sqlite3.connect(":memory:", check_same_thread=False)
        self.db.execute("CREATE VIRTUAL TABLE shots USING fts5(request, document, "
                        "tokenize='porter unicode61')")
        self.db.execute("CREATE VIRTUAL TABLE probe USING fts5(text, tokenize='porter unicode61')")
        self.db.execute("CREATE VIRTUAL TABLE shot_terms USING fts5vocab(shots, 'instance')")
        self.db.execute("CREATE VIRTUAL TABLE probe_terms USING fts5vocab(probe, 'instance')")
        self.db.executemany("INSERT INTO shots(rowid, request, document) VALUES (?, ?, ?)", [
            (number, " ".join(words(ex.request)), " ".join(_document_words(ex.app)))
            for number, ex in enumerate(self.examples)])
        self.terms: list[set[str]] = [set() for _ in self.examples]  # each example's stemmed words
        self.request_terms: list[set[str]] = [set() for _ in self.examples]
        ordered: list[list[str]] = [[] for _ in self.examples]
        for term, row, column in self.db.execute(
                "SELECT term, doc, col FROM shot_terms ORDER BY doc, col, offset"):
            self.terms[row].add(term)
            if column == "request":
                self.request_terms[row].add(term)
                ordered[row].append(term)
        self.phrases = [_pairs(terms) for terms in ordered]
        self.frequency: dict[str, int] = {}
        for found in self.terms:
            for term in found:
                self.frequency[term] = self.frequency.get(term, 0) + 1

    @property
    def thresholds(self) -> Thresholds:
        return BY_WORDS if self.meaning is None else BY_MEANING

    def stems(self, text: str) -> list[str]:
        """The stemmed meaningful words of `text` in order, stemmed by the same tokenizer as the index.
        A word no example has is taken as the longest example word (4 letters or more) it starts
        with, where the porter stemmer stops short: "flipper" is "flip", "stopwatches" "stopwatch"."""
        self.db.execute("DELETE FROM probe")
        self.db.execute("INSERT INTO probe(text) VALUES (?)", (" ".join(words(text)),))
        found = [term for (term,) in self.db.execute("SELECT term FROM probe_terms ORDER BY offset")]
        return [self._known(term) for term in found]

    def _known(self, term: str) -> str:
        if term in self.frequency:
            return term
        heads = [known for known in self.frequency if len(known) >= MIN_HEAD and term.startswith(known)]
        return max(heads, key=len) if heads else term

    def idf(self, term: str) -> float:
        """How telling a word is: a word in no example is as telling as the rarest one."""
        count = len(self.examples)
        return math.log(1 + (count + 1) / (self.frequency.get(term, 0) + 0.5))

    def score(self, wanted: set[str], number: int, phrases: Phrases = frozenset()) -> float:
        """How near example `number` is: an F-measure of two IDF-weighted shares, the share of the
        request's words the example holds (in its request or its document) and the share of the
        example's request words the request holds, the first weighing more (`BETA`); plus a little
        for each pair of words the two requests write side by side ("count words" is not "count
        the vowels in a word")."""
        offered, own = self.terms[number], self.request_terms[number]
        if not wanted or not own:
            return 0.0
        bonus = PHRASE_BONUS * min(MAX_PHRASES, len(phrases & self.phrases[number]))
        covered = sum(self.idf(t) for t in wanted & offered) / sum(self.idf(t) for t in wanted)
        back = sum(self.idf(t) for t in own & wanted) / sum(self.idf(t) for t in own)
        if covered == 0 or back == 0:
            return 0.0
        return round(min(1.0, (1 + BETA**2) * covered * back / (BETA**2 * back + covered) + bonus), 4)

    def word_score(self, request: str, example: Example) -> float:
        """How near `example` is to `request` by words (the 0..1 `score`), whatever the library's scale:
        what breaks a tie between two examples equally near by meaning."""
        row = next((number for number, known in enumerate(self.examples) if known is example), None)
        if row is None:
            return 0.0
        ordered = self.stems(request)
        return self.score(set(ordered), row, _pairs(ordered))

    def nearest(self, request: str, k: int = DEFAULT_SHOTS, *, apps_only: bool = False) -> list[Neighbour]:
        """Up to `k` examples nearest to `request`, nearest first. By meaning: the highest cosines. By
        words (empty when no word matches): FTS5's bm25 finds the candidates; the score orders them,
        bm25 breaking ties."""
        if self.meaning is not None:
            return self._nearest_by_meaning(request, k, apps_only)
        ordered = self.stems(request)
        wanted, phrases = set(ordered), _pairs(ordered)
        if not wanted or k < 1:
            return []
        query = " OR ".join(f'"{term}"' for term in sorted(wanted))
        rows = self.db.execute(
            "SELECT rowid, bm25(shots, 1.0, ?) AS rank FROM shots WHERE shots MATCH ? ORDER BY rank LIMIT ?",
            (DOCUMENT_WEIGHT, query, CANDIDATES)).fetchall()
        matches = [Neighbour(self.examples[row], self.score(wanted, row, phrases), rank) for row, rank in rows
                   if not (apps_only and self.examples[row].unsupported)]
        matches.sort(key=lambda match: (-match.score, match.bm25))
        return matches[:k]


    def _nearest_by_meaning(self, request: str, k: int, apps_only: bool) -> list[Neighbour]:
        assert self.meaning is not None
        if k < 1 or not request.strip():
            return []
        similarities = self.meaning.similarities(request)
        order = sorted(range(len(self.examples)), key=lambda row: -float(similarities[row]))
        rows = [row for row in order if not (apps_only and self.examples[row].unsupported)][:k]
        return [Neighbour(self.examples[row], round(float(similarities[row]), 4), 0.0) for row in rows]


def _pairs(terms: Sequence[str]) -> Phrases:
    return frozenset(itertools.pairwise(terms))


_CACHE: dict[str, Library] = {}


_BUILDING = threading.Lock()  # the kernel warms the index in a worker thread while a request may ask


def library() -> Library:
    """The index of the example library as it is on disk now (rebuilt when the files change): by
    meaning when the sentence encoder is installed, else by words."""
    examples = load_examples()
    key = json.dumps([(ex.request, ex.app) for ex in examples], sort_keys=True)
    with _BUILDING:
        if key not in _CACHE:
            _CACHE.clear()
            _CACHE[key] = Library(examples, meaning_index(examples))
        return _CACHE[key]


def shots(matches: Sequence[Neighbour]) -> list[tuple[str, dict[str, Any]]]:
    """The few-shot pairs for a prompt: nearest last."""
    return [match.example.shot() for match in reversed(matches)]
