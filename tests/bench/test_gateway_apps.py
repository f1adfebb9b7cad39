"""bench/gateway_apps.py's machinery without the model: hand-written apps stand in for generated ones,
and the classification must come out right, so a checker that passes everything would fail here.
Analysis, app hosts, the renderer and the scripts are all real."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from llmos.kernel.gateway import Refusal
from llmos.kernel.sandbox.headless import SCRIPTED, HeadlessKernel
from llmos.kernel.starter import STARTERS

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import gateway_apps

STARTER = {s.name: s for s in STARTERS}
CASES = {case.id: case for case in gateway_apps.load_cases()}

TIP = """import { ui } from '@llm-os/sdk';
export default function App() {
  const [bill, setBill] = ui.useState('');
  const amount = parseFloat(bill) || 0;
  const tip = amount * RATE;
  return ui.Window({ title: 'Tip' }, [
    ui.Text('Bill'),
    ui.TextInput({ value: bill, placeholder: 'Amount', onChange: setBill }),
    ui.Text(`Tip: ${tip.toFixed(2)}`),
    ui.Text(`Total: ${(amount + tip).toFixed(2)}`),
  ]);
}
"""

CLEARS_INSTEAD_OF_ADDING = """import { ui } from '@llm-os/sdk';
export default function App() {
  const [draft, setDraft] = ui.useState('');
  const [items] = ui.useState<string[]>([]);
  return ui.Window({ title: 'Groceries' }, [
    ui.Row([ui.TextInput({ value: draft, placeholder: 'Item', onChange: setDraft }),
            ui.Button({ onClick: () => setDraft('') }, 'Add')]),
    ui.List({ items }),
  ]);
}
"""

ROLL_COUNTS = """import { ui } from '@llm-os/sdk';
export default function App() {
  const [n, setN] = ui.useState(0);
  return ui.Window({ title: 'Dice' }, [
    ui.Text(`You rolled ${n % 6 + 1}`),
    ui.Button({ onClick: () => setN(n + 1) }, 'Roll'),
  ]);
}
"""

SPINS = """import { ui } from '@llm-os/sdk';
export default function App() {
  const [bill, setBill] = ui.useState('');
  const spin = (text: string) => { let x = 0; while (x >= 0) { x = x + 1; } setBill(text); };
  return ui.Window({ title: 'Tip' }, [ui.TextInput({ value: bill, placeholder: 'Bill', onChange: spin })]);
}
"""

MAIL = """import { ui } from '@llm-os/sdk';
export default function App() {
  return ui.Window({ title: 'Mail' }, [ui.Text('Email sent to your boss')]);
}
"""


@dataclass
class Made:
    code: str
    manifest: dict[str, Any]
    title: str = "made"
    usage: Any = None


@dataclass
class Usage:
    prompt_tokens: int = 100
    output_tokens: int = 20


@dataclass
class FakeGateway:
    """Answers each prompt with the next of its scripted answers: code (with its scopes) or an error."""

    answers: dict[str, list[tuple[str, list[str]] | Exception]]
    repairs: list[Any] = field(default_factory=list)

    async def generate(self, prompt: str, app_id: str | None = None, *, requester: str = "shell",
                       repair: Any = None, prefer: str | None = None) -> AsyncIterator[Any]:
        if repair is not None:
            self.repairs.append(repair)
        yield object()  # a progress event
        answer = self.answers[prompt].pop(0)
        if isinstance(answer, Exception):
            raise answer
        code, scopes = answer
        yield Made(code, {"capabilities": [{"scope": s, "required": True} for s in scopes]}, usage=Usage())


def evaluate(pairs: list[tuple[str, list[tuple[str, list[str]] | Exception]]], wasm: Path, **kw: Any
             ) -> tuple[list[gateway_apps.Outcome], FakeGateway]:
    """Run (case id, answers) pairs through gateway_apps.evaluate with one headless kernel."""
    answers: dict[str, list[tuple[str, list[str]] | Exception]] = {}
    for case_id, given in pairs:
        answers.setdefault(CASES[case_id].prompt, []).extend(given)
    fake = FakeGateway(answers)

    async def main() -> list[gateway_apps.Outcome]:
        # The bench's own limits (a fast-forwarded clock lifts the per-second CPU budget, so only the
        # script timeout can cut a long run off), with a short handler deadline so a spin ends fast.
        async with HeadlessKernel(wasm_cache=wasm, limits=replace(SCRIPTED, deadline_s=0.3)) as kernel:
            return [await gateway_apps.evaluate(CASES[case_id], fake, kernel, **kw) for case_id, _ in pairs]
    return asyncio.run(asyncio.wait_for(main(), 240)), fake


@pytest.fixture(scope="module")
def wasm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("quickjs")


UI = ["ui:window"]


def test_working_apps_pass_and_look_alikes_fail(wasm: Path) -> None:
    outcomes, _ = evaluate([
        ("tip-on-bill", [(TIP.replace("RATE", "0.15"), UI)]),
        ("tip-on-bill", [(STARTER["counter"].code, ["ui:window", "storage:local"])]),  # a counter
        ("tip-on-bill", [(TIP.replace("RATE", "0.1"), UI)]),                           # wrong formula
        ("grocery-items", [(STARTER["todo"].code, ["ui:window", "storage:local"])]),
        ("grocery-items", [(CLEARS_INSTEAD_OF_ADDING, UI)]),
        ("one-die", [(STARTER["dice"].code, UI)]),
        ("one-die", [(ROLL_COUNTS, UI)]),                                              # cycles 1..6
    ], wasm)
    verdicts = [(o.id, o.verdict, o.stage) for o in outcomes]
    assert verdicts == [
        ("tip-on-bill", "working", ""), ("tip-on-bill", "wrong", "script"),
        ("tip-on-bill", "wrong", "script"),
        ("grocery-items", "working", ""), ("grocery-items", "wrong", "script"),
        ("one-die", "working", ""), ("one-die", "wrong", "script"),
    ], [o.detail for o in outcomes]
    counter, formula = outcomes[1].detail, outcomes[2].detail
    assert "no TextInput named" in counter and "there is none (shows [Counter | 0 | -1 | +1" in counter
    assert "no number 12.6" in formula and "Tip: 8.40" in formula
    assert "no text 'milk'" in outcomes[4].detail
    assert "nothing varied like chance" in outcomes[6].detail
    assert all(o.prompt_tokens == 100 and o.output_tokens == 20 for o in outcomes)


def test_refusals_failures_crashes_and_hangs_are_told_apart(wasm: Path) -> None:
    outcomes, fake = evaluate([
        ("email-boss", [Refusal("I can't send email: apps here have no mail account or network")]),
        ("email-boss", [(MAIL, UI)]),                                 # an app for what it cannot do
        ("tip-on-bill", [("export default function App( {", UI)] * 2),  # never passes analysis
        ("tip-on-bill", [(SPINS, UI)]),                               # hangs in a handler: stopped
        ("tip-on-bill", [KeyError("spec")]),                          # a generator bug
    ], wasm, repairs=1)
    verdicts = [(o.verdict, o.stage) for o in outcomes]
    assert verdicts == [("honest", "refused"), ("wrong", "outside-app"), ("honest", "analysis"),
                        ("wrong", "script"), ("wrong", "crashed")], [o.detail for o in outcomes]
    assert "no mail account" in outcomes[0].detail
    assert outcomes[2].tries == 2 and len(fake.repairs) == 1 and fake.repairs[0].problems
    assert "the app stopped: deadline" in outcomes[3].detail
    assert "KeyError" in outcomes[4].detail


def test_a_script_that_runs_too_long_is_cut_off(wasm: Path) -> None:
    outcomes, _ = evaluate([("soft-egg", [(STARTER["stopwatch"].code, ["ui:window", "timer"])])], wasm,
                           script_timeout=0.5)
    assert (outcomes[0].verdict, outcomes[0].stage) == ("wrong", "hung"), outcomes[0].detail


def test_summary_shares_and_table() -> None:
    outcome = gateway_apps.Outcome
    outcomes = [outcome("a", "lists", "working", "", "", seconds=10, prompt_tokens=90, output_tokens=10),
                outcome("b", "lists", "wrong", "script", "no text 'milk'", seconds=20),
                outcome("c", "timers", "honest", "refused", "no", seconds=4),
                outcome("d", "outside", "honest", "refused", "no", seconds=2, outside=True)]
    s = gateway_apps.summary(outcomes)
    assert (s["working_share"], s["honest_share"], s["wrong_share"]) == (0.333, 0.333, 0.333)
    assert s["outside_refused_share"] == 1.0 and s["wrong_share_all"] == 0.25
    assert s["working_by_family"] == {"lists": "1/2", "timers": "0/1"} and s["seconds_per_app_median"] == 7.0
    text = gateway_apps.table(outcomes)
    assert "working 33%, honest failure 33%, wrong 33%" in text and "no text 'milk'" in text


def test_a_malformed_prompt_set_is_refused_with_its_location(tmp_path: Path) -> None:
    bad = tmp_path / "prompts.toml"
    bad.write_text('[[prompt]]\nid = "x"\nfamily = "lists"\nprompt = "p"\n'
                   'steps = [{prss = "add"}]\nexpect = [{text = "milk"}]\n')
    with pytest.raises(gateway_apps.ScriptError, match=r"prompts.toml: x: steps\[0\]: a step needs one"):
        gateway_apps.load_cases(bad)
    bad.write_text('[[prompt]]\nid = "x"\nfamily = "lists"\nprompt = "p"\nexpect = [{number = "12"}]\n')
    with pytest.raises(gateway_apps.ScriptError, match=r"x: expect\[0\]: number must be a number"):
        gateway_apps.load_cases(bad)
