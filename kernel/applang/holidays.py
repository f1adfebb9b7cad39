"""Days people name instead of a date, that fall on the same day every year: "days until halloween".

Why: an adapted countdown keeps its date in a slot, and the embedded model does not reliably know
that Halloween is the 31st of October; a date the request names this way is grounded from this table
(grounding.py), and retrieval reads these names as "a holiday" (neutral.py). Days that move (Easter,
Thanksgiving, Mother's Day) are not here: no single month-day serves them.
"""

from __future__ import annotations

import re

# (how people write it, as a regex over lower-case text; month-day). Eves come before their day, so the
# longer name wins where both could match.
FIXED: tuple[tuple[str, str], ...] = (
    (r"new year'?s'? eve", "12-31"),
    (r"christmas eve|xmas eve", "12-24"),
    (r"christmas(?: day)?|xmas", "12-25"),
    (r"boxing day", "12-26"),
    (r"new year'?s?'?(?: day)?", "01-01"),
    (r"groundhog day", "02-02"),
    (r"valentine'?s?'?(?: day)?", "02-14"),
    (r"pi day", "03-14"),
    (r"(?:st\.?|saint) patrick'?s?'?(?: day)?", "03-17"),
    (r"april fool'?s?'?(?: day)?", "04-01"),
    (r"earth day", "04-22"),
    (r"may day", "05-01"),
    (r"star wars day", "05-04"),
    (r"cinco de mayo", "05-05"),
    (r"juneteenth", "06-19"),
    (r"canada day", "07-01"),
    (r"(?:the )?(?:fourth|4th) of july", "07-04"),
    (r"bastille day", "07-14"),
    (r"hallowe'?en", "10-31"),
    (r"all saints'?(?: day)?", "11-01"),
    (r"bonfire night|guy fawkes(?: night| day)?", "11-05"),
    (r"veterans'? day|remembrance day|armistice day", "11-11"),
)


def _regex(name: str) -> str:
    return name.replace("'", "['\u2019]").replace(" ", r"\s+")


# one group per row of FIXED, so a match says which row it is
PATTERN = re.compile(r"\b(?:" + "|".join(f"({_regex(name)})" for name, _ in FIXED) + r")(?![\w'\u2019])",
                     re.IGNORECASE)


def named_dates(text: str) -> list[str]:
    """The month-days ("10-31") of the holidays `text` names, in order, each once."""
    found: list[str] = []
    for match in PATTERN.finditer(text):
        assert match.lastindex is not None  # every alternative is a group
        date = FIXED[match.lastindex - 1][1]
        if date not in found:
            found.append(date)
    return found
