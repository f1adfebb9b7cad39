"""The flow controller (compositor/shell/flow_controller.py) in process: a real Shell on a real Scene,
with a scripted kernel link, so the order of events and answers can be set exactly (the end-to-end
dialogs are in test_flow.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from llmos.api import RunningApp
from llmos.compositor.scene import Scene
from llmos.compositor.shell.shell import Shell
from llmos.compositor.shell.toasts import Toasts
from llmos.ipc import RpcError
from llmos.settings import ShellSettings

ASKS = [{"scope": "ui:window", "words": "Show a window on your screen", "required": True},
        {"scope": "notify", "words": "Show you notifications", "required": False}]


class ScriptedKernel:
    """Stands in for the KernelLink: records calls; an answer may be a future the test resolves."""

    connected = True

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.answers: dict[str, Any] = {}

    async def call(self, method: str, timeout: float = 30.0, **params: Any) -> Any:
        self.calls.append((method, params))
        answer = self.answers.get(method)
        return await answer if isinstance(answer, asyncio.Future) else answer

    def methods(self) -> list[str]:
        return [method for method, _ in self.calls]


class Seat:
    def set_keyboard_focus(self, surface: Any) -> None:
        self.focus = surface


class WindowManager:
    mode = "desktop"
    focused = None

    def window(self, window_id: int) -> None:
        return None


class Compositor:
    """What the shell uses of compositor/server.py."""

    def __init__(self) -> None:
        self.scene = Scene(1280, 800, lambda: None)
        self.toasts = Toasts(self.scene)
        self.wm = WindowManager()
        self.seat = Seat()

    def flush(self) -> None:
        pass


async def until(condition: Callable[[], bool], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5.0
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.001)


def run(scenario: Callable[[Shell, ScriptedKernel], Coroutine[Any, Any, None]]) -> None:
    async def main() -> None:
        shell = Shell(Compositor(), ShellSettings(), Path("/nonexistent/kernel.sock"))  # type: ignore[arg-type]
        kernel = ScriptedKernel()
        shell.link = kernel  # type: ignore[assignment]
        shell.loop = asyncio.get_running_loop()  # as Shell.start does, without connecting
        try:
            await scenario(shell, kernel)
        finally:
            shell.close()

    asyncio.run(main())


def flow_event(shell: Shell, flow: str, event: str, **data: Any) -> None:
    shell.on_kernel_event("flow", {"flow": flow, "event": event, **data})


def test_early_events_wait_for_the_flow_id_then_approval_and_launch() -> None:
    async def scenario(shell: Shell, kernel: ScriptedKernel) -> None:
        started = kernel.answers["flow.start"] = asyncio.get_running_loop().create_future()
        shell.actions.submit_prompt("  a kitchen timer ")
        await until(lambda: kernel.calls != [], "flow.start")
        assert kernel.calls == [("flow.start", {"prompt": "a kitchen timer"})]
        flow_event(shell, "f1", "generating", fraction=0.5, tokens=40, phase="writing")
        flow_event(shell, "f1", "needs-approval", asks=ASKS, title="Kitchen Timer")
        flow = shell.state.flow
        assert flow is not None and flow.stage == "starting", "events before the id are held back"
        started.set_result({"flow": "f1"})
        await until(lambda: flow.stage == "approval", "the held events to apply")
        assert flow.id == "f1" and flow.title == "Kitchen Timer" and flow.tokens == 40
        assert [(a.scope, a.words, a.required) for a in flow.asks] == [
            ("ui:window", "Show a window on your screen", True), ("notify", "Show you notifications", False)]
        assert shell.describe()["panel"] == "flow:approval"

        flow_event(shell, "f9", "failed", reason="another client's flow")
        assert flow.stage == "approval", "only the shell's own flow counts"
        shell.actions.toggle_ask("notify", False)
        shell.actions.approve()
        assert flow.stage == "launching"
        await until(lambda: "flow.approve" in kernel.methods(), "flow.approve")
        assert kernel.calls[-1] == ("flow.approve", {"flow": "f1", "granted": ["ui:window"]})
        flow_event(shell, "f1", "launched", app_id="app1", hash="sha256:ab", title="Kitchen Timer")
        assert shell.state.flow is None
        assert shell.state.running == {"app1": RunningApp("app1", hash="sha256:ab", title="Kitchen Timer")}

    run(scenario)


def test_cancel_before_the_flow_id_is_sent_when_it_arrives() -> None:
    async def scenario(shell: Shell, kernel: ScriptedKernel) -> None:
        started = kernel.answers["flow.start"] = asyncio.get_running_loop().create_future()
        shell.actions.submit_prompt("a slow clock")
        await until(lambda: kernel.calls != [], "flow.start")
        shell.actions.cancel_flow()
        assert shell.state.flow is None and shell.state.panel == "launcher", "nothing runs: the launcher"
        started.set_result({"flow": "f2"})
        await until(lambda: "flow.cancel" in kernel.methods(), "the deferred flow.cancel")
        assert kernel.calls[-1] == ("flow.cancel", {"flow": "f2"})

    run(scenario)


def test_offer_then_failure_stays_until_closed() -> None:
    async def scenario(shell: Shell, kernel: ScriptedKernel) -> None:
        kernel.answers["flow.start"] = {"flow": "f3"}
        shell.actions.submit_prompt("offer me a timer")
        await until(lambda: shell.state.flow is not None and shell.state.flow.id == "f3", "the flow id")
        flow = shell.state.flow
        assert flow is not None
        flow_event(shell, "f3", "offered-cached", hash="sha256:cd", score=0.8)
        assert (flow.stage, flow.title) == ("offered", "sha256:cd"), "the hash names an untitled offer"
        shell.actions.answer_cached(False)
        await until(lambda: "flow.answer" in kernel.methods(), "flow.answer")
        assert kernel.calls[-1] == ("flow.answer", {"flow": "f3", "accept_cached": False})
        flow_event(shell, "f3", "repairing", attempt=2)
        assert (flow.stage, flow.attempt) == ("repairing", 2)
        flow_event(shell, "f3", "failed", reason="still fails analysis")
        flow_event(shell, "f3", "finished")
        assert shell.state.flow is flow and flow.reason == "still fails analysis", "failure stays on screen"
        shell.actions.close_panel()
        assert shell.state.flow is None and shell.state.panel == "launcher"

    run(scenario)


def test_losing_the_kernel_fails_the_flow_and_a_failed_call_becomes_a_toast() -> None:
    async def scenario(shell: Shell, kernel: ScriptedKernel) -> None:
        kernel.answers["flow.start"] = {"flow": "f4"}
        shell.actions.submit_prompt("a counter")
        await until(lambda: shell.state.flow is not None and shell.state.flow.id == "f4", "the flow id")
        shell.on_kernel_connected(False)
        flow = shell.state.flow
        assert flow is not None and flow.stage == "failed" and "Lost the connection" in flow.reason

        async def broken() -> None:
            raise ConnectionError("the kernel is not connected")

        shell.spawn(broken())
        await until(lambda: shell.server.toasts.texts() != [], "the toast")
        assert shell.describe()["toasts"] == ["the kernel is not connected"]

    run(scenario)


def test_an_answer_the_kernel_refuses_fails_the_dialog_instead_of_hanging() -> None:
    async def scenario(shell: Shell, kernel: ScriptedKernel) -> None:
        kernel.answers["flow.start"] = {"flow": "f5"}
        shell.actions.submit_prompt("a timer")
        await until(lambda: shell.state.flow is not None and shell.state.flow.id == "f5", "the flow id")
        flow_event(shell, "f5", "needs-approval", asks=ASKS, title="Timer")
        refused = kernel.answers["flow.approve"] = asyncio.get_running_loop().create_future()
        shell.actions.approve()
        flow = shell.state.flow
        assert flow is not None and shell.describe()["panel"] == "flow:launching", "the Enter shows it acted"
        refused.set_exception(RpcError("not-asked", "flow f5 is waiting for nothing, not needs-approval"))
        await until(lambda: flow.stage == "failed", "the refusal to fail the dialog")
        assert flow.reason == "flow f5 is waiting for nothing, not needs-approval"
        assert shell.describe()["panel"] == "flow:failed"

    run(scenario)
