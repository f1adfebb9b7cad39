"""Declarative interaction scripts: what a person does in an app, and what must then be on screen.

Written as data (TOML or JSON) so a benchmark or an example library can say, per app,

    steps  = [{type = "bill", text = "84"}, {press = "calculate", optional = true}]
    expect = [{number = 12.6}, {no_text = "error"}]

and run it through an AppDriver. Each step or expectation is a table with one action key plus its
options. References are tolerant (see llmos.sdk.render.screen) because a generated app names things
its own way; expectations are strict about values, because only a working app may pass them.
Checks read what the app shows: the title bar and what the script itself typed are left out.

Steps:  type (field; text, enter?, submit?, replace?) · press (button; times?, near?, sample?) ·
        check (checkbox; near?) · select (list row) · set (slider or field; value) · key (name) ·
        wait (ms of app time) · click_canvas ([x, y] as fractions) · drag ([[x, y], ...]) ·
        relaunch (true: stop and start again, keeping storage) · expect (an expectation, checked now).
        Any step may say optional = true: skipped when its widget is not there.
Expect: text / no_text (case?) · regex / no_regex · number / no_number (tol?) · duration (seconds;
        tol?, count?) · time_now ("local" or a zone) · date ("today") · weekday ("today" or a date) ·
        days_until ("MM-DD" or a date; tol?) · years_since (a date) · checked (checkbox) ·
        samples ("random": what `press ... sample` saw varies like chance, not like a count) ·
        changes (at least N new pictures during the last wait) · ink / no_ink (share of the last
        drag's path that changed on the canvas, at least / at most) · any (a list: one must hold).
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from llmos.sdk.render.driver import KEYS, AppDriver, DriverError, NotOnScreen, Region, text_pattern
from llmos.sdk.render.tree import Node

Relaunch = Callable[[], Awaitable[AppDriver]]


class ScriptError(ValueError):
    """A malformed step or expectation; the message starts with where it is."""


@dataclass(frozen=True)
class Action:
    kind: str
    value: Any
    options: tuple[tuple[str, Any], ...]
    where: str

    def opt(self, name: str, default: Any = None) -> Any:
        return next((v for k, v in self.options if k == name), default)

    def __str__(self) -> str:
        value = self.value
        shown = f"{{{value}}}" if isinstance(value, Action) else \
            f"[{', '.join(f'{{{v}}}' for v in value)}]" if isinstance(value, tuple) else repr(value)
        extra = "".join(f", {k}={v!r}" for k, v in self.options)
        return f"{self.kind}={shown}{extra}"


# action -> (check of its value, {option: type}); a value check returns an error message or None
_Str = str
_Num = (int, float)


def _is_text(value: Any) -> str | None:
    return None if isinstance(value, str) and value.strip() else "must be a non-empty string"


def _is_field(value: Any) -> str | None:
    return None if isinstance(value, str) else "must be a string (\"\" means the only text field)"


def _is_number(value: Any) -> str | None:
    ok = isinstance(value, _Num) and not isinstance(value, bool)
    return None if ok else "must be a number"


def _is_regex(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return "must be a regular expression"
    try:
        re.compile(value)
    except re.error as error:
        return f"is not a valid regular expression: {error}"
    return None


def _is_point(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(
        isinstance(v, _Num) and not isinstance(v, bool) and 0 <= v <= 1 for v in value)


def _is_key(value: Any) -> str | None:
    known = isinstance(value, str) and value.casefold().replace(" ", "").replace("_", "") in KEYS
    return None if known else f"must be one of {', '.join(sorted(KEYS))}"


def _is_wait(value: Any) -> str | None:
    ok = isinstance(value, _Num) and not isinstance(value, bool) and 0 < value <= 600_000
    return None if ok else "must be milliseconds between 1 and 600000"


def _is_click(value: Any) -> str | None:
    return None if _is_point(value) else "must be [x, y] with fractions of the canvas between 0 and 1"


def _is_path(value: Any) -> str | None:
    ok = isinstance(value, list) and len(value) >= 2 and all(_is_point(p) for p in value)
    return None if ok else "must be a list of at least two [x, y] points (fractions of the canvas)"


def _is_true(value: Any) -> str | None:
    return None if value is True else "must be true"


def _is_fraction(value: Any) -> str | None:
    ok = isinstance(value, _Num) and not isinstance(value, bool) and 0 <= value <= 1
    return None if ok else "must be a fraction between 0 and 1"


def _is_zone(value: Any) -> str | None:
    if value == "local":
        return None
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        return "must be \"local\" or a time zone name such as \"Asia/Tokyo\""
    return None


def _parse_date(value: str) -> dt.date:
    return dt.date.fromisoformat(value)


def _is_date(value: Any) -> str | None:
    try:
        _parse_date(str(value))
    except ValueError:
        return "must be a date written YYYY-MM-DD"
    return None


def _is_day(value: Any) -> str | None:
    if isinstance(value, str) and re.fullmatch(r"\d{2}-\d{2}", value):
        try:
            dt.date(2000, int(value[:2]), int(value[3:]))
        except ValueError:
            return "is not a day of the year"
        return None
    return _is_date(value)


def _is_today_or_date(value: Any) -> str | None:
    return None if value == "today" else _is_date(value)


def _is_random(value: Any) -> str | None:
    return None if value == "random" else "must be \"random\""


def _is_count(value: Any) -> str | None:
    return None if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else \
        "must be a whole number of at least 1"


STEPS: dict[str, tuple[Callable[[Any], str | None], dict[str, Any]]] = {
    "type": (_is_field, {"text": _Str, "enter": bool, "submit": _Str, "replace": bool}),
    "press": (_is_text, {"times": int, "near": _Str, "sample": _Str}),
    "check": (_is_text, {"near": _Str}),
    "select": (_is_text, {}),
    "set": (_is_text, {"value": _Num}),
    "key": (_is_key, {}),
    "wait": (_is_wait, {}),
    "click_canvas": (_is_click, {}),
    "drag": (_is_path, {}),
    "relaunch": (_is_true, {}),
    "expect": (lambda v: None if isinstance(v, dict) else "must be an expectation table", {}),
}
REQUIRED = {"type": ("text",), "set": ("value",)}
EXPECTS: dict[str, tuple[Callable[[Any], str | None], dict[str, Any]]] = {
    "text": (_is_text, {"case": bool}),
    "no_text": (_is_text, {"case": bool}),
    "regex": (_is_regex, {}),
    "no_regex": (_is_regex, {}),
    "number": (_is_number, {"tol": _Num}),
    "no_number": (_is_number, {"tol": _Num}),
    "duration": (_is_number, {"tol": _Num, "count": int}),
    "time_now": (_is_zone, {}),
    "date": (lambda v: None if v == "today" else "must be \"today\"", {}),
    "weekday": (_is_today_or_date, {}),
    "days_until": (_is_day, {"tol": int}),
    "years_since": (_is_date, {}),
    "checked": (_is_text, {}),
    "samples": (_is_random, {}),
    "changes": (_is_count, {}),
    "ink": (_is_fraction, {}),
    "no_ink": (_is_fraction, {}),
    "any": (lambda v: None if isinstance(v, list) and v else "must be a non-empty list of expectations", {}),
}


def _parse(raw: Any, where: str, table: Mapping[str, tuple[Callable[[Any], str | None], dict[str, Any]]],
           what: str, optional_ok: bool) -> Action:
    if not isinstance(raw, dict):
        raise ScriptError(f"{where}: a {what} is a table like {{{next(iter(table))} = ...}}")
    kinds = [k for k in raw if k in table]
    if len(kinds) != 1:
        raise ScriptError(f"{where}: a {what} needs one (and only one) of {', '.join(table)}; "
                          f"got {sorted(raw)}")
    kind = kinds[0]
    check, allowed = table[kind]
    problem = check(raw[kind])
    if problem:
        raise ScriptError(f"{where}: {kind} {problem}, got {raw[kind]!r}")
    options = []
    for name, value in raw.items():
        if name == kind:
            continue
        if name == "optional" and optional_ok:
            expected: Any = bool
        elif name in allowed:
            expected = allowed[name]
        else:
            extra = sorted(allowed) + (["optional"] if optional_ok else [])
            raise ScriptError(f"{where}: {kind} takes no option {name!r} "
                              f"(options: {', '.join(extra) or 'none'})")
        if not isinstance(value, expected) or (isinstance(value, bool) and expected is not bool):
            raise ScriptError(f"{where}: {kind}: option {name} has the wrong type: {value!r}")
        options.append((name, value))
    for name in REQUIRED.get(kind, ()) if table is STEPS else ():
        if name not in raw:
            raise ScriptError(f"{where}: {kind} needs {name}")
    if kind == "press" and "sample" in raw and (problem := _is_regex(raw["sample"])):
        raise ScriptError(f"{where}: press: sample {problem}")
    if kind == "press" and not 1 <= raw.get("times", 1) <= 100:
        raise ScriptError(f"{where}: press: times must be between 1 and 100")
    value = raw[kind]
    if kind == "expect":
        value = parse_expectation(value, f"{where}.expect")
    elif kind == "any":
        value = tuple(parse_expectation(item, f"{where}.any[{i}]") for i, item in enumerate(value))
    return Action(kind, value, tuple(options), where)


def parse_step(raw: Any, where: str) -> Action:
    return _parse(raw, where, STEPS, "step", optional_ok=True)


def parse_expectation(raw: Any, where: str) -> Action:
    return _parse(raw, where, EXPECTS, "expectation", optional_ok=False)


def parse_script(steps: Any, expect: Any, where: str) -> tuple[tuple[Action, ...], tuple[Action, ...]]:
    """A whole script as data (lists of tables) -> (steps, expectations), located as `where: steps[2]`."""
    for name, value in (("steps", steps), ("expect", expect)):
        if not isinstance(value, list):
            raise ScriptError(f"{where}: {name} must be a list, got {type(value).__name__}")
    return (tuple(parse_step(s, f"{where}: steps[{i}]") for i, s in enumerate(steps)),
            tuple(parse_expectation(e, f"{where}: expect[{i}]") for i, e in enumerate(expect)))


# -- reading values off the screen -------------------------------------------------------------------
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
    return _parse_date(spec)


def years_between(born: dt.date, today: dt.date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _periodic(series: list[Any]) -> bool:
    """Repeats with a period of at most half its length (heads, tails, heads, tails...)."""
    return any(all(v == series[i % period] for i, v in enumerate(series))
               for period in range(1, len(series) // 2 + 1))


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


# -- running -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Verdict:
    ok: bool
    detail: str = ""


@dataclass
class _Run:
    driver: AppDriver
    relaunch: Relaunch | None
    today: dt.date
    samples: list[tuple[str, ...]] = field(default_factory=list)
    changes: int = 0
    canvas_key: str = ""
    before: Region | None = None
    path: list[tuple[float, float]] = field(default_factory=list)  # canvas-local


class ExpectationFailed(Exception):
    pass


def _content(run: _Run) -> list[str]:
    return run.driver.screen_text(title=False, typed=False)


def _shown(run: _Run) -> str:
    texts = _content(run)
    joined = " | ".join(t.replace("\n", " ")[:60] for t in texts[:40])
    return f"[{joined}]" + (" …" if len(texts) > 40 else "")


def _canvas(run: _Run) -> Node:
    screen = run.driver.screen()
    node = next((n for n in screen.widgets(("Canvas",)) if n.key == run.canvas_key), None)
    if node is None:
        raise ExpectationFailed("the canvas that was drawn on is gone")
    return node


def _ink_share(run: _Run) -> float:
    if run.before is None or not run.path:
        raise ExpectationFailed("ink is checked after a drag or click_canvas step")
    after = run.driver.snapshot(_canvas(run))
    if (after.w, after.h) != (run.before.w, run.before.h):
        raise ExpectationFailed("the canvas changed size")
    changed = sum(1 for x, y in run.path if run.before.differs_near(after, x, y))
    return changed / len(run.path)


def check(expectation: Action, run: _Run) -> str | None:
    """None when the expectation holds on the screen now, else a message saying what was shown."""
    try:
        return _check(expectation, run)
    except ExpectationFailed as failure:
        return str(failure)


def _check(e: Action, run: _Run) -> str | None:
    kind, value, texts = e.kind, e.value, _content(run)
    if kind in ("text", "no_text"):
        pattern = text_pattern(value, case=bool(e.opt("case")))
        seen = any(pattern.search(t) for t in texts)
        return None if seen == (kind == "text") else \
            f"{'no' if kind == 'text' else 'unwanted'} text {value!r} on screen: {_shown(run)}"
    if kind in ("regex", "no_regex"):
        seen = any(re.search(value, t, re.IGNORECASE) for t in texts)
        return None if seen == (kind == "regex") else \
            f"{'nothing matches' if kind == 'regex' else 'something matches'} /{value}/: {_shown(run)}"
    if kind in ("number", "no_number"):
        tol = float(e.opt("tol", max(0.011, abs(value) * 0.005)))
        seen = any(abs(n - value) <= tol for t in texts for n in numbers_in(t))
        return None if seen == (kind == "number") else \
            f"{'no' if kind == 'number' else 'unwanted'} number {value:g} (±{tol:g}) on screen: {_shown(run)}"
    if kind == "duration":
        tol, count = float(e.opt("tol", 1.0)), int(e.opt("count", 1))
        hits = sum(1 for t in texts for d in durations_in(t) if abs(d - value) <= tol)
        return None if hits >= count else \
            f"{hits} of {count} durations of {value:g} s (±{tol:g}) on screen: {_shown(run)}"
    if kind == "time_now":
        now = dt.datetime.now().astimezone() if value == "local" else dt.datetime.now(ZoneInfo(value))
        wanted = [text_pattern(t) for t in time_texts(now)]
        return None if any(p.search(t) for p in wanted for t in texts) else \
            f"no time near {now:%H:%M} ({value}) on screen: {_shown(run)}"
    if kind == "date":
        wanted = [text_pattern(t) for t in date_texts(run.today)]
        return None if any(p.search(t) for p in wanted for t in texts) else \
            f"today's date ({run.today}) is not on screen: {_shown(run)}"
    if kind == "weekday":
        day = run.today if value == "today" else _parse_date(value)
        name = day.strftime("%A")
        seen = any(text_pattern(w).search(t) for w in (name, name[:3]) for t in texts)
        return None if seen else f"no {name} on screen: {_shown(run)}"
    if kind == "days_until":
        days = (next_day(value, run.today) - run.today).days
        tol = int(e.opt("tol", 1))
        seen = any(abs(n - days) <= tol and float(n).is_integer() for t in texts for n in numbers_in(t))
        return None if seen else f"no {days} (days until {value}, ±{tol}) on screen: {_shown(run)}"
    if kind == "years_since":
        years = years_between(_parse_date(value), run.today)
        seen = any(n == years for t in texts for n in numbers_in(t))
        return None if seen else f"no {years} (years since {value}) on screen: {_shown(run)}"
    if kind == "checked":
        try:
            box = run.driver.find(value, ("Checkbox",))
        except DriverError as error:
            return str(error)
        return None if box.props.get("checked") else f"the checkbox for {value!r} is not checked"
    if kind == "samples":
        return looks_random(run.samples)
    if kind == "changes":
        return None if run.changes >= value else \
            f"{run.changes} new pictures during the last wait, wanted at least {value}"
    if kind in ("ink", "no_ink"):
        share = _ink_share(run)
        ok = share >= value if kind == "ink" else share <= value
        return None if ok else f"{share:.0%} of the drawn path changed on the canvas " \
                               f"(wanted {'at least' if kind == 'ink' else 'at most'} {value:.0%})"
    if kind == "any":
        failures = [check(sub, run) for sub in value]
        return None if any(f is None for f in failures) else \
            "none held: " + "; ".join(f or "" for f in failures)
    raise ScriptError(f"{e.where}: unknown expectation {kind!r}")


async def _step(step: Action, run: _Run) -> None:
    driver, kind, value = run.driver, step.kind, step.value
    if kind == "type":
        await driver.type(value, step.opt("text"), replace=step.opt("replace", True),
                          enter=bool(step.opt("enter")))
        submit = step.opt("submit")
        if submit:
            try:
                driver.find(submit, ("Button",), accept=lambda n: not n.props.get("disabled"))
            except DriverError:
                await driver.key("enter")  # no such button: Enter in the field is how to submit
            else:
                await driver.press(submit)
    elif kind == "press":
        sample = step.opt("sample")

        def take() -> None:
            found = [m.group() for t in _content(run) for m in re.finditer(sample, t, re.IGNORECASE)]
            run.samples.append(tuple(x.casefold() for x in found))
        if sample:
            run.samples = []
        await driver.press(value, near=step.opt("near", ""), times=step.opt("times", 1),
                           after_each=take if sample else None)
    elif kind == "check":
        await driver.check(value, near=step.opt("near", ""))
    elif kind == "select":
        await driver.select(value)
    elif kind == "set":
        await driver.set_value(value, float(step.opt("value")))
    elif kind == "key":
        await driver.key(value)
    elif kind == "wait":
        run.changes = await driver.wait(float(value))
    elif kind in ("click_canvas", "drag"):
        canvas = driver.canvas()
        run.canvas_key, run.before = canvas.key, driver.snapshot(canvas)
        points = [value] if kind == "click_canvas" else value
        local = [(x * canvas.w, y * canvas.h) for x, y in points]
        if kind == "click_canvas":
            await driver.click_canvas(*local[0])
            run.path = local
        else:
            await driver.drag(local)
            run.path = _along(local, every=6.0)
    elif kind == "relaunch":
        if run.relaunch is None:
            raise DriverError("this run cannot relaunch the app")
        run.driver = await run.relaunch()
    elif kind == "expect":
        problem = check(value, run)
        if problem:
            raise ExpectationFailed(problem)


def _along(points: list[tuple[float, float]], every: float) -> list[tuple[float, float]]:
    """Points every `every` px along a polyline (where ink should now be)."""
    out = [points[0]]
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        count = max(1, round(((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5 / every))
        out += [(x0 + (x1 - x0) * i / count, y0 + (y1 - y0) * i / count) for i in range(1, count + 1)]
    return out


async def run_script(driver: AppDriver, steps: tuple[Action, ...], expect: tuple[Action, ...], *,
                     relaunch: Relaunch | None = None, today: dt.date | None = None) -> Verdict:
    """Do the steps, then check every expectation. The verdict's detail names the first step that
    could not be done or the expectations that did not hold, with what the screen showed."""
    run = _Run(driver, relaunch, today or dt.date.today())
    for number, step in enumerate(steps, 1):
        try:
            await _step(step, run)
        except ExpectationFailed as failure:
            return Verdict(False, f"step {number} ({step}): {failure}")
        except NotOnScreen as error:
            if step.opt("optional"):
                continue
            return Verdict(False, f"step {number} ({step}): {error}")
        except DriverError as error:
            return Verdict(False, f"step {number} ({step}): {error}")
    failures = [f"{e}: {problem}" for e in expect if (problem := check(e, run))]
    if failures:
        return Verdict(False, "; ".join(failures))
    notes = f" (app errors: {'; '.join(run.driver.errors[-3:])})" if run.driver.errors else ""
    return Verdict(True, f"all {len(expect)} expectations held{notes}")


__all__ = ["Action", "ScriptError", "Verdict", "check", "durations_in", "looks_random", "numbers_in",
           "parse_expectation", "parse_script", "parse_step", "run_script"]
