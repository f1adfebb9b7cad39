"""Which provider answers: a deterministic complexity score, so the same prompt always routes the same
way and tests can pin the decision. Simple tools (a counter, a timer) go to the local model; prompts
that need the network, several features or real logic go to the cloud when one is configured."""

from __future__ import annotations

import re
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
class Route:
    score: int
    provider: str  # "local" or "cloud"
    reasons: tuple[str, ...]


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


def route(prompt: str, threshold: int, cloud_available: bool) -> Route:
    score, reasons = complexity(prompt)
    provider = "cloud" if cloud_available and score >= threshold else "local"
    return Route(score, provider, reasons)
