"""The host functions every app gets (clock, zones, randomness) and the zone table behind them."""

from __future__ import annotations

import asyncio
import zoneinfo
from datetime import UTC, datetime

import pytest

from llmos.kernel.sandbox.builtins import MAX_RANDOM_WORDS, builtin_functions
from llmos.kernel.sandbox.headless import HeadlessKernel
from llmos.kernel.sandbox.hostfn import HostFunctionError
from llmos.sdk import zones


def ms(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp() * 1000


CASES = [  # zone, moment, minutes east of UTC
    ("London", ms(2026, 1, 15, 12), 0), ("London", ms(2026, 7, 15, 12), 60),
    ("Europe/Paris", ms(2026, 3, 29, 0, 30), 60), ("Europe/Paris", ms(2026, 3, 29, 1, 30), 120),
    ("New York", ms(2026, 1, 15), -300), ("new_york", ms(2026, 7, 15), -240),
    ("Sydney", ms(2026, 1, 15), 660), ("Sydney", ms(2026, 7, 15), 600),
    ("Auckland", ms(2026, 1, 15), 780), ("Tokyo", ms(2026, 7, 15), 540), ("India", ms(2026, 7, 15), 330),
]


@pytest.mark.parametrize("zone, at, minutes", CASES)
def test_zone_offsets_follow_daylight_saving(zone: str, at: float, minutes: int) -> None:
    assert zones.offset_minutes(zone, at) == minutes


@pytest.mark.parametrize("zone, at, minutes", CASES)
def test_without_a_zone_database_the_table_still_knows(zone: str, at: float, minutes: int,
                                                       monkeypatch) -> None:
    def missing(name: str) -> None:
        raise zoneinfo.ZoneInfoNotFoundError(name)
    monkeypatch.setattr(zones.zoneinfo, "ZoneInfo", missing)
    assert zones.offset_minutes(zone, at) == minutes


def test_names_resolve_or_are_refused() -> None:
    assert zones.resolve("tokyo") == "Asia/Tokyo"
    assert zones.resolve("Europe/Berlin") == "Europe/Berlin"
    assert zones.resolve("America/Argentina/Cordoba") == "America/Argentina/Cordoba"
    assert zones.resolve("Narnia") is None
    assert zones.offset_minutes("Narnia", 0) is None


def test_builtins_answer_with_their_values_and_refuse_bad_arguments() -> None:
    fns = builtin_functions(lambda: 1234.5)
    assert fns["clock_now"]() == 1234.5
    assert fns["zone_offset"]("Tokyo", 0) == 540
    assert fns["zone_offset"]("Narnia", 0) is None  # a value: runtime.js makes it a RangeError
    with pytest.raises(HostFunctionError, match=r"zone_offset\(zone: string"):
        fns["zone_offset"](None, 0)
    words = fns["random_u32"](10**9)
    assert len(words) == MAX_RANDOM_WORDS and all(0 <= w < 2**32 for w in words) and len(set(words)) > 250
    with pytest.raises(HostFunctionError, match=r"random_u32\(count: number\)"):
        fns["random_u32"]("3")


def test_the_test_clock_moves_the_wall_clock_too(tmp_path) -> None:
    """clock.now() is the host's wall clock plus what 'advance' added: date apps can be tested."""
    source = ("import { ui, clock } from '@llm-os/sdk';\n"
              "export default function App() {\n"
              "  const [n, setN] = ui.useState(0);\n"
              "  return ui.Window({ title: 'd' }, [ui.Text('Day ' + clock.today()),\n"
              "    ui.Button({ onClick: () => setN(n + 1) }, 'Again')]);\n"
              "}\n")

    async def scenario() -> tuple[bool, bool]:
        async with HeadlessKernel(wasm_cache=tmp_path) as kernel:
            app = await kernel.launch(source, ["ui:window"], app_id="dates")
            today = datetime.now().astimezone().date()
            shows_today = app.driver.has_text(f"Day {today.isoformat()}")
            await app.process.call("advance", ms=86_400_000)
            await app.driver.press("again")
            tomorrow = today.fromordinal(today.toordinal() + 1)
            return shows_today, app.driver.has_text(f"Day {tomorrow.isoformat()}")

    assert asyncio.run(asyncio.wait_for(scenario(), 60)) == (True, True)
