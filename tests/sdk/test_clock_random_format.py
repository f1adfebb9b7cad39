"""clock, random and format in the SDK runtime, inside a real QuickJS guest with the host's built-in
functions (kernel/sandbox/builtins.py): no capability is needed for any of them."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from llmos.kernel.sandbox import wasmcache
from llmos.kernel.sandbox.guest import AppFault, Guest
from llmos.kernel.sandbox.transpile import transpile

# 2026-07-01 12:34:56.789 UTC, a Wednesday: summer time in London and New York, winter in Sydney.
SUMMER = datetime(2026, 7, 1, 12, 34, 56, 789000, tzinfo=UTC).timestamp() * 1000


@pytest.fixture(scope="module", autouse=True)
def compiled(tmp_path_factory):
    wasmcache.install(tmp_path_factory.mktemp("wasm"))


def evaluate(expressions: list[str], *, host: dict | None = None, now: float = SUMMER) -> list:
    """The values of JS expressions (using the SDK) in an app with only ui:window."""
    body = ", ".join(f"JSON.stringify({e})" for e in expressions)
    source = ("import { ui, clock, random, format } from '@llm-os/sdk';\n"
              f"export default function App() {{ return ui.Window({{ title: 't' }}, [{body}]); }}\n")
    guest = Guest(frozenset({"ui:window"}), host or {}, wall_clock=lambda: now)
    frame = guest.load(transpile(source).code, 0)
    assert frame.tree is not None
    return [json.loads(child) for child in frame.tree["children"]]


def test_clock_reads_the_hosts_wall_clock_and_zones() -> None:
    assert evaluate([
        "clock.now()",
        "clock.format(clock.now(), 'YYYY-MM-DD HH:mm:ss dddd', 'UTC')",
        "clock.format(clock.now(), 'HH:mm', 'London')",
        "clock.format(clock.now(), 'HH:mm', 'America/New_York')",
        "clock.format(clock.now(), 'h:mm A ddd D MMM', 'Sydney')",
        "clock.offset('Tokyo')",
        "clock.offset('Narnia')",
        "clock.today('Auckland')",
    ]) == [SUMMER, "2026-07-01 12:34:56 Wednesday", "13:34", "08:34", "10:34 PM Wed 1 Jul", 540, None,
           "2026-07-02"]


def test_dates_are_texts_and_days_are_whole() -> None:
    assert evaluate([
        "clock.days('2026-07-01', '2026-12-25')",
        "clock.days('2026-03-01', '2026-02-01')",
        "clock.days('2026-02-30', '2026-03-01')",
        "clock.parseDate('2026-07-01', 'UTC')",
        "clock.parts(clock.parseDate('2000-02-29', 'Tokyo'), 'Tokyo').day",
        "clock.parseDate('yesterday')",
    ]) == [177, -28, None, datetime(2026, 7, 1, tzinfo=UTC).timestamp() * 1000, 29, None]


def test_an_unknown_zone_in_format_is_a_clear_error() -> None:
    with pytest.raises(AppFault, match="unknown time zone: Narnia"):
        evaluate(["clock.format(0, 'HH', 'Narnia')"])


def test_random_comes_from_the_host_and_stays_in_range() -> None:
    words = iter(range(10**6))
    def scrambled(n: int) -> list[int]:
        return [next(words) * 2654435761 % 2**32 for _ in range(n)]
    host = {"random_u32": scrambled}
    ints, floats, shuffled, picked, text = evaluate([
        "Array.from({ length: 200 }, () => random.int(1, 6))",
        "Array.from({ length: 50 }, () => random.float())",
        "random.shuffle([1, 2, 3, 4, 5, 6, 7, 8])",
        "[random.pick([]), random.pick(['a'])]",
        "random.string(24) + '|' + random.string(5, 'ab')",
    ], host=host)
    assert set(ints) == {1, 2, 3, 4, 5, 6}
    assert all(0 <= f < 1 for f in floats) and len(set(floats)) == 50
    assert sorted(shuffled) == [1, 2, 3, 4, 5, 6, 7, 8] and shuffled != sorted(shuffled)
    assert picked == [None, "a"]
    password, ab = text.split("|")
    assert len(password) == 24 and set(ab) <= {"a", "b"} and len(ab) == 5


def test_real_randomness_differs_between_apps() -> None:
    first, second = evaluate(["random.string(32)"])[0], evaluate(["random.string(32)"])[0]
    assert first != second


def test_format_numbers_without_intl() -> None:
    assert evaluate([
        "format.number(0.1 + 0.2)",
        "format.number(15, { decimals: 2 })",
        "format.number(1234567.891, { decimals: 2, grouping: true })",
        "format.number(-1234.5, { grouping: true })",
        "format.number(-0.001, { decimals: 2 })",
        "format.number(2 / 3, { maxDecimals: 4 })",
        "format.number(1 / 0)",
        "format.duration(65000)",
        "format.duration(3723456, { tenths: true })",
        "format.duration(-5)",
        "format.pad(7, 2)",
        "format.pad(-7, 3)",
    ]) == ["0.3", "15.00", "1,234,567.89", "-1,234.5", "0.00", "0.6667", "–", "01:05", "1:02:03.4", "00:00",
           "07", "-007"]
