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

This module runs a script; script_parse.py checks one as data and readings.py reads values off the
screen text.
"""


from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from llmos.sdk.render.driver import AppDriver, DriverError, NotOnScreen, Snapshot, text_pattern
from llmos.sdk.render.readings import (
    date_texts,
    durations_in,
    looks_random,
    next_day,
    numbers_in,
    parse_date,
    time_texts,
    years_between,
)
from llmos.sdk.render.script_parse import (
    ScriptEntry,
    ScriptError,
    parse_expectation,
    parse_script,
    parse_step,
)
from llmos.sdk.render.tree import Node

Relaunch = Callable[[], Awaitable[AppDriver]]


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
    before: Snapshot | None = None
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


def check(expectation: ScriptEntry, run: _Run) -> str | None:
    """None when the expectation holds on the screen now, else a message saying what was shown."""
    try:
        return _check(expectation, run)
    except ExpectationFailed as failure:
        return str(failure)


def _check(e: ScriptEntry, run: _Run) -> str | None:
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
        day = run.today if value == "today" else parse_date(value)
        name = day.strftime("%A")
        seen = any(text_pattern(w).search(t) for w in (name, name[:3]) for t in texts)
        return None if seen else f"no {name} on screen: {_shown(run)}"
    if kind == "days_until":
        days = (next_day(value, run.today) - run.today).days
        tol = int(e.opt("tol", 1))
        seen = any(abs(n - days) <= tol and float(n).is_integer() for t in texts for n in numbers_in(t))
        return None if seen else f"no {days} (days until {value}, ±{tol}) on screen: {_shown(run)}"
    if kind == "years_since":
        years = years_between(parse_date(value), run.today)
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


async def _step(step: ScriptEntry, run: _Run) -> None:
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


async def run_script(driver: AppDriver, steps: tuple[ScriptEntry, ...], expect: tuple[ScriptEntry, ...], *,
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


__all__ = ["ScriptEntry", "ScriptError", "Verdict", "check", "durations_in", "looks_random", "numbers_in",
           "parse_expectation", "parse_script", "parse_step", "run_script"]
