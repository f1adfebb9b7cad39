"""Trust in the shell (compositor/shell/trust.py, trust_views.py): where a suggestion came from, the
untrusted mark, the extra confirmation before an untrusted app runs (nothing is sent to run it until
"Run anyway", which alone sends confirm_untrusted: true), and who audited an app in the offer and
approval dialogs. In process with a scripted kernel (exact calls), end to end on the stub kernel
(pixels, keys, clicks), and end to end on the real kernel with apps pulled from another machine's
registry, one of them signed by a key this machine does not trust."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from llmos import ipc
from llmos.api import Provenance
from llmos.compositor.shell.shell import Shell
from llmos.kernel import starter
from llmos.kernel.registry import Registry
from llmos.settings import ShellSettings

from .harness import HEIGHT, KEY_DOWN, KEY_ENTER, KEY_ESC, WIDTH, Desktop, region_share, wait_for, white
from .test_flow_controller import Compositor, ScriptedKernel, flow_event, until

pytestmark = pytest.mark.timeout(180)
BACKGROUND = (0x21, 0x30, 0x3F)
UNTRUSTED_NOTE = "⚠ untrusted: signed by a key you do not trust. It runs only after you confirm."
BY_ALICE = "an unknown key a1cea1cea1cea1ce…"  # the stub's and the scripted kernel's alice
BY_MALLORY = "⚠ Audited by an unknown key 3a113a113a113a11… — you do not trust this key."
WEATHER_ROW = "⚠ Weather Station  —  untrusted, from alice's registry"


def red(rgb: tuple[int, int, int]) -> bool:
    """The shell's DANGER colour (#b42318) and its anti-aliased edges on white."""
    r, g, b = rgb
    return r > 140 and r - g > 60 and r - b > 60


def dimmed(rgb: tuple[int, int, int]) -> bool:
    return all(c < b - 10 for c, b in zip(rgb, BACKGROUND, strict=True))


# -- in process: a real Shell with a scripted kernel ---------------------------------------------------
class Kernel(ScriptedKernel):
    """The scripted kernel link; an answer that is an RpcError is raised, as the kernel refuses."""

    async def call(self, method: str, timeout: float = 30.0, **params: Any) -> Any:
        answer = await super().call(method, timeout, **params)
        if isinstance(answer, ipc.RpcError):
            raise answer
        return answer


def run(scenario: Callable[[Shell, Kernel], Coroutine[Any, Any, None]]) -> None:
    async def main() -> None:
        shell = Shell(Compositor(), ShellSettings(), Path("/nonexistent/kernel.sock"))  # type: ignore[arg-type]
        kernel = Kernel()
        shell.link = kernel  # type: ignore[assignment]
        shell.loop = asyncio.get_running_loop()
        shell.state.connected, shell.state.panel = True, "launcher"
        try:
            await scenario(shell, kernel)
        finally:
            shell.close()

    asyncio.run(main())


def on_screen(shell: Shell) -> list[str]:
    """The panel's painted text, after the coalesced refresh the last change asked for."""
    shell.refresh()
    return list(shell.surfaces.texts().get("panel", []))


def key(name: str) -> dict[str, Any]:
    return {"key": name * 16, "name": None, "trusted": False}


ALICE, MALLORY = key("a1ce"), key("3a11")
CAROL = {"key": "ca70" * 16, "name": "carol", "trusted": True}
ME = {"key": "5e1f" * 16, "name": "this machine", "trusted": True}
WEATHER, SUDOKU = "sha256:" + "5a" * 32, "sha256:" + "6b" * 32
HITS = [{"hash": SUDOKU, "prompt": "a sudoku puzzle board", "score": 0.9, "origin": "local", "trusted": True,
         "title": "Sudoku"},
        {"hash": WEATHER, "prompt": "a weather station", "score": 0.8, "origin": "alice", "trusted": False,
         "title": "Weather Station"}]


def provenance(ref: str, origin: str, author: dict[str, Any], *auditors: dict[str, Any]) -> dict[str, Any]:
    trusted = author["trusted"] or any(a["trusted"] for a in auditors)
    return {"codeHash": ref, "origin": origin, "author": author, "trusted": trusted,
            "audits": [{"signer": a, "audited": True, "note": "", "at": "2026-11-20T10:00:00Z"}
                       for a in auditors],
            "ratings": [], "rating": None}


def test_an_untrusted_suggestion_is_marked_and_runs_only_after_run_anyway() -> None:
    async def scenario(shell: Shell, kernel: Kernel) -> None:
        kernel.answers["apps.search"] = HITS
        shell.state.prompt = "weather"
        await shell.launcher.search("weather")
        assert on_screen(shell)[2:5] == ["Sudoku  —  a sudoku puzzle board", WEATHER_ROW, UNTRUSTED_NOTE]

        kernel.answers["apps.provenance"] = provenance(WEATHER, "alice", ALICE, MALLORY)
        shell.actions.run_suggestion(1)
        assert shell.describe()["panel"] == "untrusted"
        asked = shell.state.untrusted
        assert asked is not None
        await until(lambda: asked.provenance is not None, "the signer and auditors")
        assert on_screen(shell) == [
            "This app is not trusted",
            f"“Weather Station” comes from alice's registry and is signed by {BY_ALICE}, "
            "a key you do not trust.",
            BY_MALLORY,
            "Nobody you trust made or audited it. Run it only if you trust where it came from.",
            "Cancel", "Run anyway", "Esc: cancel"]
        assert kernel.methods() == ["apps.search", "apps.provenance"], "nothing is sent to run it"

        shell.actions.cancel_untrusted()
        state = shell.describe()
        assert (state["panel"], state["prompt"], state["untrusted"]) == ("launcher", "weather", None)
        assert state["suggestions"] == ["Sudoku", "Weather Station"], "the launcher comes back as it was"
        assert kernel.methods() == ["apps.search", "apps.provenance"]

        shell.actions.run_suggestion(1)
        kernel.answers["apps.run"] = ipc.RpcError(ipc.ErrorCode.NEEDS_APPROVAL, "start flow.run")
        kernel.answers["flow.run"] = {"flow": "f7"}
        shell.actions.run_untrusted()
        assert shell.describe()["panel"] != "untrusted" and shell.state.prompt == ""
        await until(lambda: "flow.run" in kernel.methods(), "flow.run")
        sent = [(method, params) for method, params in kernel.calls if method in ("apps.run", "flow.run")]
        assert sent == [("apps.run", {"ref": WEATHER, "confirm_untrusted": True}),
                        ("flow.run", {"ref": WEATHER, "confirm_untrusted": True})]
        flow = shell.state.flow
        assert flow is not None and flow.hash == WEATHER
        await until(lambda: flow.id == "f7" and flow.provenance is not None, "the flow's provenance")
        flow_event(shell, "f7", "needs-approval", asks=[{"scope": "ui:window", "words": "Show a window",
                                                         "required": True}])
        assert f"From alice's registry, signed by {BY_ALICE} — you do not trust this key." in on_screen(shell)

    run(scenario)


def test_an_app_the_kernel_no_longer_trusts_asks_too() -> None:
    """The search said trusted, but trust changed before the user chose it: apps.run's `untrusted`
    refusal opens the same confirmation, and nothing is retried without it."""
    async def scenario(shell: Shell, kernel: Kernel) -> None:
        kernel.answers["apps.search"] = HITS
        shell.state.prompt = "sudoku"
        await shell.launcher.search("sudoku")
        kernel.answers["apps.run"] = ipc.RpcError(ipc.ErrorCode.UNTRUSTED, "signed by a key you do not trust")
        kernel.answers["apps.provenance"] = provenance(SUDOKU, "local", ALICE)
        shell.actions.run_suggestion(0)
        await until(lambda: shell.state.panel == "untrusted", "the confirmation")
        await until(lambda: "apps.provenance" in kernel.methods(), "the provenance look-up")
        assert kernel.methods() == ["apps.search", "apps.run", "apps.provenance"]
        assert kernel.calls[1] == ("apps.run", {"ref": SUDOKU}), "no confirmation was sent"
        assert f"“Sudoku” is signed by {BY_ALICE}, a key you do not trust." in on_screen(shell)

    run(scenario)


def test_the_offer_shows_who_audited_it_until_the_user_wants_a_new_app() -> None:
    async def scenario(shell: Shell, kernel: Kernel) -> None:
        kernel.answers["flow.start"] = {"flow": "f3"}
        looked_up = kernel.answers["apps.provenance"] = asyncio.get_running_loop().create_future()
        shell.actions.submit_prompt("a sudoku")
        await until(lambda: shell.state.flow is not None and shell.state.flow.id == "f3", "the flow id")
        flow_event(shell, "f3", "offered-cached", hash=SUDOKU, title="Sudoku", score=0.9)
        assert not any("udit" in line for line in on_screen(shell)), "no auditors before the kernel answers"
        looked_up.set_result(provenance(SUDOKU, "local", ME, CAROL, MALLORY))
        flow = shell.state.flow
        assert flow is not None
        await until(lambda: flow.provenance is not None, "the offered app's provenance")
        assert on_screen(shell)[2:5] == ["Made on this machine.", "✓ Audited by carol — you trust this key.",
                                         BY_MALLORY]
        assert shell.describe()["flow"]["provenance"]["audits"][0]["signer"] == CAROL
        shell.actions.answer_cached(False)
        assert not any("udit" in line for line in on_screen(shell)), "a new app has no auditors"
        assert shell.describe()["flow"]["hash"] == ""
        await until(lambda: "flow.answer" in kernel.methods(), "flow.answer")

    run(scenario)


def test_the_wire_type_reads_what_the_registry_sends(tmp_path: Path) -> None:
    """llmos.api.Provenance reads apps.provenance's answer (what the registry builds, as JSON) whole."""
    with Registry(tmp_path / "alice") as alice, Registry(tmp_path / "me") as me:
        made = alice.add("A lucky dice roller", "ui.Window({ title: 'Lucky' }, [])", "m", ["ui:window"])
        alice.audit(made.codeHash, note="read it twice")
        alice.rate(made.codeHash, 4)
        me.remote_add("alice", str(tmp_path / "alice" / "registry.git"))
        me.pull("alice")
        sent = json.loads(json.dumps(me.provenance(made.codeHash).to_json()))
    found = Provenance.from_json(sent)
    assert found.to_json() == sent
    assert (found.origin, found.trusted, found.author.name) == ("alice", False, None)
    assert found.audits[0].note == "read it twice" and found.audits[0].signer == found.author


# -- end to end on the stub kernel --------------------------------------------------------------------
@pytest.fixture
def idle(desktop: Desktop) -> Iterator[Desktop]:
    """Start from an empty launcher with nothing running; stop whatever the test started."""
    wait_for(lambda: desktop.shell()["panel"] == "launcher", what="the idle launcher")
    yield desktop
    for app in desktop.kcall("apps.running"):
        desktop.kcall("apps.stop", app_id=app["app_id"])
    for _ in range(3):
        if desktop.shell()["panel"] in (None, "launcher"):
            break
        desktop.keys(KEY_ESC)
    wait_for(lambda: desktop.shell()["panel"] == "launcher" and not desktop.shell()["running"],
             what="the launcher once no app runs")
    if desktop.shell()["prompt"]:
        desktop.keys(KEY_ESC)
    wait_for(lambda: desktop.shell()["prompt"] == "", what="an empty prompt")


def calls(desktop: Desktop, *methods: str) -> list[dict[str, Any]]:
    return [c for c in desktop.kcall("test.calls") if c["method"] in methods]


def texts(desktop: Desktop) -> list[str]:
    return list(desktop.shell()["texts"].get("panel", []))


def choose(desktop: Desktop, title: str) -> None:
    """Highlight the suggestion titled `title` with the arrow keys and press Enter."""
    state = desktop.shell()
    index = state["suggestions"].index(title)
    steps = index - state["highlight"]
    desktop.keys(*[KEY_DOWN] * steps)
    wait_for(lambda: desktop.shell()["highlight"] == index, what=f"{title} highlighted")
    desktop.keys(KEY_ENTER)


def rect(desktop: Desktop, name: str) -> tuple[int, int, int, int]:
    x, y, w, h = desktop.shell()["widgets"]["panel"][name]
    return x, y, w, h


def test_stub_untrusted_confirmation_on_screen(idle: Desktop) -> None:
    desktop = idle
    mark = desktop.log.mark()
    desktop.type("weather sudoku")
    desktop.log.wait("llmos: shell suggestions 2", mark)
    shown = texts(desktop)
    assert WEATHER_ROW in shown
    assert "Sudoku  —  from bob's registry" in shown and UNTRUSTED_NOTE in shown
    image = desktop.screenshot("trust-suggestions.png")
    assert region_share(image, rect(desktop, "untrusted-note"), red, 1) > 0.02, "the note is drawn in red"

    choose(desktop, "Weather Station")
    desktop.log.wait("llmos: shell untrusted visible", mark)
    signed = (f"“Weather Station” comes from alice's registry and is signed by {BY_ALICE}, "
              "a key you do not trust.")
    wait_for(lambda: signed in texts(desktop), what="the signer named in the confirmation")
    assert BY_MALLORY in texts(desktop)
    state = desktop.shell()
    assert state["panel"] == "untrusted" and state["backdrop"] and state["untrusted"]["origin"] == "alice"
    image = desktop.screenshot("trust-confirm.png")
    dialog = state["panel_rect"]
    assert dialog["x"] < WIDTH // 2 < dialog["x"] + dialog["w"] and dialog["y"] < HEIGHT // 2
    assert region_share(image, (WIDTH // 2 - 100, HEIGHT // 2 - 20, 200, 40), white) > 0.5, "a white dialog"
    assert region_share(image, rect(desktop, "untrusted-heading"), red, 1) > 0.05, "a red heading"
    assert region_share(image, (0, 0, 200, 200), dimmed) > 0.95, "the screen behind it is dimmed"
    assert not calls(desktop, "apps.run", "flow.run"), "nothing runs before the confirmation"

    desktop.keys(KEY_ENTER)  # Cancel has the focus: Enter cancels
    wait_for(lambda: desktop.shell()["panel"] == "launcher", what="Enter to cancel")
    assert desktop.shell()["prompt"] == "weather sudoku"
    choose(desktop, "Weather Station")
    wait_for(lambda: desktop.shell()["panel"] == "untrusted", what="the confirmation again")
    desktop.keys(KEY_ESC)
    wait_for(lambda: desktop.shell()["panel"] == "launcher", what="Escape to cancel")
    assert not calls(desktop, "apps.run", "flow.run") and desktop.kcall("apps.running") == []

    choose(desktop, "Weather Station")
    wait_for(lambda: "run-anyway" in desktop.shell()["widgets"].get("panel", {}), what="Run anyway")
    x, y, w, h = rect(desktop, "run-anyway")
    mark = desktop.log.mark()
    desktop.click(x + w / 2, y + h / 2)
    desktop.log.wait("llmos: shell approval visible", mark)
    wait_for(lambda: BY_MALLORY in texts(desktop), what="the auditor in the approval dialog")
    assert f"From alice's registry, signed by {BY_ALICE} — you do not trust this key." in texts(desktop)
    sent = calls(desktop, "apps.run", "flow.run")
    assert [(c["method"], c.get("confirm_untrusted")) for c in sent] == [("apps.run", True),
                                                                         ("flow.run", True)]
    desktop.keys(KEY_ENTER)
    assert desktop.log.wait("llmos: shell app window", mark).endswith("Weather Station")


def test_stub_trusted_pulled_app_shows_its_trusted_auditor(idle: Desktop) -> None:
    desktop = idle
    mark = desktop.log.mark()
    desktop.type("sudoku")
    desktop.log.wait("llmos: shell suggestions 1", mark)
    assert "Sudoku  —  from bob's registry" in texts(desktop) and UNTRUSTED_NOTE not in texts(desktop)
    choose(desktop, "Sudoku")
    desktop.log.wait("llmos: shell approval visible", mark)
    wait_for(lambda: "✓ Audited by carol — you trust this key." in texts(desktop), what="carol's audit")
    assert ("From bob's registry, signed by an unknown key b0b0b0b0b0b0b0b0… — you do not trust this key."
            in texts(desktop))
    assert [c.get("confirm_untrusted") for c in calls(desktop, "apps.run", "flow.run")][-2:] == [None, None]
    desktop.keys(KEY_ESC)
    wait_for(lambda: desktop.shell()["flow"] is None, what="Escape to cancel the approval")
    assert desktop.kcall("apps.running") == []


# -- end to end on the real kernel ---------------------------------------------------------------------
def pull_from_alice(state: Path, work: Path) -> dict[str, str]:
    """Before the kernel starts: the starter apps, and two apps alice made on her machine, pulled from
    her registry (a local path remote). Her key is not trusted here; she audited Lucky Dice herself,
    and carol, whom this machine trusts, audited Lucky Score (so that one is trusted)."""
    by_name = {s.name: s for s in starter.STARTERS}
    with Registry(work / "alice") as alice:
        dice = alice.add("Lucky dice for board game nights",
                         by_name["dice"].code.replace("'Dice Roller'", "'Lucky Dice'"), "their-model",
                         ["ui:window"])
        score = alice.add("A lucky score keeper for board game nights",
                          by_name["counter"].code.replace("'Counter'", "'Lucky Score'"), "their-model",
                          list(by_name["counter"].capabilities))
        alice.audit(dice.codeHash)
        alice_key = alice.key.public_hex
    with Registry(work / "carol") as carol:
        carol.remote_add("alice", str(work / "alice" / "registry.git"))
        carol.pull("alice")
        carol.audit(score.codeHash)
        carol_key = carol.key.public_hex
    with Registry(state) as me:
        starter.seed(me)
        me.trust_add("carol", carol_key)
        for name in ("alice", "carol"):
            me.remote_add(name, str(work / name / "registry.git"))
            me.pull(name)
        assert not me.provenance(dice.codeHash).trusted and me.provenance(score.codeHash).trusted
    return {"dice": dice.codeHash, "score": score.codeHash, "alice": alice_key}


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Desktop, dict[str, str]]]:
    root = Path(tmp_path_factory.mktemp("trust"))
    desktop = Desktop(root)
    try:
        made = pull_from_alice(root / "state", root / "others")
        desktop.start_kernel(real=True)
        yield desktop, made
    finally:
        desktop.close()


def test_real_kernel_pulled_apps_and_the_untrusted_confirmation(real: tuple[Desktop, dict[str, str]]) -> None:
    desktop, made = real
    alice = made["alice"][:16]
    wait_for(lambda: desktop.shell()["panel"] == "launcher", 20, "the launcher")
    mark = desktop.log.mark()
    desktop.type("lucky")
    wait_for(lambda: len(desktop.shell()["suggestions"]) == 2, 20, "both of alice's apps")
    shown = texts(desktop)
    assert "⚠ Lucky Dice  —  untrusted, from alice's registry" in shown
    assert "Lucky Score  —  from alice's registry" in shown and UNTRUSTED_NOTE in shown

    choose(desktop, "Lucky Score")  # trusted through carol's audit: the approval dialog says so
    desktop.log.wait("llmos: shell approval visible", mark, timeout=30)
    wait_for(lambda: "✓ Audited by carol — you trust this key." in texts(desktop), 20, "carol's audit")
    signer = f"From alice's registry, signed by an unknown key {alice}… — you do not trust this key."
    assert signer in texts(desktop)
    desktop.keys(KEY_ESC)
    wait_for(lambda: desktop.shell()["panel"] == "launcher", 20, "the launcher after Escape")

    desktop.type("lucky")
    wait_for(lambda: len(desktop.shell()["suggestions"]) == 2, 20, "the suggestions again")
    choose(desktop, "Lucky Dice")
    desktop.log.wait("llmos: shell untrusted visible", mark)
    signed = (f"“Lucky Dice” comes from alice's registry and is signed by an unknown key {alice}…, "
              "a key you do not trust.")
    wait_for(lambda: signed in texts(desktop), 20, "alice named as the signer")
    assert f"⚠ Audited by an unknown key {alice}… — you do not trust this key." in texts(desktop)
    assert desktop.kcall("apps.running") == [] and desktop.kcall("status")["flows"] == 0, "nothing runs yet"
    desktop.keys(KEY_ESC)
    wait_for(lambda: desktop.shell()["panel"] == "launcher", 20, "Escape back to the launcher")
    assert desktop.kcall("apps.running") == [] and desktop.kcall("status")["flows"] == 0

    choose(desktop, "Lucky Dice")
    wait_for(lambda: "run-anyway" in desktop.shell()["widgets"].get("panel", {}), 20, "Run anyway")
    x, y, w, h = rect(desktop, "run-anyway")
    mark = desktop.log.mark()
    desktop.click(x + w / 2, y + h / 2)
    desktop.log.wait("llmos: shell approval visible", mark, timeout=30)
    wait_for(lambda: desktop.shell()["flow"]["provenance"] is not None, 20, "the provenance in the dialog")
    assert f"⚠ Audited by an unknown key {alice}… — you do not trust this key." in texts(desktop)
    desktop.keys(KEY_ENTER)
    assert desktop.log.wait("llmos: shell app window", mark, timeout=60).endswith("Lucky Dice")
    running = desktop.kcall("apps.running")
    assert [app["hash"] for app in running] == [made["dice"]]
