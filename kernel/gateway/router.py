"""Which provider answers, in which order: a deterministic complexity score, so the same prompt always
routes the same way and tests can pin the decision.

The providers come as one ordered list (the user's default first, then the embedded model, the servers
in file order, the cloud model). A simple tool (a counter, a timer) goes down that list as it is. A
prompt that needs the network, several features or real logic goes first to the providers that write
code and are not the embedded model; the others follow in their order, as fallbacks."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# Words that mean work a 270M spec-filler cannot do.
HEAVY = frozenset({
    "network", "internet", "online", "api", "fetch", "http", "https", "url", "web", "download", "upload",
    "email", "mail", "smtp", "imap", "sync", "synchronise", "synchronize", "cloud", "server", "chat",
    "weather", "stock", "news", "rss", "feed", "login", "account", "database", "search", "game", "chart",
    "graph", "plot", "calendar", "editor", "markdown", "spreadsheet", "drawing", "canvas", "paint",
    "animation", "multiplayer", "parse", "convert", "translate", "calculate", "calculator", "algorithm",
    "clipboard", "bus", "share", "encrypt", "password",
})
JOINERS = re.compile(r",|;|\band\b|\bwith\b|\bplus\b|\balso\b|\bthen\b", re.I)
WORD = re.compile(r"[A-Za-z][A-Za-z'-]+")


@dataclass(frozen=True)
class Candidate:
    """A provider as the router sees it."""

    name: str  # "local", "cloud" or a [[gateway.providers]] name
    tier: str  # "code": writes SDK code; "spec": fills the app language
    embedded: bool = False  # the model inside the OS image: the weakest, last for heavy prompts


@dataclass(frozen=True)
class Route:
    score: int
    order: tuple[str, ...]  # provider names, tried in this order until one answers
    reasons: tuple[str, ...]

    @property
    def provider(self) -> str:
        return self.order[0]


def complexity(prompt: str) -> tuple[int, tuple[str, ...]]:
    words = [w.lower() for w in WORD.findall(prompt)]
    reasons: list[str] = []
    score = 0
    if len(words) > 12:
        score += 1 + (len(words) > 30) + (len(words) > 60)
        reasons.append(f"{len(words)} words")
    features = len(JOINERS.findall(prompt))
    if features:
        score += min(features, 4)
        reasons.append(f"{features} feature joiners")
    heavy = sorted({w for w in words if w in HEAVY or w.rstrip("s") in HEAVY})
    if heavy:
        score += 2 * len(heavy)
        reasons.append("needs " + ", ".join(heavy))
    return score, tuple(reasons)


def route(prompt: str, threshold: int, candidates: Sequence[Candidate]) -> Route:
    """The order to try `candidates` (at least one) in for this prompt."""
    score, reasons = complexity(prompt)
    names = [c.name for c in candidates]
    if score >= threshold:
        strong = [c.name for c in candidates if c.tier == "code" and not c.embedded]
        names = strong + [name for name in names if name not in strong]
    return Route(score, tuple(names), reasons)
