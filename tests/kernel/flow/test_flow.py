"""The app flow end to end against a real registry (SQLite + git) and real analysis.

FakeGenerator stands in for the LLM: it returns fixed code (shaped like kernel.gateway's Progress and
Generation) so these tests check the flow's decisions, not a model. The gateway's real generation
tests live in tests/kernel/gateway. The launcher is a recording stub because the sandbox host is another
engineer's component; its real tests live with kernel/sandbox."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from llmos.kernel import starter
from llmos.kernel.analysis import Policy
from llmos.kernel.flow import AppFlow, Ask, Launched, Offer
from llmos.kernel.registry import Registry

GOOD = """import { ui, storage, net } from '@llm-os/sdk';
export default function App() {
  const [city, setCity] = storage.useLocal('city', 'Paris');
  const load = () => net.fetch('https://api.weather.example/' + city);
  return ui.Window({ title: 'Weather' }, [ui.TextInput({ value: city, onChange: setCity, onSubmit: load })]);
}
"""
BAD = ("import { ui } from '@llm-os/sdk';\nconst x = eval('1');\n"
       "export default function App() { return ui.Window({}, [x]); }\n")
MANIFEST = {"capabilities": [{"scope": "ui:window", "required": True},
                             {"scope": "storage:local", "required": True},
                             {"scope": "network:api.weather.example", "required": False}]}
HOST = "network:api.weather.example"


@dataclass
class Progress:
    phase: str
    tokens: int
    fraction: float


@dataclass
class Generation:
    code: str
    manifest: Any
    model: str = "fake-model"


@dataclass
class FakeGenerator:
    outputs: list[str]
    manifest: Any = field(default_factory=lambda: MANIFEST)
    repairs: list[Any] = field(default_factory=list)

    async def generate(self, prompt: str, *, repair: Any = None, prefer: str | None = None):
        self.repairs.append(repair)
        for step in range(3):
            yield Progress("generating", step * 10, step / 3)
        yield Generation(self.outputs.pop(0), self.manifest)


@dataclass
class Answers:
    cached: bool = True
    deny: set[str] = field(default_factory=set)
    asked: list[list[Ask]] = field(default_factory=list)
    offers: list[Offer] = field(default_factory=list)

    async def accept_cached(self, offer: Offer) -> bool:
        self.offers.append(offer)
        return self.cached

    async def approve(self, asks: list[Ask]) -> set[str]:
        self.asked.append(asks)
        return {a.scope for a in asks} - self.deny


@dataclass
class Launcher:
    launched: list[tuple[str, list[str]]] = field(default_factory=list)

    async def __call__(self, record, granted) -> Launched:
        self.launched.append((record.codeHash, granted))
        return Launched("app-1", "Weather", 4242)


@pytest.fixture
def registry(tmp_path: Path):
    with Registry(tmp_path / "state") as opened:
        yield opened


def run(flow: AppFlow, prompt: Any) -> list:
    async def collect():
        return [event async for event in flow.new(prompt)]
    return asyncio.run(collect())


def kinds(events) -> list[str]:
    return [e.kind for e in events if e.kind != "generating"]


def test_generate_analyse_approve_save_launch(registry: Registry) -> None:
    launcher, answers = Launcher(), Answers()
    flow = AppFlow(registry, answers, generator=FakeGenerator([GOOD]), launcher=launcher,
                   policy=Policy())
    events = run(flow, "show the weather for my city")
    assert kinds(events) == ["looked-up", "analysed", "needs-approval", "approved", "saved", "launched"]
    assert [e.data["fraction"] for e in events if e.kind == "generating"] == [0, 1 / 3, 2 / 3]
    ask = {a.scope: a for a in answers.asked[0]}
    assert ask["storage:local"].words == "Keep its own data on this device" and ask["storage:local"].required
    assert not ask["network:api.weather.example"].required
    record = registry.get(events[-1].data["hash"])
    assert record.llmModel == "fake-model" and record.optionalCapabilities == ["network:api.weather.example"]
    assert launcher.launched == [(record.codeHash, ["ui:window", "storage:local", HOST])]
    assert events[-1].to_json() == {"event": "launched", "hash": record.codeHash,
                                    "granted": ["ui:window", "storage:local", HOST], "app_id": "app-1",
                                    "title": "Weather", "pid": 4242}
    asked = next(e for e in events if e.kind == "needs-approval").data
    assert asked == {"asks": [a.to_json() for a in answers.asked[0]]}


def test_repair_loop_feeds_located_findings_back(registry: Registry) -> None:
    generator = FakeGenerator([BAD, GOOD])
    flow = AppFlow(registry, Answers(), generator=generator, launcher=Launcher())
    events = run(flow, "weather")
    assert kinds(events) == ["looked-up", "analysed", "repairing", "analysed", "needs-approval", "approved",
                             "saved", "launched"]
    repair = generator.repairs[1]
    assert repair.code == BAD and repair.problems == ["2:11: no-eval: eval is not allowed"]


def test_unrepairable_output_fails_and_saves_nothing(registry: Registry) -> None:
    flow = AppFlow(registry, Answers(), generator=FakeGenerator([BAD, "function (", BAD]), repair_tries=2,
                   launcher=Launcher())
    events = run(flow, "weather")
    assert events[-1].kind == "failed" and "after 3 tries" in events[-1].data["reason"]
    assert any(e.kind == "analysed" and "syntax-error" in str(e.data) for e in events)
    assert len(registry) == 0 and registry.history.head() is None


def test_cached_app_is_offered_and_launched_offline(registry: Registry) -> None:
    starter.seed(registry)
    launcher, answers = Launcher(), Answers(cached=True)
    flow = AppFlow(registry, answers, generator=FakeGenerator([]), launcher=launcher)
    events = run(flow, "I need a pomodoro timer with break reminders")
    assert kinds(events) == ["looked-up", "offered-cached", "needs-approval", "approved", "launched"]
    assert registry.get(launcher.launched[0][0]).llmModel == starter.STARTER_MODEL
    offer = answers.offers[0]
    assert offer.hash == launcher.launched[0][0] and offer.title == "Pomodoro Timer"
    assert events[1].to_json() == {"event": "offered-cached", **offer.to_json()}
    assert events[0].data["candidates"][0]["hash"] == offer.hash


def test_declined_cache_generates_fresh(registry: Registry) -> None:
    starter.seed(registry)
    flow = AppFlow(registry, Answers(cached=False), generator=FakeGenerator([GOOD]), launcher=Launcher())
    assert "saved" in kinds(run(flow, "A pomodoro timer with break reminders"))


def test_denied_optional_runs_without_it_denied_required_does_not_launch(registry: Registry) -> None:
    launcher = Launcher()
    optional = AppFlow(registry, Answers(deny={"network:api.weather.example"}),
                       generator=FakeGenerator([GOOD]), launcher=launcher, use_cache=False)
    assert kinds(run(optional, "weather"))[-1] == "launched"
    assert launcher.launched[0][1] == ["ui:window", "storage:local"]
    required = AppFlow(registry, Answers(deny={"storage:local"}), generator=FakeGenerator([GOOD + "\n"]),
                       launcher=launcher, use_cache=False)
    events = run(required, "weather")
    assert events[-1].kind == "failed" and "Keep its own data on this device" in events[-1].data["reason"]
    assert len(launcher.launched) == 1 and len(registry) == 1  # nothing saved for the refused one


@pytest.mark.parametrize("prompt, reason", [("", "empty"), ("   \n", "empty"), ("x" * 5000, "limit"),
                                            (b"\xff\xfe\x00\x01", "binary"), ("abc\x00\x01\x02", "binary")])
def test_bad_prompts_are_refused_clearly(registry: Registry, prompt, reason) -> None:
    flow = AppFlow(registry, Answers(), generator=FakeGenerator([GOOD]), launcher=Launcher())
    events = run(flow, prompt)
    assert [e.kind for e in events] == ["failed"] and reason in events[0].data["reason"]


def test_policy_refusal_and_generator_failure(registry: Registry) -> None:
    flow = AppFlow(registry, Answers(), generator=FakeGenerator([GOOD]), launcher=Launcher(),
                   policy=Policy(deny=("storage:local",)))
    events = run(flow, "weather")
    assert events[-1].kind == "failed" and "policy forbids storage:local" in events[-1].data["reason"]

    class Broken:
        async def generate(self, prompt, *, repair=None, prefer=None):
            raise RuntimeError("model crashed")
            yield  # pragma: no cover

    events = run(AppFlow(registry, Answers(), generator=Broken(), launcher=Launcher()), "weather")
    assert events[-1].data["reason"] == "generation failed: model crashed" and len(registry) == 0


def test_no_run_saves_without_launching(registry: Registry) -> None:
    launcher = Launcher()
    flow = AppFlow(registry, Answers(), generator=FakeGenerator([GOOD]), launcher=launcher, run=False)
    assert kinds(run(flow, "weather"))[-1] == "saved" and launcher.launched == []


def pull_untrusted(registry: Registry, tmp_path: Path, prompt: str, code: str) -> str:
    """An app made on another machine, whose key this registry does not trust, pulled in."""
    with Registry(tmp_path / "stranger") as stranger:
        made = stranger.add(prompt, code, "their-model", ["ui:window"])
    registry.remote_add("stranger", str(tmp_path / "stranger" / "registry.git"))
    assert registry.pull("stranger").untrusted == (made.codeHash,)
    return made.codeHash


def test_untrusted_best_match_is_never_offered(registry: Registry, tmp_path: Path) -> None:
    prompt = "I need a pomodoro timer with break reminders"
    stranger = pull_untrusted(registry, tmp_path, prompt, GOOD)
    alone = run(AppFlow(registry, Answers(), generator=FakeGenerator([]), launcher=Launcher()), prompt)
    assert alone[0].data["candidates"][0]["hash"] == stranger  # found, not offered: it generates
    assert kinds(alone) == ["looked-up", "failed"] and "generation failed" in alone[-1].data["reason"]

    starter.seed(registry)
    launcher, answers = Launcher(), Answers(cached=True)
    events = run(AppFlow(registry, answers, generator=FakeGenerator([]), launcher=launcher), prompt)
    assert kinds(events) == ["looked-up", "offered-cached", "needs-approval", "approved", "launched"]
    assert answers.offers[0].title == "Pomodoro Timer" and answers.offers[0].hash != stranger
    assert launcher.launched[0][0] == answers.offers[0].hash and registry.is_trusted(launcher.launched[0][0])
