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


def score(query: str, candidate: str) -> float:
    wanted, offered = terms(query), terms(candidate)
    if not wanted or not offered:
        return 0.0
    common = len(wanted & offered)
    coverage = common / len(wanted)
    dice = 2 * common / (len(wanted) + len(offered))
    return round(0.7 * coverage + 0.3 * dice, 4)


def fts_query(text: str) -> str | None:
    """An FTS5 MATCH expression that ORs the prompt's words, each quoted so no word is syntax."""
    words = sorted({word for word in re.findall(r"[a-z0-9]+", text.lower()) if word not in STOPWORDS})
    return " OR ".join(f'"{word}"' for word in words[:32]) or None
