"""The flow controller: the kernel's pushed `flow` events move ShellState.flow through its stages
(progress, the cached-app offer, the approval dialog, launched, failed), and the user's answers in
those dialogs go back to the kernel (flow.answer, flow.approve, flow.cancel).

The shell follows only the flow it started. Events can beat flow.start's answer (which carries the
flow id), so until the id is known they are buffered; a cancel pressed before then is sent once the
id arrives (the flow is gone from the screen at once)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from llmos.api import Ask, RunningApp
from llmos.compositor.shell.link import plain
from llmos.compositor.shell.state import Flow
from llmos.ipc import RpcError

if TYPE_CHECKING:
    from llmos.compositor.shell.shell import Shell

Event = dict[str, Any]


class FlowController:
    def __init__(self, shell: Shell) -> None:
        self.shell = shell
        self._early: dict[str, list[Event]] = {}  # flow events that beat flow.start's answer
        self._cancel_on_id: list[Flow] = []  # cancelled before flow.start answered with their id
        self._handlers: dict[str, Callable[[Flow, Event], None]] = {
            "looked-up": self.on_looked_up, "offered-cached": self.on_offered_cached,
            "generating": self.on_generating, "analysed": self.on_analysed, "repairing": self.on_repairing,
            "needs-approval": self.on_needs_approval, "approved": self.on_approved,
            "launched": self.on_launched, "failed": self.on_failed, "cancelled": self.on_cancelled,
            "finished": self.on_finished,
        }

    # -- starting a flow ----------------------------------------------------------------------------
    def start(self, prompt: str) -> None:
        """Make a new app from the user's words (flow.start)."""
        prompt = prompt.strip()
        if not prompt:
            return
        shell = self.shell
        if not shell.link.connected:
            shell.notify("LLM OS", "The kernel is still starting; try again in a moment.")
            return
        flow = shell.state.flow = Flow(prompt=prompt)
        shell.spawn(self._follow(flow, "flow.start", prompt=prompt))

    async def run_unapproved(self, ref: str, prompt: str, title: str, *,
                             confirm_untrusted: bool = False) -> None:
        """A saved app never approved: run it through the kernel's flow so the user sees the dialog
        (for an untrusted app, only after the user's extra confirmation: trust.py)."""
        flow = self.shell.state.flow = Flow(prompt=prompt, title=title)
        self.shell.trust.follow(flow, ref)
        confirmed = {"confirm_untrusted": True} if confirm_untrusted else {}
        await self._follow(flow, "flow.run", ref=ref, **confirmed)

    async def _follow(self, flow: Flow, method: str, **params: Any) -> None:
        shell = self.shell
        try:
            answer = await shell.link.call(method, **params)
        except Exception as error:
            self._cancelled_early(flow)
            if shell.state.flow is flow:
                flow.stage, flow.reason = "failed", plain(error)
                shell.invalidate()
            return
        flow.id = str(answer.get("flow") if isinstance(answer, dict) else answer)
        if self._cancelled_early(flow):
            await shell.link.call("flow.cancel", flow=flow.id)
            return
        if shell.state.flow is not flow:
            return
        for data in self._early.pop(flow.id, []):
            self.on_flow_event(data)
        self._early.clear()
        shell.invalidate()

    def _cancelled_early(self, flow: Flow) -> bool:
        """Whether the user cancelled this flow before its id came (and forget that they did)."""
        kept = [f for f in self._cancel_on_id if f is not flow]
        cancelled = len(kept) < len(self._cancel_on_id)
        self._cancel_on_id = kept
        return cancelled

    # -- the kernel's events ------------------------------------------------------------------------
    def on_flow_event(self, data: Event) -> None:
        flow = self.shell.state.flow
        flow_id = str(data.get("flow") or "")
        if flow is None:
            return
        if flow.id is None:
            self._early.setdefault(flow_id, []).append(data)
            return
        if flow_id != flow.id:
            return
        handler = self._handlers.get(str(data.get("event")))
        if handler is not None:
            handler(flow, data)

    def on_kernel_lost(self) -> None:
        flow = self.shell.state.flow
        if flow is not None and flow.stage != "failed":
            flow.stage, flow.reason = "failed", "Lost the connection to the kernel; it is restarting."

    def on_looked_up(self, flow: Flow, data: Event) -> None:
        flow.stage = "looking"

    def on_offered_cached(self, flow: Flow, data: Event) -> None:
        flow.stage = "offered"
        flow.title = str(data.get("title") or data.get("prompt") or data.get("hash") or "")
        self.shell.trust.follow(flow, str(data.get("hash") or ""))

    def on_generating(self, flow: Flow, data: Event) -> None:
        flow.stage = "generating"
        flow.fraction = float(data.get("fraction") or 0.0)
        flow.tokens = int(data.get("tokens") or 0)
        flow.phase = str(data.get("phase") or "")
        flow.attempt = int(data.get("attempt") or flow.attempt)
        if flow.phase == "fallback":
            flow.fallback = str(data.get("detail") or "")

    def on_analysed(self, flow: Flow, data: Event) -> None:
        flow.stage = "checking"

    def on_repairing(self, flow: Flow, data: Event) -> None:
        flow.stage = "repairing"
        flow.attempt = int(data.get("attempt") or flow.attempt + 1)

    def on_needs_approval(self, flow: Flow, data: Event) -> None:
        asks = data.get("asks") or []
        flow.asks = [Ask.from_json(a) for a in asks if isinstance(a, dict) and "scope" in a]
        flow.checked = {a.scope: True for a in flow.asks}
        flow.title = str(data.get("title") or flow.title or "")
        flow.stage = "approval"

    def on_approved(self, flow: Flow, data: Event) -> None:
        flow.stage = "launching"

    def on_launched(self, flow: Flow, data: Event) -> None:
        app_id = str(data.get("app_id") or "")
        if app_id:
            title = str(data.get("title") or flow.title or flow.prompt)
            self.shell.state.running[app_id] = RunningApp(app_id, hash=str(data.get("hash") or ""),
                                                          title=title, pid=int(data.get("pid") or 0))
        self._finish()

    def on_failed(self, flow: Flow, data: Event) -> None:
        flow.stage, flow.reason = "failed", str(data.get("reason") or "unknown reason")

    def on_cancelled(self, flow: Flow, data: Event) -> None:
        self._finish()

    def on_finished(self, flow: Flow, data: Event) -> None:
        if flow.stage != "failed":  # a failed flow stays on screen until the user closes it
            self._finish()

    def _finish(self) -> None:
        shell = self.shell
        shell.state.flow = None
        if shell.state.panel == "launcher":
            shell.state.panel = None
            shell.launcher.clear()
        shell.launcher.open_if_idle()

    # -- the user's answers -------------------------------------------------------------------------
    def cancel(self) -> None:
        shell = self.shell
        flow = shell.state.flow
        if flow is None:
            return
        shell.state.flow = None
        if flow.id is None:
            self._cancel_on_id.append(flow)
        elif flow.stage != "failed":
            shell.spawn(shell.link.call("flow.cancel", flow=flow.id))
        shell.launcher.open_if_idle()

    def answer_cached(self, accept: bool) -> None:
        flow = self.shell.state.flow
        if flow is None or flow.id is None:
            return
        flow.stage = "starting" if accept else "generating"
        if not accept:
            self.shell.trust.follow(flow, "")  # a new app: the offered one's provenance no longer applies
        self.shell.spawn(self._answer(flow, "flow.answer", accept_cached=accept))

    def toggle_ask(self, scope: str, checked: bool) -> None:
        flow = self.shell.state.flow
        if flow is not None:
            flow.checked[scope] = bool(checked)

    def approve(self) -> None:
        flow = self.shell.state.flow
        if flow is None or flow.id is None or flow.stage != "approval":
            return
        granted = [a.scope for a in flow.asks if flow.checked.get(a.scope)]
        flow.stage = "launching"
        self.shell.spawn(self._answer(flow, "flow.approve", granted=granted))

    async def _answer(self, flow: Flow, method: str, **params: Any) -> None:
        """Send the user's answer; one the kernel refused fails the dialog, so the shell never waits
        on a flow that will not move (the kernel ends an unanswered question only after minutes).
        Anything else (a slow kernel's timeout) is a toast: the flow's own events may still come."""
        try:
            await self.shell.link.call(method, flow=flow.id, **params)
        except RpcError as error:
            if self.shell.state.flow is flow and flow.stage != "failed":
                flow.stage, flow.reason = "failed", plain(error)
                self.shell.invalidate()

    def retry(self) -> None:
        flow = self.shell.state.flow
        if flow is None:
            return
        self.shell.state.flow = None
        self.start(flow.prompt)

    def dismiss_failure(self) -> None:
        """Closing the failure dialog forgets the failed flow."""
        flow = self.shell.state.flow
        if flow is not None and flow.stage == "failed":
            self.shell.state.flow = None
