"""The starter apps that use each other: the unit converter provides `convert`, the trip log calls it by
the converter's identity. Both are checked statically (the identity in the caller's code is the one made
from the converter's code, and the grants match) and run for real, the converter started headless by
the caller's first call (HeadlessKernel, real app hosts)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from llmos.kernel.analysis import analyse
from llmos.kernel.analysis.provides import Provided, provided_functions
from llmos.kernel.sandbox.headless import SCRIPTED, HeadlessKernel
from llmos.kernel.starter import STARTERS, provided_by

pytestmark = pytest.mark.timeout(120)

CONVERTER = next(s for s in STARTERS if s.name == "converter")
TRIP = next(s for s in STARTERS if s.name == "trip")


def test_the_trip_log_names_the_converters_identity_and_asks_for_exactly_that_function() -> None:
    scope = provided_by("converter", "convert")
    assert scope.removeprefix("app:") in TRIP.code, \
        f"converter.ts changed: its identity is now {scope}; put it in trip.ts's apps.call"
    assert scope in TRIP.capabilities
    report = analyse(TRIP.code, TRIP.manifest)
    assert report.ok, report.findings
    assert set(report.capabilities) == set(TRIP.capabilities)
    assert [p.name for p in provided_functions(CONVERTER.code)] == ["convert"]
    assert provided_functions(TRIP.code) == ()
    assert set(analyse(CONVERTER.code).capabilities) == {"ui:window"}  # providing asks for nothing


def test_the_trip_log_gets_miles_from_the_converter_started_headless(wasm_cache: Path) -> None:
    converter_id = provided_by("converter", "convert").removeprefix("app:").split("/")[0]

    async def scenario() -> tuple[list[str], str]:
        # calls are under test, not the CPU budget (which a busy machine's waiting time can exhaust)
        async with HeadlessKernel(wasm_cache=wasm_cache, limits=SCRIPTED) as kernel:
            kernel.install(converter_id, CONVERTER.code, CONVERTER.capabilities)
            trip = await kernel.launch(TRIP.code, TRIP.capabilities, app_id="trip", test_clock=False)
            assert await trip.driver.wait_for("In miles: 0", 60_000), trip.driver.screen_text()
            await trip.driver.type("Kilometres", "42.195")
            await trip.driver.press("Add")
            assert await trip.driver.wait_for("In miles: 26.2", 20_000), trip.driver.screen_text()
            await trip.driver.press("Clear")
            assert await trip.driver.wait_for("In miles: 0", 20_000), trip.driver.screen_text()
            started = [app.app_id for app in kernel.started]
            return started, str((await kernel.started[0].process.tree())["tree"])

    started, converter_tree = asyncio.run(asyncio.wait_for(scenario(), 110))
    assert started == [converter_id]  # one start, then the running converter served every call
    assert "Unit Converter" in converter_tree  # the converter itself, running headless


def test_a_provided_function_is_read_with_its_description() -> None:
    [convert] = provided_functions(CONVERTER.code)
    assert convert == Provided("convert", convert.about) and "kilometres" in convert.about
