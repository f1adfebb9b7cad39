"""The shell controller: kernel events and user input change ShellState; `refresh()` rebuilds the UI
trees (views.py), the layers repaint what changed and damage the compositor's scene.

Input reaches the shell before clients (compositor/input.py asks `pointer_*` and `key` first):
the panel has the keyboard while it is open; pointer input goes to whichever shell layer is under
the pointer, and a modal dialog (flow dialogs, welcome) swallows clicks meant for apps."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmos import ipc
from llmos.compositor.scene import Rect
from llmos.compositor.shell import views
from llmos.compositor.shell.keyboard import translate
from llmos.compositor.shell.layer import Layer
from llmos.compositor.shell.link import KernelLink
from llmos.compositor.shell.state import Ask, Flow, RunningApp, ShellConfig, ShellState, Suggestion
from llmos.sdk.render import DARK, LIGHT, keys

if TYPE_CHECKING:
    from llmos.compositor.scene import Window
    from llmos.compositor.server import Compositor

PANEL_THEME = dataclasses.replace(LIGHT, background=LIGHT.surface)
DOCK_THEME = dataclasses.replace(DARK, background=(0.12, 0.13, 0.15, 0.96))
TOAST_THEME = dataclasses.replace(DARK, background=(0.10, 0.11, 0.13, 1.0))
BACKDROP = (0.03, 0.05, 0.09, 0.55)
FADE_S = 0.5
MAX_TOASTS = 5
MODAL = ("flow:", "welcome")


@dataclasses.dataclass(eq=False)
class Toast:
    layer: Layer
    expires: float
    timer: asyncio.TimerHandle | None = None


class Shell:
    def __init__(self, server: Compositor, config: ShellConfig, kernel_socket: Path) -> None:
        self.server = server
        self.config = config
        self.state = ShellState(kiosk=server.wm.mode == "kiosk")
        damage = server.scene.damage
        self.panel = Layer("panel", PANEL_THEME, lambda n, a: self._event("panel", n, a), damage)
        self.dock = Layer("dock", DOCK_THEME, lambda n, a: self._event("dock", n, a), damage, radius=12)
        self.handlers: dict[str, views.Handlers] = {"panel": views.Handlers(), "dock": views.Handlers()}
        self.toasts: list[Toast] = []
        self.link = KernelLink(kernel_socket, self._kernel_event, self._connected, config.reconnect_max_s)
        self.backdrop = False
        self.has_keyboard = False
        self._pointer_layer: Layer | None = None
        self._shown_kind: str | None = None
        self._printed_windows: set[int] = set()
        self._early: dict[str, list[dict[str, Any]]] = {}  # flow events that beat flow.start's answer
        self._cancel_pending = False
        self._saved_settings: list[tuple[str, str, str]] = []
        self._refresh_handle: asyncio.Handle | None = None
        self._search_handle: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.refreshes = 0
        server.scene.overlays.insert(0, self.paint)

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._spawn(self.link.run(stop))
        self._idle_check()
        self.refresh()

    def close(self) -> None:
        self._loop = None
        for task in list(self._tasks):
            task.cancel()
        for toast in self.toasts:
            if toast.timer is not None:
                toast.timer.cancel()

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        if self._loop is None:
            coroutine.close()
            return
        task = self._loop.create_task(self._guard(coroutine))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guard(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        try:
            await coroutine
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a failed kernel call is shown, never raised into the loop
            self.notify("LLM OS", f"{_plain(error)}")

    def invalidate(self) -> None:
        """Rebuild the trees soon (coalesced); handlers may run inside renderer input calls."""
        if self._loop is None:
            self.refresh()
        elif self._refresh_handle is None:
            self._refresh_handle = self._loop.call_soon(self.refresh)

    # -- drawing ------------------------------------------------------------------------------------
    @property
    def screen(self) -> tuple[int, int]:
        return self.server.scene.width, self.server.scene.height

    def refresh(self) -> None:
        self._refresh_handle = None
        self.refreshes += 1
        state = self.state
        width, height = self.screen
        kind = state.current_panel()
        handlers = views.Handlers()
        tree = views.panel(state, self, handlers, self.screen)
        self.handlers["panel"] = handlers
        self.panel.show(tree, self._place_panel)
        dock_handlers = views.Handlers()
        focused = self.server.wm.focused
        dock_tree = views.dock(state, self, dock_handlers, focused.title if focused else "")
        self.handlers["dock"] = dock_handlers
        self.dock.show(dock_tree, lambda size: ((width - size[0]) // 2, height - size[1] - 12))
        backdrop = kind is not None and kind.startswith(MODAL)
        if backdrop != self.backdrop:
            self.backdrop = backdrop
            self.server.scene.damage()
        self._keyboard(kind is not None)
        if kind != self._shown_kind:
            self._shown_kind = kind
            self._focus_first(kind)
            if kind == "launcher":
                self._marker("launcher visible")
            elif kind == "flow:approval":
                self._marker("approval visible")
            elif kind is not None:
                self._marker(f"{kind.removeprefix('flow:')} visible")

    def _place_panel(self, size: tuple[int, int]) -> tuple[int, int]:
        width, height = self.screen
        x = (width - size[0]) // 2
        if size[1] >= height - 32:
            return x, 0
        y = max(16, height // 8) if self.state.current_panel() == "launcher" else (height - size[1]) // 2
        return x, max(16, min(y, height - size[1] - 16))

    def _focus_first(self, kind: str | None) -> None:
        wanted = {"launcher": "prompt", "settings": "local_model", "welcome": "start"}.get(kind or "")
        renderer = self.panel.renderer
        node = renderer.find(lambda n: n.props.get("key") == wanted) if wanted else None
        renderer.interaction.focus(node)
        self.panel.refresh()

    def _keyboard(self, wanted: bool) -> None:
        """While a panel is open the shell has the keyboard: the app gets a leave, then an enter back."""
        if wanted == self.has_keyboard:
            return
        self.has_keyboard = wanted
        seat = self.server.seat
        if wanted:
            seat.set_keyboard_focus(None)
        else:
            focused = self.server.wm.focused
            seat.set_keyboard_focus(focused.surface if focused is not None else None)
        self.server.flush()

    def paint(self, ctx: Any) -> Rect:
        """Scene overlay: dock, backdrop of a modal dialog, the panel, then toasts (clipped to damage)."""
        self.dock.paint(ctx)
        if self.backdrop:
            ctx.set_source_rgba(*BACKDROP)
            ctx.paint()
        self.panel.paint(ctx)
        for toast in self.toasts:
            toast.layer.paint(ctx)
        return Rect(0, 0, 0, 0)

    @staticmethod
    def _marker(what: str) -> None:
        print(f"llmos: shell {what}", flush=True)

    # -- input (called by compositor/input.py before clients) --------------------------------------------
    def _layer_at(self, x: float, y: float) -> Layer | None:
        for layer in (self.panel, self.dock):
            if layer.contains(x, y) and not (layer is self.dock and self.backdrop):
                return layer
        return None

    def pointer_motion(self, x: float, y: float) -> bool:
        layer = self._layer_at(x, y)
        if layer is not self._pointer_layer:
            if self._pointer_layer is not None:
                self._pointer_layer.renderer.pointer_leave()
                self._pointer_layer.refresh()
            self._pointer_layer = layer
        if layer is not None:
            layer.renderer.pointer_motion(x - layer.x, y - layer.y)
            layer.refresh()
            return True
        return self.backdrop

    def pointer_button(self, button: int, pressed: bool) -> bool:
        layer = self._pointer_layer
        if layer is not None:
            layer.renderer.pointer_button(button, pressed)
            layer.refresh()
            return True
        if self.backdrop:
            return True
        if pressed and self.state.panel in ("launcher", "settings") and self._apps_present():
            self.state.panel = None  # a click on an app dismisses the launcher and reaches the app
            self.invalidate()
        return False

    def axis(self, value: float) -> bool:
        layer = self._pointer_layer
        if layer is None:
            return self.backdrop
        layer.renderer.axis(0.0, value * 32 / 15)
        layer.refresh()
        return True

    def key(self, code: int, pressed: bool) -> bool:
        """A key while the shell has the keyboard; False lets the compositor give it to the client."""
        if not self.has_keyboard and pressed:
            return False
        seat = self.server.seat
        sym, text, shift = translate(seat.keymap.state, code)
        seat.update_modifiers_only(code, pressed)
        if pressed and self._shell_key(sym, text):
            if self._focused_key() == "api_key":  # the masked field: rebuild now, caret to the end
                self.refresh()
                self.panel.renderer.key(keys.END, True)
                self.panel.refresh()
            else:
                self.invalidate()
            return True
        if self.panel.visible:
            self.panel.renderer.key(sym, pressed, text, shift)
            self.panel.refresh()
        return True

    def _focused_key(self) -> str:
        renderer = self.panel.renderer
        focused = renderer.interaction.state.focused
        node = renderer.interaction.by_key.get(focused or "")
        return str(node.props.get("key", "")) if node is not None else ""

    def _focused_button(self) -> bool:
        renderer = self.panel.renderer
        node = renderer.interaction.by_key.get(renderer.interaction.state.focused or "")
        return node is not None and node.type == "Button"

    def _shell_key(self, sym: int, text: str) -> bool:
        """Keys with a shell meaning (Escape, Enter defaults, suggestion arrows, the masked API key)."""
        state = self.state
        kind = state.current_panel()
        enter = sym in keys.ENTER_KEYS
        if kind == "settings" and self._focused_key() == "api_key":
            if sym == keys.BACKSPACE:
                state.settings.api_key = state.settings.api_key[:-1]
                return True
            if text and text.isprintable() and not enter:
                state.settings.api_key += text
                return True
        if sym == keys.ESCAPE:
            self._escape(kind)
            return True
        if kind == "launcher":
            rows = len(state.suggestions)
            if sym in (keys.DOWN, keys.UP) and rows:
                step = 1 if sym == keys.DOWN else -1
                state.highlight = max(-1, min(rows - 1, state.highlight + step))
                return True
            if enter and state.highlight >= 0:
                self.run_suggestion(state.highlight)
                return True
            return False
        if not enter or self._focused_button():
            return False
        if kind == "flow:approval":
            self.approve()
        elif kind == "welcome":
            self.dismiss_welcome()
        elif kind == "flow:failed":
            self.retry()
        elif kind == "flow:offered":
            self.answer_cached(True)
        elif kind == "settings":
            self.save_settings()
        else:
            return False
        return True

    def _escape(self, kind: str | None) -> None:
        if (kind or "").startswith("flow:") and kind != "flow:failed":
            self.cancel_flow()
        elif kind == "welcome":
            self.dismiss_welcome()
        elif kind == "flow:failed":
            self.close_panel()
        elif kind == "launcher" and not self._apps_present():
            self.state.prompt, self.state.suggestions, self.state.highlight = "", [], -1
        else:
            self.close_panel()

    # -- compositor events -------------------------------------------------------------------------------
    def shortcut(self, name: str) -> None:
        if name != "launcher" or self.state.kiosk:
            return
        showing = self.state.current_panel() == self.state.panel == "launcher"
        if showing and self._apps_present():
            self.state.panel = None
        else:
            self.state.panel = "launcher"
        self.invalidate()

    def window_event(self, data: dict[str, Any]) -> None:
        change = data.get("change")
        window = self.server.wm.window(int(data.get("id", -1)))
        if change in ("mapped", "changed") and window is not None and window.layer == "normal":
            if window.id not in self._printed_windows and window.title:
                self._printed_windows.add(window.id)
                self._marker(f"app window {window.title}")
            if change == "mapped" and self.state.panel == "launcher" and not self.state.prompt:
                self.state.panel = None  # an idle launcher steps aside for an app that appears
            if self.has_keyboard and self.state.current_panel() is not None:
                self.server.seat.set_keyboard_focus(None)  # the open panel keeps the keyboard
        elif change == "unmapped":
            self._printed_windows.discard(int(data.get("id", -1)))
            self._idle_check()
        self.invalidate()

    def _windows(self) -> list[Window]:
        return [w for w in self.server.scene.windows if not w.popup and w.layer == "normal"]

    def _apps_present(self) -> bool:
        return bool(self._windows() or self.state.running)

    def _idle_check(self) -> None:
        """On first boot and whenever nothing runs, the launcher is open."""
        state = self.state
        if state.kiosk or state.panel is not None or state.flow is not None or self._apps_present():
            return
        state.panel = "launcher"
        self.invalidate()

    # -- notifications ------------------------------------------------------------------------------------
    def notify(self, title: str, body: str, timeout_ms: int | None = None) -> None:
        timeout = (self.config.toast_ms if timeout_ms is None else timeout_ms) / 1000
        layer = Layer("toast", TOAST_THEME, lambda n, a: None, self.server.scene.damage, radius=10)
        toast = Toast(layer, time.monotonic() + max(timeout, FADE_S))
        self.toasts.append(toast)
        while len(self.toasts) > MAX_TOASTS:
            self._drop(self.toasts[0])
        layer.show(views.toast(" ".join(title.split())[:80], " ".join(body.split())[:300]), lambda s: (0, 0))
        self._stack_toasts()
        self._marker(f"toast {' '.join(body.split())[:80]}")
        if self._loop is not None and timeout > 0:
            toast.timer = self._loop.call_later(max(0.0, timeout - FADE_S), self._fade, toast)

    def _fade(self, toast: Toast) -> None:
        if toast not in self.toasts or self._loop is None:
            return
        left = toast.expires - time.monotonic()
        if left <= 0:
            self._drop(toast)
            self._stack_toasts()
            return
        toast.layer.alpha = left / FADE_S
        self.server.scene.damage(toast.layer.bounds())
        toast.timer = self._loop.call_later(1 / 30, self._fade, toast)

    def _drop(self, toast: Toast) -> None:
        if toast.timer is not None:
            toast.timer.cancel()
        self.toasts.remove(toast)
        toast.layer.show(None, lambda s: (0, 0))

    def _stack_toasts(self) -> None:
        width, _ = self.screen
        top = 16
        for toast in self.toasts:
            layer = toast.layer
            w, h = layer.size
            if (layer.x, layer.y) != (width - w - 16, top):
                self.server.scene.damage(layer.bounds())
                layer.x, layer.y = width - w - 16, top
                self.server.scene.damage(layer.bounds())
            top += h + 10

    # -- kernel --------------------------------------------------------------------------------------
    def _connected(self, up: bool) -> None:
        self.state.connected = up
        if up:
            self._spawn(self._on_connect())
        else:
            flow = self.state.flow
            if flow is not None and flow.stage != "failed":
                flow.stage, flow.reason = "failed", "Lost the connection to the kernel; it is restarting."
        self.invalidate()

    async def _on_connect(self) -> None:
        status = await self.link.call("status")
        state = self.state
        if isinstance(status, dict):
            state.model, state.model_loaded = str(status.get("model") or ""), bool(status.get("model_loaded"))
            state.first_boot = bool(status.get("first_boot"))
            quiet = state.panel in (None, "launcher") and not state.prompt and not state.kiosk
            if state.first_boot and not state.welcome_shown and quiet:
                state.welcome_shown = True
                state.panel = "welcome"
        await self._refresh_running()
        if state.prompt.strip():
            await self._search(state.prompt)
        self.invalidate()

    async def _refresh_running(self) -> None:
        running = await self.link.call("apps.running")
        if isinstance(running, list):
            self.state.running = {str(a["app_id"]): RunningApp(str(a["app_id"]), str(a.get("title") or ""),
                                                               str(a.get("hash") or ""))
                                  for a in running if isinstance(a, dict) and a.get("app_id")}
        self.invalidate()

    def _kernel_event(self, event: str, data: Any) -> None:
        if not isinstance(data, dict):
            return
        if event == "flow":
            self._flow_event(data)
        elif event == "notify":
            self.notify(str(data.get("title") or data.get("app_id") or ""), str(data.get("text") or ""))
        elif event == "app":
            self._app_event(data)
        self.invalidate()

    def _app_event(self, data: dict[str, Any]) -> None:
        app_id = str(data.get("app_id") or "")
        if not app_id:
            return
        state = self.state
        kind = data.get("state")
        if kind == "launched":
            title = str(data.get("title") or "")
            state.running[app_id] = RunningApp(app_id, title, str(data.get("hash") or ""))
            if not title:
                self._spawn(self._refresh_running())
        elif kind in ("exited", "crashed", "stopped"):
            app = state.running.pop(app_id, None)
            if kind == "crashed":
                name = app.title if app and app.title else app_id
                reason = f": {data['reason']}" if data.get("reason") else ""
                self.notify("App stopped", f"{name} crashed{reason}")
            self._idle_check()

    def _flow_event(self, data: dict[str, Any]) -> None:
        flow = self.state.flow
        flow_id = str(data.get("flow") or "")
        if flow is None:
            return
        if flow.id is None:
            self._early.setdefault(flow_id, []).append(data)
            return
        if flow_id != flow.id:
            return
        kind = data.get("event")
        if kind == "looked-up":
            flow.stage = "looking"
        elif kind == "offered-cached":
            flow.stage = "offered"
            flow.title = str(data.get("title") or data.get("prompt") or data.get("codeHash") or "")
        elif kind == "generating":
            flow.stage = "generating"
            flow.fraction = float(data.get("fraction") or 0.0)
            flow.tokens = int(data.get("tokens") or 0)
            flow.phase = str(data.get("phase") or "")
            flow.attempt = int(data.get("attempt") or flow.attempt)
        elif kind == "analysed":
            flow.stage = "checking"
        elif kind == "repairing":
            flow.stage = "repairing"
            flow.attempt = int(data.get("attempt") or flow.attempt + 1)
        elif kind == "needs-approval":
            asks = data.get("asks") or data.get("capabilities") or []
            flow.asks = [Ask(str(a.get("scope")), str(a.get("words") or a.get("scope")),
                             bool(a.get("required"))) for a in asks if isinstance(a, dict)]
            flow.checked = {a.scope: True for a in flow.asks}
            flow.title = str(data.get("title") or flow.title or "")
            flow.stage = "approval"
        elif kind == "approved":
            flow.stage = "launching"
        elif kind == "launched":
            app_id = str(data.get("app_id") or "")
            if app_id:
                title = str(data.get("title") or flow.title or flow.prompt)
                self.state.running[app_id] = RunningApp(app_id, title, str(data.get("hash") or ""))
            self._finish_flow()
        elif kind == "failed":
            flow.stage, flow.reason = "failed", str(data.get("reason") or "unknown reason")
        elif kind == "cancelled" or (kind == "finished" and flow.stage != "failed"):
            self._finish_flow()

    def _finish_flow(self) -> None:
        self.state.flow = None
        if self.state.panel == "launcher":
            self.state.panel = None
            self.state.prompt, self.state.suggestions, self.state.highlight = "", [], -1
        self._idle_check()

    async def _start_flow(self, flow: Flow, method: str = "flow.start", **params: Any) -> None:
        try:
            answer = await self.link.call(method, **(params or {"prompt": flow.prompt}))
        except Exception as error:
            if self.state.flow is flow:
                flow.stage, flow.reason = "failed", _plain(error)
                self.invalidate()
            return
        flow.id = str(answer.get("flow") if isinstance(answer, dict) else answer)
        if self.state.flow is not flow:
            return
        if self._cancel_pending:
            self._cancel_pending = False
            await self.link.call("flow.cancel", flow=flow.id)
            return
        for data in self._early.pop(flow.id, []):
            self._flow_event(data)
        self._early.clear()
        self.invalidate()

    async def _search(self, text: str) -> None:
        found = await self.link.call("apps.search", text=text, limit=self.config.suggestions)
        if text != self.state.prompt:
            return  # the user typed on; a newer search is coming
        found = found if isinstance(found, list) else []
        items = [Suggestion.from_json(i) for i in found if isinstance(i, dict)]
        self._set_suggestions(items[: self.config.suggestions])

    def _set_suggestions(self, items: list[Suggestion]) -> None:
        if items != self.state.suggestions:
            self.state.suggestions = items
            self.state.highlight = -1
            self._marker(f"suggestions {len(items)}")
        self.invalidate()

    # -- actions (views.Actions) ---------------------------------------------------------------------------
    def _event(self, layer: str, handler: int, args: list[Any]) -> None:
        if self.handlers[layer].dispatch(handler, args):
            self.invalidate()

    def prompt_changed(self, text: str) -> None:
        self.state.prompt = text
        if self._search_handle is not None:
            self._search_handle.cancel()
            self._search_handle = None
        if not text.strip():
            self._set_suggestions([])
            return
        if self._loop is not None and self.link.connected:
            self._search_handle = self._loop.call_later(self.config.suggest_delay_ms / 1000,
                                                        lambda: self._spawn(self._search(text)))

    def submit_prompt(self, text: str) -> None:
        text = text.strip()
        if not text:
            return
        if not self.link.connected:
            self.notify("LLM OS", "The kernel is still starting; try again in a moment.")
            return
        flow = self.state.flow = Flow(prompt=text)
        self._cancel_pending = False
        self._spawn(self._start_flow(flow))

    def run_suggestion(self, index: int) -> None:
        if not 0 <= index < len(self.state.suggestions):
            return
        chosen = self.state.suggestions[index]
        self.state.panel = None
        self.state.prompt, self.state.suggestions, self.state.highlight = "", [], -1
        self._spawn(self._run(chosen))

    async def _run(self, chosen: Suggestion) -> None:
        try:
            answer = await self.link.call("apps.run", ref=chosen.ref)
        except ipc.RpcError as error:
            if error.code != "needs-approval":
                raise
            # never approved: run it through the kernel's flow so the user sees the approval dialog
            flow = self.state.flow = Flow(prompt=chosen.prompt or chosen.title, title=chosen.title)
            self._cancel_pending = False
            await self._start_flow(flow, "flow.run", ref=chosen.ref)
            return
        app_id = str(answer.get("app_id") if isinstance(answer, dict) else answer or "")
        if app_id:
            self.state.running.setdefault(app_id, RunningApp(app_id, chosen.title, chosen.ref))
        self.invalidate()

    def open_settings(self) -> None:
        self.state.panel = "settings"
        self.state.settings.message = ""
        self.state.settings.loaded = False
        self._spawn(self._load_settings())

    async def _load_settings(self) -> None:
        values = await self.link.call("settings.get")
        form = self.state.settings
        if isinstance(values, dict):
            gateway, kiosk, keyboard = (values.get(s) or {} for s in ("gateway", "kiosk", "input"))
            form.local_model = str(gateway.get("local_model") or "")
            form.api_key_set = bool(gateway.get("anthropic_api_key"))
            form.kiosk_app = str(kiosk.get("app") or "")
            form.layout = str(keyboard.get("layout") or "us")
            form.loaded = True
            self._saved_settings = self._settings_values()
        self.invalidate()

    def open_launcher(self) -> None:
        self.state.panel = "launcher"

    def close_panel(self) -> None:
        if self.state.flow is not None and self.state.flow.stage == "failed":
            self.state.flow = None
        self.state.panel = None
        self._idle_check()

    def cancel_flow(self) -> None:
        flow = self.state.flow
        if flow is None:
            return
        self.state.flow = None
        if flow.id is None:
            self._cancel_pending = True
        elif flow.stage != "failed":
            self._spawn(self.link.call("flow.cancel", flow=flow.id))
        self._idle_check()

    def answer_cached(self, accept: bool) -> None:
        flow = self.state.flow
        if flow is None or flow.id is None:
            return
        flow.stage = "starting" if accept else "generating"
        self._spawn(self.link.call("flow.answer", flow=flow.id, accept_cached=accept))

    def toggle_ask(self, scope: str, checked: bool) -> None:
        if self.state.flow is not None:
            self.state.flow.checked[scope] = bool(checked)

    def approve(self) -> None:
        flow = self.state.flow
        if flow is None or flow.id is None or flow.stage != "approval":
            return
        granted = [a.scope for a in flow.asks if flow.checked.get(a.scope)]
        flow.stage = "launching"
        self._spawn(self.link.call("flow.approve", flow=flow.id, granted=granted))

    def retry(self) -> None:
        flow = self.state.flow
        if flow is None:
            return
        self.state.flow = None
        self.submit_prompt(flow.prompt)

    def dismiss_welcome(self) -> None:
        self.state.panel = "launcher"

    def settings_field(self, name: str, value: str) -> None:
        if name in ("local_model", "kiosk_app", "layout"):
            setattr(self.state.settings, name, value)

    def save_settings(self) -> None:
        self._spawn(self._save_settings())

    def _settings_values(self) -> list[tuple[str, str, str]]:
        form = self.state.settings
        model = "" if form.local_model.strip() in ("", "embedded") else form.local_model.strip()
        return [("gateway", "local_model", model), ("kiosk", "app", form.kiosk_app.strip()),
                ("input", "layout", form.layout.strip() or "us")]

    async def _save_settings(self) -> None:
        """Only what changed: setting kiosk.app, for one, makes the kernel restart the kiosk app."""
        form = self.state.settings
        values = self._settings_values()
        changes = [item for item in values if item not in self._saved_settings]
        if form.api_key:
            changes.append(("gateway", "anthropic_api_key", form.api_key))
        for section, key, value in changes:
            await self.link.call("settings.set", section=section, key=key, value=value)
        self._saved_settings = values
        if form.api_key:
            form.api_key, form.api_key_set = "", True
        form.message = "Saved. The keyboard layout applies after a restart."
        self.notify("Settings", "Settings saved.")
        self.invalidate()

    def focus_app(self, app_id: str) -> None:
        app = self.state.running.get(app_id)
        windows = self._windows()
        match = next((w for w in windows if w.app_id in (app_id, f"llmos.{app_id}")), None)
        if match is None and app is not None:
            match = next((w for w in windows if w.title == app.title), None)
        if match is None:
            self.notify("LLM OS", f"{app.title if app else app_id} has no window yet.")
            return
        self.state.panel = None
        self.server.wm.focus(match)
        self.server.flush()

    # -- introspection (compositor ipc "shell") ----------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        state = self.state
        flow = state.flow
        return {
            "connected": state.connected, "panel": state.current_panel(), "kiosk": state.kiosk,
            "prompt": state.prompt, "suggestions": [s.title for s in state.suggestions],
            "highlight": state.highlight, "running": [dataclasses.asdict(a) for a in state.running.values()],
            "flow": None if flow is None else {"id": flow.id, "stage": flow.stage, "fraction": flow.fraction,
                                               "tokens": flow.tokens, "reason": flow.reason,
                                               "checked": flow.checked,
                                               "asks": [dataclasses.asdict(a) for a in flow.asks]},
            "toasts": [t.layer.tree["children"][-1]["children"][0] for t in self.toasts],
            "panel_rect": dataclasses.asdict(self.panel.rect()) if self.panel.visible else None,
            "dock_rect": dataclasses.asdict(self.dock.rect()) if self.dock.visible else None,
            "backdrop": self.backdrop, "keyboard": self.has_keyboard,
            "settings_loaded": state.settings.loaded,
            "widgets": {layer.name: _widgets(layer) for layer in (self.panel, self.dock) if layer.visible},
        }


def _widgets(layer: Layer) -> dict[str, list[int]]:
    """Screen rectangles of the keyed widgets of a layer (tests click them; no OCR needed)."""
    root = layer.renderer.interaction.root
    found: dict[str, list[int]] = {}
    for item in root.walk() if root is not None else []:
        if "key" in item.props:
            found[str(item.props["key"])] = [round(layer.x + item.x), round(layer.y + item.y), round(item.w),
                                             round(item.h)]
    return found


def _plain(error: BaseException) -> str:
    message = getattr(error, "message", None) or str(error) or type(error).__name__
    return str(message)
