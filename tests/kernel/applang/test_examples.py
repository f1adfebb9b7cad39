"""Every example in kernel/applang/examples: it validates, compiles, passes the static analysis with the
scopes it declares, launches in a real app host and does what its script expects on screen."""

from __future__ import annotations

import asyncio

import pytest

from llmos.kernel.analysis import analyse
from llmos.kernel.applang import Document, check, compile_app
from llmos.kernel.applang.examples import Example, load_examples
from llmos.kernel.applang.validate import constant
from llmos.kernel.sandbox.headless import SCRIPTED, HeadlessKernel
from llmos.kernel.sandbox.transpile import transpile
from llmos.sdk.render.script import parse_expectation, parse_step, run_script

EXAMPLES = load_examples()
APPS = [example for example in EXAMPLES if not example.unsupported]
FAMILIES = {"calculators", "trackers", "lists", "timers", "clocks", "random", "learning", "text", "drawing",
            "unsupported"}


@pytest.fixture(scope="module")
def wasm_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("wasm")


def clock_step(document: Document) -> float:
    """How far the driver moves the test clock per step: the app's shortest timer period (timers fire
    at most once per step), so a one-minute countdown takes 60 steps, not 600."""
    periods = [constant(timer.every) or 0.0 for timer in document.timers]
    return max(100.0, min(periods, default=1000.0))


def test_the_library_covers_every_family() -> None:
    assert {example.family for example in EXAMPLES} == FAMILIES
    assert len(EXAMPLES) >= 200  # issue 11: at least 200 hand-written examples
    requests = [example.request.lower() for example in EXAMPLES]
    assert len(set(requests)) == len(requests)


@pytest.mark.parametrize("example", APPS, ids=lambda e: e.where)
def test_example_compiles_launches_and_works(example: Example, wasm_cache) -> None:
    document, errors = check(example.app)
    assert errors == [], [str(e) for e in errors]
    assert document is not None
    app = compile_app(document)
    report = analyse(app.code, list(app.scopes))
    assert report.ok, report.diagnostics()
    transpile(app.code)
    assert example.expect, "an example says what must be on screen"
    steps = tuple(parse_step(step, f"{example.where}.steps[{i}]") for i, step in enumerate(example.steps))
    expect = tuple(parse_expectation(e, f"{example.where}.expect[{i}]") for i, e in enumerate(example.expect))

    step = clock_step(document)

    async def scenario() -> str:
        async with HeadlessKernel(wasm_cache=wasm_cache, limits=SCRIPTED) as kernel:
            launched = [await kernel.launch(app.code, app.scopes, app_id="example")]
            launched[0].driver.step_ms = step

            async def relaunch():
                launched.append(await kernel.relaunch(launched[-1]))
                launched[-1].driver.step_ms = step
                return launched[-1].driver

            verdict = await run_script(launched[0].driver, steps, expect, relaunch=relaunch)
            assert verdict.ok, f"{verdict.detail}\nscreen: {launched[-1].driver.screen_text()}"
            return verdict.detail

    assert "expectations held" in asyncio.run(asyncio.wait_for(scenario(), 180))
