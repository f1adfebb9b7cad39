"""The shell against the REAL kernel service: first boot (welcome, starter apps seeded), typing a
prompt, the registry's suggestions, the cached-app offer, the approval dialog with the kernel's
plain words, and a real sandboxed app host whose window appears. No stub anywhere."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import HEIGHT, KEY_DOWN, KEY_ENTER, KEY_ESC, WIDTH, Desktop, region_share, wait_for, white

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desktop]:
    root = Path(tmp_path_factory.mktemp("real"))
    desktop = Desktop(root, first_boot=True)
    try:
        desktop.start_kernel(real=True)
        yield desktop
    finally:
        desktop.close()


def stage(desktop: Desktop) -> str | None:
    flow = desktop.shell()["flow"]
    return flow["stage"] if flow else None


def test_first_boot_to_a_running_starter_app(real: Desktop) -> None:
    desktop = real
    wait_for(lambda: desktop.shell()["panel"] == "welcome", 20, "the first-boot welcome screen")
    desktop.log.wait("llmos: shell welcome visible")
    mark = desktop.log.mark()
    desktop.keys(KEY_ENTER)
    desktop.log.wait("llmos: shell launcher visible", mark)

    desktop.type("a pomodoro timer")
    wait_for(lambda: desktop.shell()["suggestions"], 20, "suggestions from the registry")
    assert any("omodoro" in title for title in desktop.shell()["suggestions"])
    desktop.keys(KEY_ENTER)
    wait_for(lambda: stage(desktop) in ("offered", "approval"), 30, "the kernel's offer or approval")
    if stage(desktop) == "offered":
        desktop.keys(KEY_ENTER)  # Use it
    desktop.log.wait("llmos: shell approval visible", mark, timeout=30)
    state = desktop.shell()
    asks = state["flow"]["asks"]
    assert asks and all(a["words"] and a["words"] != a["scope"] for a in asks), "plain words for each scope"
    image = desktop.screenshot("real-approval.png")
    assert region_share(image, (WIDTH // 2 - 100, HEIGHT // 2 - 30, 200, 60), white) > 0.6
    desktop.keys(KEY_ENTER)
    line = desktop.log.wait("llmos: shell app window", mark, timeout=60)
    assert line.endswith("Pomodoro Timer")
    wait_for(lambda: desktop.shell()["running"], 20, "the app in the shell's running list")
    windows = desktop.call("windows")
    assert len(windows) == 1 and windows[0]["focused"]
    assert desktop.shell()["panel"] is None


def test_new_prompt_generates_or_fails_plainly_and_can_be_cancelled(real: Desktop) -> None:
    """No cached app matches, so the real gateway runs: with a model it generates (then Cancel),
    without one the flow fails with the gateway's reason and a Retry button; the OS keeps running."""
    desktop = real
    for app in desktop.kcall("apps.running"):
        desktop.kcall("apps.stop", app_id=app["app_id"])
    wait_for(lambda: desktop.shell()["panel"] == "launcher", 20, "the launcher once nothing runs")
    desktop.type("a chess clock for two players")
    desktop.keys(KEY_ENTER)
    wait_for(lambda: stage(desktop) in ("generating", "failed"), 60, "generation or a plain failure")
    if stage(desktop) == "generating":
        cancel = desktop.shell()["widgets"]["panel"]["cancel"]
        desktop.click(cancel[0] + 5, cancel[1] + 5)
        wait_for(lambda: desktop.shell()["flow"] is None, 20, "Cancel to end the flow")
    else:
        state = desktop.shell()
        assert state["flow"]["reason"] and "retry" in state["widgets"]["panel"]
        print("real kernel failure reason:", state["flow"]["reason"])
        desktop.keys(KEY_ESC)
    wait_for(lambda: desktop.shell()["panel"] == "launcher", 20, "the launcher again")
    assert desktop.compositor.poll() is None and desktop.kernel is not None and desktop.kernel.poll() is None


def test_a_suggestion_never_approved_asks_before_it_runs(real: Desktop) -> None:
    """Picking a cached app from the suggestions must not skip the approval dialog (the kernel refuses
    apps.run without a saved grant; the shell then runs the approval flow)."""
    desktop = real
    for app in desktop.kcall("apps.running"):
        desktop.kcall("apps.stop", app_id=app["app_id"])
    if wait_for(lambda: desktop.shell()["panel"] in ("welcome", "launcher") and desktop.shell()["panel"],
                20, "the launcher once nothing runs") == "welcome":
        desktop.keys(KEY_ENTER)
        wait_for(lambda: desktop.shell()["panel"] == "launcher", 20, "the launcher after the welcome")
    if desktop.shell()["prompt"]:
        desktop.keys(KEY_ESC)  # Escape clears the prompt bar when no app runs
        wait_for(lambda: desktop.shell()["prompt"] == "", 10, "an empty prompt bar")
    desktop.type("dice")
    wait_for(lambda: any("ice" in t for t in desktop.shell()["suggestions"]), 20, "the dice suggestion")
    index = next(i for i, t in enumerate(desktop.shell()["suggestions"]) if "ice" in t)
    desktop.keys(*[KEY_DOWN] * (index + 1))
    wait_for(lambda: desktop.shell()["highlight"] == index, 10, "the dice suggestion highlighted")
    desktop.keys(KEY_ENTER)
    wait_for(lambda: stage(desktop) == "approval", 30, "the approval dialog for a never-approved app")
    assert not desktop.kcall("apps.running")  # nothing runs before the user approves
    desktop.keys(KEY_ESC)
    wait_for(lambda: desktop.shell()["flow"] is None, 20, "Escape to cancel the approval")
    assert not desktop.kcall("apps.running")
