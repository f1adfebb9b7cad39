"""Time-zone names apps may use: IANA names ('Europe/London') and common city or country names.

One table for both sides: the app host resolves a zone through it when an app asks for the time
somewhere, and the app language checks a quoted zone against it before any code exists. Offsets come
from the system time-zone database (zoneinfo); when that database is missing, a zone in the table still
gets its standard offset and, for the EU and North America, the daylight-saving rule, so a clock app
never silently shows local time for Tokyo.
"""

from __future__ import annotations

import functools
import zoneinfo
from datetime import UTC, datetime, timedelta

# name (lower case) -> (IANA zone, standard offset in minutes, DST rule: "eu", "us" or "")
ZONES: dict[str, tuple[str, int, str]] = {
    "utc": ("UTC", 0, ""), "gmt": ("UTC", 0, ""),
    "london": ("Europe/London", 0, "eu"), "uk": ("Europe/London", 0, "eu"),
    "dublin": ("Europe/Dublin", 0, "eu"), "lisbon": ("Europe/Lisbon", 0, "eu"),
    "paris": ("Europe/Paris", 60, "eu"), "berlin": ("Europe/Berlin", 60, "eu"),
    "madrid": ("Europe/Madrid", 60, "eu"), "rome": ("Europe/Rome", 60, "eu"),
    "amsterdam": ("Europe/Amsterdam", 60, "eu"), "brussels": ("Europe/Brussels", 60, "eu"),
    "vienna": ("Europe/Vienna", 60, "eu"), "zurich": ("Europe/Zurich", 60, "eu"),
    "stockholm": ("Europe/Stockholm", 60, "eu"), "oslo": ("Europe/Oslo", 60, "eu"),
    "copenhagen": ("Europe/Copenhagen", 60, "eu"), "warsaw": ("Europe/Warsaw", 60, "eu"),
    "prague": ("Europe/Prague", 60, "eu"), "athens": ("Europe/Athens", 120, "eu"),
    "helsinki": ("Europe/Helsinki", 120, "eu"), "kyiv": ("Europe/Kyiv", 120, "eu"),
    "istanbul": ("Europe/Istanbul", 180, ""), "moscow": ("Europe/Moscow", 180, ""),
    "cairo": ("Africa/Cairo", 120, ""), "johannesburg": ("Africa/Johannesburg", 120, ""),
    "lagos": ("Africa/Lagos", 60, ""), "nairobi": ("Africa/Nairobi", 180, ""),
    "dubai": ("Asia/Dubai", 240, ""), "karachi": ("Asia/Karachi", 300, ""),
    "delhi": ("Asia/Kolkata", 330, ""), "new delhi": ("Asia/Kolkata", 330, ""),
    "mumbai": ("Asia/Kolkata", 330, ""), "india": ("Asia/Kolkata", 330, ""),
    "bangkok": ("Asia/Bangkok", 420, ""), "jakarta": ("Asia/Jakarta", 420, ""),
    "singapore": ("Asia/Singapore", 480, ""), "hong kong": ("Asia/Hong_Kong", 480, ""),
    "beijing": ("Asia/Shanghai", 480, ""), "shanghai": ("Asia/Shanghai", 480, ""),
    "china": ("Asia/Shanghai", 480, ""), "taipei": ("Asia/Taipei", 480, ""),
    "manila": ("Asia/Manila", 480, ""), "seoul": ("Asia/Seoul", 540, ""),
    "tokyo": ("Asia/Tokyo", 540, ""), "japan": ("Asia/Tokyo", 540, ""),
    "sydney": ("Australia/Sydney", 600, "au"), "melbourne": ("Australia/Melbourne", 600, "au"),
    "brisbane": ("Australia/Brisbane", 600, ""), "perth": ("Australia/Perth", 480, ""),
    "auckland": ("Pacific/Auckland", 720, "nz"), "honolulu": ("Pacific/Honolulu", -600, ""),
    "anchorage": ("America/Anchorage", -540, "us"), "los angeles": ("America/Los_Angeles", -480, "us"),
    "san francisco": ("America/Los_Angeles", -480, "us"), "seattle": ("America/Los_Angeles", -480, "us"),
    "vancouver": ("America/Vancouver", -480, "us"), "denver": ("America/Denver", -420, "us"),
    "phoenix": ("America/Phoenix", -420, ""), "chicago": ("America/Chicago", -360, "us"),
    "mexico city": ("America/Mexico_City", -360, ""), "new york": ("America/New_York", -300, "us"),
    "nyc": ("America/New_York", -300, "us"),
    "toronto": ("America/Toronto", -300, "us"), "boston": ("America/New_York", -300, "us"),
    "miami": ("America/New_York", -300, "us"), "washington": ("America/New_York", -300, "us"),
    "bogota": ("America/Bogota", -300, ""), "lima": ("America/Lima", -300, ""),
    "santiago": ("America/Santiago", -240, ""), "buenos aires": ("America/Argentina/Buenos_Aires", -180, ""),
    "sao paulo": ("America/Sao_Paulo", -180, ""), "rio": ("America/Sao_Paulo", -180, ""),
    "reykjavik": ("Atlantic/Reykjavik", 0, ""),
}
_BY_IANA = {iana.lower(): (iana, std, rule) for iana, std, rule in ZONES.values()}


def lookup(name: str) -> tuple[str, int, str] | None:
    """The table entry for a city, country or IANA name (any case, '_' or ' ')."""
    key = " ".join(name.replace("_", " ").split()).lower()
    return ZONES.get(key) or _BY_IANA.get(name.strip().lower())


@functools.lru_cache(maxsize=1)
def _database() -> frozenset[str]:
    try:
        return frozenset(zoneinfo.available_timezones())
    except Exception:  # no tzdata anywhere
        return frozenset()


def resolve(name: str) -> str | None:
    """The IANA name for `name`, or None if it names no zone we know."""
    entry = lookup(name)
    if entry is not None:
        return entry[0]
    text = name.strip()
    return text if text in _database() else None


def offset_minutes(name: str, at_ms: float) -> int | None:
    """Minutes to add to UTC for local time in zone `name` at `at_ms`; '' means this machine's zone."""
    moment = datetime.fromtimestamp(at_ms / 1000.0, UTC)
    if not name:
        local = moment.astimezone().utcoffset()
        return int(local.total_seconds() // 60) if local is not None else 0
    iana = resolve(name)
    if iana is None:
        return None
    try:
        delta = moment.astimezone(zoneinfo.ZoneInfo(iana)).utcoffset()
        if delta is not None:
            return int(delta.total_seconds() // 60)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        pass
    entry = lookup(iana)
    if entry is None:
        return None
    _, standard, rule = entry
    return standard + (60 if _daylight(rule, moment) else 0)


def _nth_sunday(year: int, month: int, nth: int) -> datetime:
    """The nth Sunday of a month (nth=-1: the last one), at 00:00 UTC."""
    if nth > 0:
        first = datetime(year, month, 1, tzinfo=UTC)
        return first + timedelta(days=(6 - first.weekday()) % 7 + 7 * (nth - 1))
    nxt = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    last = nxt - timedelta(days=1)
    return last - timedelta(days=(last.weekday() + 1) % 7)


def _daylight(rule: str, moment: datetime) -> bool:
    """Fallback daylight-saving rules, used only without a time-zone database."""
    year = moment.year
    if rule == "eu":  # last Sunday of March 01:00 UTC to last Sunday of October 01:00 UTC
        return (_nth_sunday(year, 3, -1) + timedelta(hours=1) <= moment
                < _nth_sunday(year, 10, -1) + timedelta(hours=1))
    if rule == "us":  # second Sunday of March to first Sunday of November, ~07:00 UTC
        return (_nth_sunday(year, 3, 2) + timedelta(hours=7) <= moment
                < _nth_sunday(year, 11, 1) + timedelta(hours=6))
    if rule == "au":  # first Sunday of October to first Sunday of April (southern summer)
        return not (_nth_sunday(year, 4, 1) <= moment < _nth_sunday(year, 10, 1))
    if rule == "nz":  # last Sunday of September to first Sunday of April
        return not (_nth_sunday(year, 4, 1) <= moment < _nth_sunday(year, 9, -1))
    return False
