"""A daily span of the machine's local time, such as "02:00-05:00": the reboot window of scheduled updates
(`[update] reboot_window`, docs/update.md), in which an installed update may reboot a kiosk, so a screen
in use is never cut off at an arbitrary moment. A span may cross midnight ("23:30-01:00"); its end is
not part of it."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

SPAN = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-3]):([0-5][0-9])")
DAY = 24 * 60


@dataclass(frozen=True)
class DailySpan:
    start: int  # minutes after midnight
    end: int

    @classmethod
    def parse(cls, text: str) -> DailySpan | None:
        """The window "HH:MM-HH:MM"; None for "" (any time). ValueError says what is wrong."""
        text = text.strip()
        if not text:
            return None
        found = SPAN.fullmatch(text)
        if found is None:
            raise ValueError(f"expected a daily span such as 02:00-05:00 (24-hour, local time), got {text!r}")
        h1, m1, h2, m2 = (int(part) for part in found.groups())
        if (h1, m1) == (h2, m2):
            raise ValueError(f"{text!r} is empty: its start and end are the same")
        return cls(h1 * 60 + m1, h2 * 60 + m2)

    def wait_s(self, now: dt.datetime) -> float:
        """Seconds from `now` until the span begins (0 while it lasts)."""
        minute = now.hour * 60 + now.minute + (now.second + now.microsecond / 1e6) / 60
        inside = (self.start <= minute < self.end if self.start < self.end
                  else minute >= self.start or minute < self.end)
        return 0.0 if inside else ((self.start - minute) % DAY) * 60

    def __str__(self) -> str:
        return f"{self.start // 60:02d}:{self.start % 60:02d}-{self.end // 60:02d}:{self.end % 60:02d}"
