"""The benchmark's prompt sets (bench/apps/prompts.toml, and the later prompts_*.toml): well formed, the
first spread over every family of issue 11, all disjoint from the example library and from each other,
and impossible to satisfy with an app that does nothing."""

from __future__ import annotations

import asyncio
import itertools
import sys
from collections import Counter
from pathlib import Path

import pytest

from llmos.kernel.sandbox.headless import HeadlessKernel
from llmos.sdk.render.script import run_script

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import gateway_apps

CASES = gateway_apps.load_cases()
ALL_CASES = CASES + [case for path in gateway_apps.MORE_SETS for case in gateway_apps.load_cases(path)]


def test_enough_prompts_in_every_family() -> None:
    inside = [c for c in CASES if not c.outside]
    assert len(inside) >= 60
    counts = Counter(c.family for c in inside)
    assert set(counts) == set(gateway_apps.FAMILIES) - {"outside"}, counts
    assert min(counts.values()) >= 4, counts
    assert sum(c.outside for c in CASES) >= 5


def test_every_later_set_is_read() -> None:
    assert len(gateway_apps.MORE_SETS) >= 2 and len(ALL_CASES) >= len(CASES) + 50


def test_prompts_are_distinct_from_each_other() -> None:
    assert len({c.prompt.casefold() for c in ALL_CASES}) == len(ALL_CASES)
    assert len({c.id for c in ALL_CASES}) == len(ALL_CASES)
    close = [(a.id, b.id, round(score, 2)) for a, b in itertools.combinations(ALL_CASES, 2)
             if (score := gateway_apps.overlap(a.prompt, b.prompt)) > gateway_apps.NEAR_COPY]
    assert not close


def test_overlap_catches_near_copies() -> None:
    assert gateway_apps.overlap("A tip calculator for the bill", "tip calculator for bills") == 1.0
    assert gateway_apps.overlap("roll a dice for board games", "a dice roller with d4 to d20") < 0.3


def test_no_prompt_is_a_near_copy_of_an_example_request() -> None:
    library = gateway_apps.EXAMPLES
    if not library.is_dir():
        pytest.skip(f"the example library {library} does not exist yet")
    requests = gateway_apps.example_requests(library)
    files = [p for p in library.rglob("*") if p.is_file() and not p.name.startswith((".", "__"))
             and p.suffix != ".py"]
    assert requests or not files, f"no request could be read from the {len(files)} files in {library}"
    copies = gateway_apps.near_copies(ALL_CASES, requests)
    assert not copies, copies


def test_example_requests_are_read_from_any_format(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text('[[example]]\nrequest = "a tally for birds"\n')
    (tmp_path / "b.json").write_text('{"examples": [{"prompt": "a notepad"}]}')
    (tmp_path / "c.jsonl").write_text('{"request": "a metronome"}\n\n')
    (tmp_path / "d.app").write_text("request: a coin flipper\ntitle: Coin\n")
    assert sorted(gateway_apps.example_requests(tmp_path)) == [
        "a coin flipper", "a metronome", "a notepad", "a tally for birds"]


BLANK = """import { ui } from '@llm-os/sdk';
export default function App() {
  return ui.Window({ title: 'Hello' }, [ui.Text('Hello'), ui.Button({ onClick: () => {} }, 'OK')]);
}
"""


def test_an_app_that_does_nothing_fails_every_script(tmp_path_factory: pytest.TempPathFactory) -> None:
    async def main() -> list[str]:
        passed = []
        async with HeadlessKernel(wasm_cache=tmp_path_factory.mktemp("quickjs")) as kernel:
            app = await kernel.launch(BLANK, ["ui:window"], app_id="blank")

            async def relaunch():  # type: ignore[no-untyped-def]
                return app.driver
            for case in ALL_CASES:
                if case.outside:
                    continue
                verdict = await run_script(app.driver, case.steps, case.expect, relaunch=relaunch)
                if verdict.ok:
                    passed.append(case.id)
        return passed
    assert asyncio.run(asyncio.wait_for(main(), 120)) == []
