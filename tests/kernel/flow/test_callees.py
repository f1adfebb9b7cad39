"""The approval dialog names the app an app asks to call by its title (kernel/flow/callees.py), from the
real registry and versions; an identity no installed app has is said plainly."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmos.kernel import starter
from llmos.kernel.flow import AppFlow
from llmos.kernel.registry import Registry
from llmos.kernel.versions import Versions

from .test_flow import Answers, FakeGenerator, Launcher, kinds, run

TRIP = next(s for s in starter.STARTERS if s.name == "trip")
CONVERT = starter.provided_by("converter", "convert")
STRANGER = """import { ui, apps } from '@llm-os/sdk';
export default function App() {
  const rate = () => apps.call('app-0123456789abcdef/rate', 1);
  return ui.Window({ title: 'Budget' }, [ui.Button({ onClick: rate }, 'Rate')]);
}
"""


@pytest.fixture
def registry(tmp_path: Path):
    with Registry(tmp_path / "state") as opened:
        yield opened


def test_the_dialog_names_the_called_app_by_its_title(registry: Registry) -> None:
    starter.seed(registry)
    answers = Answers()
    with Versions(registry) as versions:
        flow = AppFlow(registry, answers, generator=FakeGenerator([]), launcher=Launcher(), versions=versions)
        events = run(flow, TRIP.prompt)
    assert kinds(events)[-1] == "launched"
    ask = next(a for a in answers.asked[0] if a.scope == CONVERT)
    assert (ask.words, ask.warning) == ("Use the function 'convert' of your app Unit Converter", "")


def test_an_app_nobody_installed_is_said_plainly(registry: Registry) -> None:
    answers = Answers()
    manifest = {"capabilities": [{"scope": "ui:window", "required": True},
                                 {"scope": "app:app-0123456789abcdef/rate", "required": True}]}
    with Versions(registry) as versions:
        flow = AppFlow(registry, answers, generator=FakeGenerator([STRANGER], manifest), launcher=Launcher(),
                       use_cache=False, versions=versions)
        run(flow, "a budget app")
    ask = next(a for a in answers.asked[0] if a.scope.startswith("app:"))
    assert ask.words == "Use the function 'rate' of your app app-0123456789abcdef"
    assert ask.warning == ("No installed app is app-0123456789abcdef: calls to it will fail until it is "
                           "installed")
