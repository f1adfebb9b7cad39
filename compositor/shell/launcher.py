"""The launcher: the prompt, its debounced search for saved apps, the suggestions, running a saved
app; and when the central panel opens and closes (the launcher shortcut, the welcome screen, Close,
and "whenever nothing runs, the launcher is open")."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING

from llmos import ipc
from llmos.api import RunningApp
from llmos.compositor.shell.markers import marker
from llmos.compositor.shell.state import Suggestion

if TYPE_CHECKING:
    from llmos.compositor.shell.shell import Shell


class LauncherPanel:
    def __init__(self, shell: Shell) -> None:
        self.shell = shell
        self._search_handle: asyncio.TimerHandle | None = None

    # -- the prompt and its suggestions -------------------------------------------------------------
    def on_prompt_changed(self, text: str) -> None:
        shell = self.shell
        shell.state.prompt = text
        if self._search_handle is not None:
            self._search_handle.cancel()
            self._search_handle = None
        if not text.strip():
            self._set_suggestions([])
            return
        if shell.loop is not None and shell.link.connected:
            self._search_handle = shell.loop.call_later(shell.config.suggest_delay_ms / 1000,
                                                        lambda: shell.spawn(self.search(text)))

    async def search(self, text: str) -> None:
        shell = self.shell
        found = await shell.link.call("apps.search", text=text, limit=shell.config.suggestions)
        if text != shell.state.prompt:
            return  # the user typed on; a newer search is coming
        found = found if isinstance(found, list) else []
        items = [Suggestion.from_json(i) for i in found if isinstance(i, dict)]
        self._set_suggestions(items[: shell.config.suggestions])

    def _set_suggestions(self, items: list[Suggestion]) -> None:
        state = self.shell.state
        if items != state.suggestions:
            state.suggestions = items
            state.highlight = -1
            marker(f"suggestions {len(items)}")
        self.shell.invalidate()

    def move_highlight(self, step: int) -> None:
        state = self.shell.state
        state.highlight = max(-1, min(len(state.suggestions) - 1, state.highlight + step))

    def clear(self) -> None:
        state = self.shell.state
        state.prompt, state.suggestions, state.highlight = "", [], -1

    # -- running a saved app ------------------------------------------------------------------------
    def on_suggestion_chosen(self, index: int) -> None:
        state = self.shell.state
        if not 0 <= index < len(state.suggestions):
            return
        chosen = state.suggestions[index]
        if not chosen.trusted:  # nothing is sent to run it before the user's extra confirmation
            self.shell.trust.ask(chosen)
            return
        state.panel = None
        self.clear()
        self.shell.spawn(self.run_saved(chosen))

    async def run_saved(self, chosen: Suggestion, confirm_untrusted: bool = False) -> None:
        """apps.run; an app never approved goes through the approval flow (flow.run), and one the
        kernel does not trust (trust changed since the search) through the extra confirmation."""
        shell = self.shell
        confirmed = {"confirm_untrusted": True} if confirm_untrusted else {}
        try:
            answer = await shell.link.call("apps.run", ref=chosen.ref, **confirmed)
        except ipc.RpcError as error:
            if error.code == "untrusted" and not confirm_untrusted:
                shell.trust.ask(dataclasses.replace(chosen, trusted=False))
                return
            if error.code != "needs-approval":
                raise
            await shell.flow.run_unapproved(chosen.ref, chosen.prompt or chosen.title, chosen.title,
                                            confirm_untrusted=confirm_untrusted)
            return
        app_id = str(answer.get("app_id") if isinstance(answer, dict) else answer or "")
        if app_id:
            shell.state.running.setdefault(app_id, RunningApp(app_id, hash=chosen.ref, title=chosen.title))
        shell.invalidate()

    # -- opening and closing the panel --------------------------------------------------------------
    def open(self) -> None:
        self.shell.state.panel = "launcher"

    def close_panel(self) -> None:
        self.shell.flow.dismiss_failure()
        self.shell.state.panel = None
        self.open_if_idle()

    def on_shortcut(self) -> None:
        """The launcher key toggles the launcher (it stays while nothing runs; kiosk mode has none)."""
        state = self.shell.state
        if state.kiosk:
            return
        showing = state.current_panel() == state.panel == "launcher"
        if showing and self.shell.apps.present():
            state.panel = None
        else:
            state.panel = "launcher"
        self.shell.invalidate()

    def open_if_idle(self) -> None:
        """On first boot and whenever nothing runs, the launcher is open."""
        state = self.shell.state
        if state.kiosk or state.panel is not None or state.flow is not None or self.shell.apps.present():
            return
        state.panel = "launcher"
        self.shell.invalidate()
