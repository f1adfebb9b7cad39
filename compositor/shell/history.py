"""The versions panel: an app's history (apps.history) with model, date and rating, and going back
to an earlier version (apps.rollback), which is instant and asks no model. Opened from the launcher
for the highlighted saved app; the kernel stops the app's running versions before it switches."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmos import ipc
from llmos.compositor.shell.state import History, VersionRow

if TYPE_CHECKING:
    from llmos.compositor.shell.shell import Shell


class VersionsPanel:
    def __init__(self, shell: Shell) -> None:
        self.shell = shell

    def open(self, index: int) -> None:
        """The highlighted (or given) launcher suggestion's versions."""
        state = self.shell.state
        if not 0 <= index < len(state.suggestions):
            return
        chosen = state.suggestions[index]
        state.history = History(ref=chosen.ref, title=chosen.title)
        state.panel = "history"
        self.shell.spawn(self.load())
        self.shell.invalidate()

    async def load(self, message: str = "") -> None:
        history = self.shell.state.history
        if history is None:
            return
        try:
            answer = await self.shell.link.call("apps.history", ref=history.ref)
        except ipc.RpcError as error:
            history.message, history.loaded = f"No history: {error.message}", True
            self.shell.invalidate()
            return
        if isinstance(answer, dict):
            rows = [VersionRow.from_json(v) for v in answer.get("versions") or [] if isinstance(v, dict)]
            history.identity = str(answer.get("identity") or history.ref)
            history.versions = rows
            history.selected = next((i for i, row in enumerate(rows) if row.current), len(rows) - 1)
        history.message, history.loaded = message, True
        self.shell.invalidate()

    def move(self, step: int) -> None:
        history = self.shell.state.history
        if history is not None and history.versions:
            history.selected = max(0, min(len(history.versions) - 1, history.selected + step))

    def select(self, index: int) -> None:
        history = self.shell.state.history
        if history is not None and 0 <= index < len(history.versions):
            history.selected = index
            self.shell.invalidate()

    def restore(self) -> None:
        """Go to the selected version; the current one is already where it is."""
        history = self.shell.state.history
        if history is None or not 0 <= history.selected < len(history.versions):
            return
        row = history.versions[history.selected]
        if row.current:
            history.message = f"Version {row.seq} is the one in use."
            self.shell.invalidate()
            return
        self.shell.spawn(self._rollback(history.identity or history.ref, row.seq))

    async def _rollback(self, ref: str, seq: int) -> None:
        shell = self.shell
        try:
            answer: Any = await shell.link.call("apps.rollback", ref=ref, to=seq)
        except ipc.RpcError as error:
            await self.load(f"Could not go back: {error.message}")
            return
        notice = str(answer.get("notice") or "") if isinstance(answer, dict) else ""
        stopped = answer.get("stopped") if isinstance(answer, dict) else None
        words = f"Now using version {seq}; its data is as it left it."
        if stopped:
            words += " The running app was closed; open it again from the launcher."
        await self.load(" ".join(part for part in (words, notice) if part))

    def close(self) -> None:
        self.shell.state.history = None
        self.shell.launcher.open()
        self.shell.invalidate()
