"""Reading values off an app's screen text, for interaction scripts (script.py): numbers, durations,
clock times and dates in the ways apps show them, and whether sampled values vary like chance."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Callable
from typing import Any

NUMBER = re.compile(r"(?<![\w.])[-−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\w])|(?<![\w.\d])\.\d+")
_HMS = re.compile(r"(?<![\d:])(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d+))?(?![\d:])")
_MS = re.compile(r"(?<![\d:])(\d{1,3}):(\d{2})(?:\.(\d+))?(?![\d:])")
_MIN_SEC = re.compile(r"(?<![\w.])(\d+)\s*(?:m|min|mins|minutes?)\s*(\d+(?:\.\d+)?)\s*(?:s|secs?|seconds?)\b",
                      re.IGNORECASE)
_SEC = re.compile(r"(?<![\w.:])(\d+(?:\.\d+)?)\s*(?:s|secs?|seconds?)\b", re.IGNORECASE)


def numbers_in(text: str) -> list[float]:
    return [float(m.group().replace(",", "").replace("−", "-")) for m in NUMBER.finditer(text)]


def _fraction(digits: str | None) -> float:
    return float(f"0.{digits}") if digits else 0.0


def durations_in(text: str) -> list[float]:
    """Seconds shown as h:mm:ss, m:ss(.t), "2 min 5 s" or "12.5 s"; each stretch of text counts once."""
    found: list[float] = []
    readers: list[tuple[re.Pattern[str], Callable[[re.Match[str]], float]]] = [
        (_HMS, lambda m: int(m[1]) * 3600 + int(m[2]) * 60 + int(m[3]) + _fraction(m[4])),
        (_MS, lambda m: int(m[1]) * 60 + int(m[2]) + _fraction(m[3])),
        (_MIN_SEC, lambda m: int(m[1]) * 60 + float(m[2])),
        (_SEC, lambda m: float(m[1])),
    ]
    for pattern, seconds in readers:
        found += [seconds(match) for match in pattern.finditer(text)]
        text = pattern.sub(" ", text)
    return found


def time_texts(now: dt.datetime) -> list[str]:
    """How a clock may show `now` and the minutes either side: 24 h and 12 h."""
    shown = []
    for delta in (-1, 0, 1):
        moment = now + dt.timedelta(minutes=delta)
        hour12 = moment.hour % 12 or 12
        shown += [f"{moment.hour:02d}:{moment.minute:02d}", f"{moment.hour}:{moment.minute:02d}",
                  f"{hour12}:{moment.minute:02d}", f"{hour12:02d}:{moment.minute:02d}"]
    return sorted(set(shown))


def date_texts(day: dt.date) -> list[str]:
    month, abbr = day.strftime("%B"), day.strftime("%b")
    d, m, y = day.day, day.month, day.year
    return [day.isoformat(), f"{m}/{d}/{y}", f"{d}/{m}/{y}", f"{m:02d}/{d:02d}/{y}", f"{d:02d}/{m:02d}/{y}",
            f"{d:02d}.{m:02d}.{y}", f"{d}.{m}.{y}", f"{month} {d}", f"{d} {month}", f"{abbr} {d}",
            f"{d} {abbr}", f"{abbr}. {d}"]


def next_day(spec: str, today: dt.date) -> dt.date:
    if len(spec) == 5:  # MM-DD: its next occurrence, today included
        day = dt.date(today.year, int(spec[:2]), int(spec[3:]))
        return day if day >= today else dt.date(today.year + 1, day.month, day.day)
    return parse_date(spec)


def parse_date(value: str) -> dt.date:
    return dt.date.fromisoformat(value)


def years_between(born: dt.date, today: dt.date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


# How rarely chance may repeat a cycle for the repetition to count against randomness: the examples
# alone hold about thirty such checks, each run in every test run.
CHANCE_OF_A_CYCLE = 1e-4


def _periodic(series: list[Any]) -> bool:
    """Repeats a cycle at least three times (heads, tails, heads, tails...), where chance would do that
    less than once in 10,000 runs: N samples of A different values repeat a given cycle of P by chance
    with odds A**(P-N). Fifteen fair coin flips repeat some cycle of up to five by chance one time in
    500, so a coin needs about twenty presses before a cycle tells it from chance."""
    kinds = len(set(series))
    return any(kinds ** (len(series) - period) * CHANCE_OF_A_CYCLE >= 1
               and all(v == series[i % period] for i, v in enumerate(series))
               for period in range(1, len(series) // 3 + 1))


def _varies_by_chance(series: list[str]) -> bool:
    """Numbers must go both up and down by at least three different steps (a count only climbs, a
    cycle repeats one step); words must differ without repeating a short cycle, unless each carries
    a number that only climbs or only falls ("asked 3 times")."""
    if len(set(series)) < 2 or _periodic(series):
        return False
    try:
        values = [float(v) for v in series]
    except ValueError:
        counts = [numbers_in(v) for v in series]
        return not (all(counts) and _one_way([c[0] for c in counts]))
    steps = {b - a for a, b in itertools.pairwise(values)}
    return not _one_way(values) and len(steps) >= 3


def _one_way(values: list[float]) -> bool:
    steps = [b - a for a, b in itertools.pairwise(values)]
    return not (any(step > 0 for step in steps) and any(step < 0 for step in steps))


def looks_random(samples: list[tuple[str, ...]]) -> str | None:
    """None when some position of what was sampled varies like chance (see _varies_by_chance);
    else why not."""
    if len(samples) < 2:
        return f"only {len(samples)} sample(s) were taken"
    if any(not s for s in samples):
        empty = sum(1 for s in samples if not s)
        return f"{empty} of {len(samples)} presses showed nothing the sample pattern matches"
    width = min(len(s) for s in samples)
    if any(_varies_by_chance([s[position] for s in samples]) for position in range(width)):
        return None
    return f"nothing varied like chance over {len(samples)} presses: {samples[:6]}"


__all__ = ["NUMBER", "date_texts", "durations_in", "looks_random", "next_day", "numbers_in", "parse_date",
           "time_texts", "years_between"]
