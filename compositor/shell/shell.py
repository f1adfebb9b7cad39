"""The OS shell: a composition of one part per job, sharing one ShellState.

| part | job |
|---|---|
| `surfaces.Surfaces` | the panel and dock layers: trees from the state, placement, backdrop, keyboard |
| `routing.InputRouting` | which part gets each pointer and key event (asked before any client) |
| `launcher.LauncherPanel` | prompt, search, suggestions, saved apps; when the panel opens and closes |
| `flow_controller.FlowController` | the kernel's flow events → the flow dialogs; the user's answers back |
| `apps.RunningApps` | running apps (the dock), window events, focusing an app |
| `settings_editor.SettingsEditor` | the settings form, with the masked API key |
| `trust.TrustGate` | the extra confirmation before an untrusted app runs; provenance for the dialogs |
| `history.VersionsPanel` | a saved app's versions, and going back to one |

Toasts are the compositor's own (`server.toasts`, toasts.py): the shell adds to them. Kernel events
and input change the state; `invalidate()` coalesces one `refresh()` that rebuilds the trees."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmos.compositor.shell import views
from llmos.compositor.shell.apps import RunningApps
from llmos.compositor.shell.flow_controller import FlowController
from llmos.compositor.shell.history import VersionsPanel
from llmos.compositor.shell.launcher import LauncherPanel
from llmos.compositor.shell.link import KernelLink, plain
from llmos.compositor.shell.routing import InputRouting
from llmos.compositor.shell.settings_editor import SettingsEditor
from llmos.compositor.shell.state import ShellState
from llmos.compositor.shell.surfaces import Surfaces
from llmos.compositor.shell.trust import TrustGate
from llmos.settings import ShellSettings

if TYPE_CHECKING:
    from llmos.compositor.server import Compositor


class Shell:
    def __init__(self, server: Compositor, config: ShellSettings, kernel_socket: Path) -> None:
        self.server = server
        self.config = config
        self.state = ShellState.at_start(kiosk=server.wm.mode == "kiosk")
        self.link = KernelLink(kernel_socket, self.on_kernel_event, self.on_kernel_connected,
                               config.reconnect_max_s)
        self.loop: asyncio.AbstractEventLoop | None = None  # set while the compositor runs
        self.launcher = LauncherPanel(self)
        self.flow = FlowController(self)
        self.apps = RunningApps(self)
        self.settings_editor = SettingsEditor(self)
        self.trust = TrustGate(self)
        self.versions = VersionsPanel(self)
        self.actions = views.Actions(
            prompt_changed=self.launcher.on_prompt_changed, submit_prompt=self.flow.start,
            run_suggestion=self.launcher.on_suggestion_chosen, open_settings=self.settings_editor.open,
            open_launcher=self.launcher.open, close_panel=self.launcher.close_panel,
            cancel_flow=self.flow.cancel, answer_cached=self.flow.answer_cached,
            toggle_ask=self.flow.toggle_ask, approve=self.flow.approve, retry=self.flow.retry,
            dismiss_welcome=self.launcher.open, settings_field=self.settings_editor.on_field_changed,
            save_settings=self.settings_editor.save, focus_app=self.apps.focus,
            run_untrusted=self.trust.run_anyway, cancel_untrusted=self.trust.cancel,
            open_history=self.versions.open, select_version=self.versions.select,
            restore_version=self.versions.restore, close_history=self.versions.close)
        self.surfaces = Surfaces(self)
        self.routing = InputRouting(self)
        self._refresh_handle: asyncio.Handle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        server.scene.overlays.insert(0, self.surfaces.paint)

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self, stop: asyncio.Event) -> None:
        self.loop = asyncio.get_running_loop()
        self.spawn(self.link.run(stop))
        self.launcher.open_if_idle()
        self.refresh()

    def close(self) -> None:
        self.loop = None
        for task in list(self._tasks):
            task.cancel()

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        """Run a kernel call in the background; its failure becomes a toast, never a loop error."""
        if self.loop is None:
            coroutine.close()
            return
        task = self.loop.create_task(self._guard(coroutine))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guard(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        try:
            await coroutine
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a failed kernel call is shown, never raised into the loop
            self.notify("LLM OS", plain(error))

    def invalidate(self) -> None:
        """Rebuild the trees soon (coalesced); handlers may run inside renderer input calls."""
        if self.loop is None:
            self.refresh()
        elif self._refresh_handle is None:
            self._refresh_handle = self.loop.call_soon(self.refresh)

    def refresh(self) -> None:
        self._refresh_handle = None
        self.surfaces.refresh()

    # -- the compositor's calls (server.py; input.py asks before clients) ---------------------------
    def pointer_motion(self, x: float, y: float) -> bool:
        return self.routing.on_pointer_motion(x, y)

    def pointer_button(self, button: int, pressed: bool) -> bool:
        return self.routing.on_pointer_button(button, pressed)

    def axis(self, value: float) -> bool:
        return self.routing.on_axis(value)

    def key(self, code: int, pressed: bool) -> bool:
        return self.routing.on_key(code, pressed)

    def shortcut(self, name: str) -> None:
        if name == "launcher":
            self.launcher.on_shortcut()

    def window_event(self, data: dict[str, Any]) -> None:
        self.apps.on_window_event(data)

    def notify(self, title: str, body: str, timeout_ms: int | None = None) -> None:
        """A toast that lives `[shell] toast_ms` unless told otherwise."""
        self.server.toasts.notify(title, body, self.config.toast_ms if timeout_ms is None else timeout_ms)

    # -- the kernel link ----------------------------------------------------------------------------
    def on_kernel_connected(self, up: bool) -> None:
        self.state.connected = up
        if up:
            self.spawn(self._on_kernel_up())
        else:
            self.flow.on_kernel_lost()
        self.invalidate()

    async def _on_kernel_up(self) -> None:
        status = await self.link.call("status")
        state = self.state
        if isinstance(status, dict):
            state.model, state.model_loaded = str(status.get("model") or ""), bool(status.get("model_loaded"))
            state.first_boot = bool(status.get("first_boot"))
            quiet = state.panel in (None, "launcher") and not state.prompt and not state.kiosk
            if state.first_boot and not state.welcome_shown and quiet:
                state.welcome_shown = True
                state.panel = "welcome"
        await self.apps.refresh()
        if state.prompt.strip():
            await self.launcher.search(state.prompt)
        self.invalidate()

    def on_kernel_event(self, event: str, data: Any) -> None:
        if not isinstance(data, dict):
            return
        if event == "flow":
            self.flow.on_flow_event(data)
        elif event == "notify":
            self.notify(str(data.get("title") or data.get("app_id") or ""), str(data.get("text") or ""))
        elif event == "app":
            self.apps.on_app_event(data)
        self.invalidate()

    # -- introspection (the compositor's `shell` ipc) ------------------------------------------------
    def describe(self) -> dict[str, Any]:
        state = self.state
        flow, untrusted = state.flow, state.untrusted
        surfaces = self.surfaces
        panel, dock = surfaces.panel, surfaces.dock
        return {
            "connected": state.connected, "panel": state.current_panel(), "kiosk": state.kiosk,
            "prompt": state.prompt, "suggestions": [s.title for s in state.suggestions],
            "highlight": state.highlight, "running": [dataclasses.asdict(a) for a in state.running.values()],
            "flow": None if flow is None else {"id": flow.id, "stage": flow.stage, "fraction": flow.fraction,
                                               "tokens": flow.tokens, "reason": flow.reason,
                                               "checked": flow.checked,
                                               "asks": [dataclasses.asdict(a) for a in flow.asks],
                                               "hash": flow.hash,
                                               "provenance": flow.provenance and flow.provenance.to_json()},
            "untrusted": None if untrusted is None or state.panel != "untrusted" else
            {"hash": untrusted.app.ref, "title": untrusted.app.title, "origin": untrusted.app.origin,
             "provenance": untrusted.provenance and untrusted.provenance.to_json()},
            "toasts": self.server.toasts.texts(),
            "panel_rect": dataclasses.asdict(panel.rect()) if panel.visible else None,
            "dock_rect": dataclasses.asdict(dock.rect()) if dock.visible else None,
            "backdrop": surfaces.backdrop, "keyboard": surfaces.has_keyboard,
            "settings_loaded": state.settings.loaded,
            "history": None if state.history is None or state.panel != "history" else
            {"identity": state.history.identity, "loaded": state.history.loaded,
             "selected": state.history.selected, "message": state.history.message,
             "versions": [dataclasses.asdict(v) for v in state.history.versions]},
            "widgets": surfaces.widgets(),
            "texts": surfaces.texts(),
        }
