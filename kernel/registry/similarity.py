"""How alike two prompts are, on a 0..1 scale the cached-app offer threshold can be set against.

FTS5 (porter stemming, bm25) finds candidates fast but its scores are not comparable across queries,
so candidates are re-scored here: mostly how much of the new prompt an old one covers, plus a Dice
term so a short old prompt does not match every long new one."""

from __future__ import annotations

import re

_STOPWORDS = """
a an the and or but of for to in on at by with without from into that this these those is are be it its
i me my we our you your he she they them please can could would should will want need needs make makes
build create write give show app apps application simple small little some which where who what when
how so as like just do does also very really new let lets get
"""
STOPWORDS = frozenset(_STOPWORDS.split())


def _stem(word: str) -> str:
    for suffix in ("ings", "ing", "ers", "er", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def terms(text: str) -> set[str]:
    return {_stem(word) for word in re.findall(r"[a-z0-9]+", text.lower()) if word not in STOPWORDS}


def score(query: str | set[str], candidate: str | set[str]) -> float:
    """Either side may be given as its terms(): a search computes the query's once, and the index
    stores every prompt's."""
    wanted = terms(query) if isinstance(query, str) else query
    offered = terms(candidate) if isinstance(candidate, str) else candidate
    if not wanted or not offered:
        return 0.0
    common = len(wanted & offered)
    coverage = common / len(wanted)
    dice = 2 * common / (len(wanted) + len(offered))
    return round(0.7 * coverage + 0.3 * dice, 4)


MAX_QUERY_WORDS = 8  # the longest words of a long prompt stand for it (long words are the rare ones)


def query_words(text: str) -> list[str]:
    words = {word for word in re.findall(r"[a-z0-9]+", text.lower()) if word not in STOPWORDS}
    return sorted(sorted(words, key=lambda w: (-len(w), w))[:MAX_QUERY_WORDS])


def fts_query(text: str) -> str | None:
    """An FTS5 MATCH expression that ORs the prompt's words, each quoted so no word is syntax."""
    return tier_query(query_words(text), 1)


def tier_query(words: list[str], at_least: int) -> str | None:
    """An FTS5 MATCH expression for rows holding at least `at_least` of `words`, written as
    at_least(m, [w, *rest]) = (w AND at_least(m-1, rest)) OR at_least(m, rest). FTS5 intersects short
    doclists quickly, while ranking every row that holds any one common word is what made a plain
    OR slow at 100,000 apps."""
    if not words or not 1 <= at_least <= len(words):
        return None
    quoted = [f'"{word}"' for word in words]
    if at_least == len(words):
        return "(" + " AND ".join(quoted) + ")"
    if at_least == 1:
        return "(" + " OR ".join(quoted) + ")"
    with_first = f"({quoted[0]} AND {tier_query(words[1:], at_least - 1)})"
    return f"({with_first} OR {tier_query(words[1:], at_least)})"


def best_possible(matched: int, wanted: int) -> float:
    """The highest score() a prompt covering `matched` of `wanted` words can reach (it has at least
    `matched` words), so weaker tiers are skipped once they cannot beat what was found."""
    if wanted == 0:
        return 0.0
    return round(0.7 * matched / wanted + 0.3 * 2 * matched / (wanted + matched), 4)
