"""Running apps as the shell sees them: the kernel's `app` events and `apps.running` list (the dock's
buttons), the compositor's window events (an "app window" marker, the idle launcher stepping aside),
and focusing an app's window from the dock."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmos.api import RunningApp
from llmos.compositor.shell.markers import marker

if TYPE_CHECKING:
    from llmos.compositor.scene import Window
    from llmos.compositor.shell.shell import Shell


class RunningApps:
    def __init__(self, shell: Shell) -> None:
        self.shell = shell
        self._printed_windows: set[int] = set()

    def windows(self) -> list[Window]:
        return [w for w in self.shell.server.scene.windows if not w.popup and w.layer == "normal"]

    def present(self) -> bool:
        """An app window is up or the kernel runs an app: the launcher may step aside."""
        return bool(self.windows() or self.shell.state.running)

    async def refresh(self) -> None:
        shell = self.shell
        running = await shell.link.call("apps.running")
        if isinstance(running, list):
            rows = [RunningApp.from_json(a) for a in running if isinstance(a, dict) and a.get("app_id")]
            shell.state.running = {row.app_id: row for row in rows}
        shell.invalidate()

    def on_app_event(self, data: dict[str, Any]) -> None:
        """The kernel's `app` event: launched, exited, crashed or stopped."""
        app_id = str(data.get("app_id") or "")
        if not app_id:
            return
        shell = self.shell
        kind = data.get("state")
        if kind == "launched":
            title = str(data.get("title") or "")
            shell.state.running[app_id] = RunningApp(app_id, hash=str(data.get("hash") or ""), title=title,
                                                     pid=int(data.get("pid") or 0))
            if not title:
                shell.spawn(self.refresh())
        elif kind in ("exited", "crashed", "stopped"):
            app = shell.state.running.pop(app_id, None)
            if kind == "crashed":
                name = app.title if app and app.title else app_id
                reason = f": {data['reason']}" if data.get("reason") else ""
                shell.notify("App stopped", f"{name} crashed{reason}")
            shell.launcher.open_if_idle()

    def on_window_event(self, data: dict[str, Any]) -> None:
        """The compositor's `window` event (mapped, changed, unmapped...)."""
        shell = self.shell
        state = shell.state
        change = data.get("change")
        window = shell.server.wm.window(int(data.get("id", -1)))
        if change in ("mapped", "changed") and window is not None and window.layer == "normal":
            if window.id not in self._printed_windows and window.title:
                self._printed_windows.add(window.id)
                marker(f"app window {window.title}")
            if change == "mapped" and state.panel == "launcher" and not state.prompt:
                state.panel = None  # an idle launcher steps aside for an app that appears
            if shell.surfaces.has_keyboard and state.current_panel() is not None:
                shell.server.seat.set_keyboard_focus(None)  # the open panel keeps the keyboard
        elif change == "unmapped":
            self._printed_windows.discard(int(data.get("id", -1)))
            shell.launcher.open_if_idle()
        shell.invalidate()

    def focus(self, app_id: str) -> None:
        """The dock's button: the window whose app_id is the app's (or llmos.<app>), else by title."""
        shell = self.shell
        app = shell.state.running.get(app_id)
        windows = self.windows()
        match = next((w for w in windows if w.app_id in (app_id, f"llmos.{app_id}")), None)
        if match is None and app is not None:
            match = next((w for w in windows if w.title == app.title), None)
        if match is None:
            shell.notify("LLM OS", f"{app.title if app else app_id} has no window yet.")
            return
        shell.state.panel = None
        shell.server.wm.focus(match)
        shell.server.flush()
