"""The registry's search: apps ranked by how alike their prompts are to a new one (similarity.py),
found through the index's full-text search (index.py) tier by tier."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .index import LOCAL, Index
from .similarity import best_possible, query_words, score, terms

CANDIDATES = 200  # rows one search tier re-scores at most


@dataclass(frozen=True)
class Match:
    """An app found for a prompt: how alike its prompt is (0..1), where it came from, whether it is
    trusted."""

    codeHash: str
    prompt: str
    score: float
    origin: str = LOCAL  # "local", or the remote it was pulled from
    trusted: bool = True


def ranked(index: Index, untrusted: Callable[[dict[str, str]], list[str]], prompt: str, limit: int, *,
           floor: float, trusted_only: bool) -> list[Match]:
    """The `limit` apps most alike `prompt`, best first. The index finds candidates tier by tier: rows
    holding all the prompt's words, then all but one, and so on, stopping once a weaker tier could not
    score above `floor` or above the `limit` best found so far. Strong matches are rare, so the usual
    query touches few rows. `untrusted` picks, of {code hash: signer}, the hashes no trusted key
    vouches for."""
    words, wanted = query_words(prompt), terms(prompt)
    found: dict[str, Match] = {}
    for tier in range(len(words), 0, -1):
        bound = best_possible(tier, len(words))
        best = sorted(found.values(), key=lambda m: (-m.score, m.codeHash))[:limit]
        if bound < floor or (len(best) == limit and best[-1].score >= bound):
            break
        candidates = [c for c in index.holding(words, tier, CANDIDATES)
                      if c.digest not in found]
        doubtful = set(untrusted({c.digest: c.signer for c in candidates}))
        for c in candidates:
            match = Match(c.digest, c.prompt, score(wanted, c.terms), c.origin, c.digest not in doubtful)
            if match.trusted or not trusted_only:
                found[c.digest] = match
    return sorted(found.values(), key=lambda m: (-m.score, m.codeHash))[:limit]
