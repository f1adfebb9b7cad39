"""Requests read without their particulars, so retrieval by meaning compares what an app does, not
where or for which day: a known place reads as "a city" (a list of them as "several cities"), a
holiday on a fixed date as "a holiday".

Why: the sentence encoder weighs a proper name more than the words around it. Measured on 2026-12-06,
"what's the time in paris" was nearer to the unsupported "weather forecast for Paris" (0.60) than to
any clock, "what's the time in madrid" reached the one-city clock at 0.38, and "days until halloween"
the Christmas countdown at 0.49, all under the threshold (0.55). With the particulars of both sides
read this way, the clock scores 0.91 and a countdown 0.87. Retrieval scores a request that
names a particular both ways and keeps the better score (meaning.py): a request naming a place an
example also names keeps its old score, and a request that names none scores exactly as before.

The places are places.py's, which an adapted clock shows by name; the holidays are holidays.py's,
whose dates grounding.py puts in an adapted countdown.
"""

from __future__ import annotations

import re

from llmos.kernel.applang import holidays, places

CITY = "a city"
CITIES = "several cities"
HOLIDAY = "a holiday"
_MARK = "\x00"
# two or more marked places in a row: "paris, dubai and sydney", "London or Tokyo", "Sydney & Perth"
_RUN = re.compile(rf"{_MARK}(?:(?:\s*,\s*(?:(?:and|or|&)\s+)?|\s+(?:and|or|&)\s+|\s+){_MARK})+")


def neutral(text: str) -> str:
    """`text` with its places and fixed-date holidays read as placeholders (the module's docstring)."""
    out = holidays.PATTERN.sub(HOLIDAY, text)
    marked = places.pattern().sub(_MARK, out)
    if marked != out:
        out = _RUN.sub(CITIES, marked).replace(_MARK, CITY)
    return out
