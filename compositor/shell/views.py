"""UI trees (docs/ui-tree.md) for every shell surface, as pure functions of ShellState.

Handlers are bound callables numbered per build, so an unchanged state builds an equal tree and
the renderer skips all work. `Handlers.dispatch` routes the renderer's events back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from llmos.compositor.shell import trust_views
from llmos.compositor.shell.state import Flow, History, ShellState, VersionRow

ACCENT, TRACK, MUTED, DANGER = "#2f6fed", "#e3e7ee", "#6b7280", "#b42318"
PANEL_PADDING = 20


@dataclass(frozen=True)
class Actions:
    """What each widget does: the shell (shell.py) fills these in with the handlers of its parts."""

    prompt_changed: Callable[[str], None]
    submit_prompt: Callable[[str], None]
    run_suggestion: Callable[[int], None]
    open_settings: Callable[[], None]
    open_launcher: Callable[[], None]
    close_panel: Callable[[], None]
    cancel_flow: Callable[[], None]
    answer_cached: Callable[[bool], None]
    toggle_ask: Callable[[str, bool], None]
    approve: Callable[[], None]
    retry: Callable[[], None]
    dismiss_welcome: Callable[[], None]
    settings_field: Callable[[str, str], None]
    save_settings: Callable[[], None]
    focus_app: Callable[[str], None]
    run_untrusted: Callable[[], None]
    cancel_untrusted: Callable[[], None]
    open_history: Callable[[int], None]
    select_version: Callable[[int], None]
    restore_version: Callable[[], None]
    close_history: Callable[[], None]


class Handlers:
    def __init__(self) -> None:
        self.table: dict[int, tuple[Callable[..., Any], tuple[Any, ...]]] = {}

    def __call__(self, fn: Callable[..., Any], *bound: Any) -> dict[str, int]:
        number = len(self.table) + 1
        self.table[number] = (fn, bound)
        return {"$handler": number}

    def dispatch(self, number: int, args: list[Any]) -> bool:
        entry = self.table.get(number)
        if entry is None:
            return False
        fn, bound = entry
        fn(*bound, *args)
        return True


def node(kind: str, *children: Any, **props: Any) -> dict[str, Any]:
    return {"type": kind, "props": {k: v for k, v in props.items() if v is not None},
            "children": [c for c in children if c is not None and c is not False]}


def text(value: str, size: str = "md", bold: bool = False, color: str | None = None) -> dict[str, Any]:
    return node("Text", value, size=size, bold=bold or None, color=color)


def panel_width(screen: tuple[int, int], wide: bool) -> int:
    return max(280, min(640 if wide else 540, screen[0] - 48))


def _window(width: int, *children: Any, gap: int = 12) -> dict[str, Any]:
    return node("Window", *children, width=width, padding=PANEL_PADDING, gap=gap)


# -- the central panel --------------------------------------------------------------------------------
def panel(state: ShellState, actions: Actions, h: Handlers, screen: tuple[int, int]) -> dict[str, Any] | None:
    kind = state.current_panel()
    if kind is None:
        return None
    if kind == "launcher":
        return launcher(state, actions, h, screen)
    if kind == "welcome":
        return welcome(actions, h, screen)
    if kind == "untrusted":
        run = state.untrusted
        return None if run is None else trust_views.confirm_dialog(run, actions, h, screen)
    if kind == "settings":
        return settings(state, actions, h, screen)
    if kind == "history":
        return None if state.history is None else history(state.history, actions, h, screen)
    assert state.flow is not None
    return flow_dialog(state.flow, actions, h, screen)


def launcher(state: ShellState, actions: Actions, h: Handlers, screen: tuple[int, int]) -> dict[str, Any]:
    width = panel_width(screen, wide=True)
    status = None
    if not state.connected:
        status = text("Starting… the kernel is not up yet.", "sm", color=MUTED)
    elif not state.prompt.strip():
        status = text("Describe the app you want and press Enter.", "sm", color=MUTED)
    rows = [trust_views.suggestion_row(s) for s in state.suggestions]
    suggestions = None
    if rows:
        suggestions = node("List", key="suggestions", items=rows, onSelect=h(actions.run_suggestion),
                           selected=state.highlight if state.highlight >= 0 else None,
                           height=32 * len(rows))
    hint = "Enter: make a new app" + ("  ·  ↑↓ then Enter: open a saved app" if rows else "")
    if state.running:
        hint += "  ·  Esc: close"
    versions = None
    if 0 <= state.highlight < len(state.suggestions):
        versions = node("Button", "Versions…", key="versions",
                        onClick=h(actions.open_history, state.highlight))
    return _window(
        width,
        text("What do you want to use?", "lg", bold=True),
        node("TextInput", key="prompt", value=state.prompt, placeholder="e.g. a pomodoro timer with a log",
             onChange=h(actions.prompt_changed), onSubmit=h(actions.submit_prompt)),
        status,
        suggestions,
        trust_views.untrusted_note(state.suggestions),
        node("Row", text(hint, "sm", color=MUTED), versions,
             node("Button", "Settings", key="settings", onClick=h(actions.open_settings))),
    )


def version_row(row: VersionRow) -> str:
    """One version: its number, whether it is in use, the model that wrote it, when, and its rating."""
    parts = [f"Version {row.seq}" + ("  (in use)" if row.current else ""), row.model or "unknown model",
             row.generated_at[:16].replace("T", " ")]
    if row.rating is not None:
        parts.append("★" * max(0, row.rating) + "☆" * max(0, 5 - row.rating))
    return "  ·  ".join(part for part in parts if part)


def history(view: History, actions: Actions, h: Handlers, screen: tuple[int, int]) -> dict[str, Any]:
    width = panel_width(screen, wide=True)
    rows = [version_row(row) for row in view.versions]
    listing: dict[str, Any] | None = None
    if rows:
        listing = node("List", key="versions", items=rows, onSelect=h(actions.select_version),
                       selected=view.selected, height=32 * min(len(rows), 8))
    elif view.loaded:
        listing = text("This app has no saved versions yet.", "sm", color=MUTED)
    else:
        listing = text("Loading…", "sm", color=MUTED)
    return _window(
        width,
        text(f"Versions of {view.title}", "lg", bold=True),
        text("Going back is instant and asks no model. Each version keeps its own view of the app's "
             "data; what a version cannot read is kept aside, never deleted.", "sm", color=MUTED),
        listing,
        text(view.message, "sm") if view.message else None,
        node("Row", text("↑↓ then Enter: use that version  ·  Esc: back", "sm", color=MUTED),
             node("Button", "Use this version", key="restore", onClick=h(actions.restore_version)),
             node("Button", "Back", key="back", onClick=h(actions.close_history))),
        gap=10,
    )


def welcome(actions: Actions, h: Handlers, screen: tuple[int, int]) -> dict[str, Any]:
    width = panel_width(screen, wide=True)
    return _window(
        width,
        text("Welcome to LLM OS", "xl", bold=True),
        text("Every app on this computer is written by an AI model from a sentence you type."),
        text("Open the launcher with the Super key (or Ctrl+Space), describe the app you want, "
             "for example “a pomodoro timer”, and press Enter. Apps made before are offered first."),
        text("Before an app runs, you see what it asks to do in plain words, and you choose what to "
             "allow. Apps can do nothing else."),
        node("Row", node("Button", "Get started", key="start", onClick=h(actions.dismiss_welcome)),
             text("Enter: get started", "sm", color=MUTED)),
        gap=16,
    )


def settings(state: ShellState, actions: Actions, h: Handlers, screen: tuple[int, int]) -> dict[str, Any]:
    form = state.settings
    width = panel_width(screen, wide=False)
    key_hint = "a key is stored — type to replace it" if form.api_key_set else "not set"
    model = f"Loaded: {state.model}" if state.model_loaded and state.model else "No model loaded yet"
    return _window(
        width,
        text("Settings", "lg", bold=True),
        text(model, "sm", color=MUTED),
        text("Model: “embedded” (Gemma 3 270M) or the path of a .gguf file", "sm"),
        node("TextInput", key="local_model", value=form.local_model, placeholder="embedded",
             onChange=h(actions.settings_field, "local_model")),
        text("Anthropic API key (for Claude)", "sm"),
        node("TextInput", key="api_key", value="•" * len(form.api_key), placeholder=key_hint,
             onChange=h(actions.settings_field, "api_key_shown")),
        text("Kiosk app (hash of a saved app)", "sm"),
        node("TextInput", key="kiosk_app", value=form.kiosk_app, placeholder="none",
             onChange=h(actions.settings_field, "kiosk_app")),
        text("Keyboard layout", "sm"),
        node("TextInput", key="layout", value=form.layout, placeholder="us",
             onChange=h(actions.settings_field, "layout")),
        *provider_rows(state, actions, h),
        text(form.message, "sm", color=MUTED) if form.message else None,
        node("Row", node("Button", "Save", key="save", onClick=h(actions.save_settings)),
             node("Button", "Close", key="close", onClick=h(actions.close_panel)), align="center"),
        gap=8,
    )


def _health(provider: dict[str, Any]) -> str:
    reach = {True: "reachable", False: "unreachable", None: "not checked"}[provider.get("reachable")]
    model = {True: "model present", False: "model missing", None: ""}[provider.get("model_present")]
    return " · ".join(part for part in (str(provider.get("kind", "")), str(provider.get("tier", "")),
                                        str(provider.get("model", "")), reach, model) if part)


def provider_rows(state: ShellState, actions: Actions, h: Handlers) -> list[dict[str, Any]]:
    """The model providers in routing order, each with its health; pressing one makes it go first."""
    form = state.settings
    if not form.providers:
        return []
    rows: list[dict[str, Any]] = [text("Model providers — press one to try it first", "sm")]
    for provider in form.providers:
        name = str(provider.get("name", ""))
        label = f"● {name}" if name == form.default_provider else name
        rows.append(node("Row", node("Button", label, key=f"provider-{name}",
                                     onClick=h(actions.settings_field, "default_provider", name)),
                         text(_health(provider), "sm", color=MUTED), align="center"))
        if provider.get("last_error"):
            rows.append(text(f"Last error: {provider['last_error']}"[:160], "sm", color=DANGER))
    return rows


def progress_bar(width: int, fraction: float) -> dict[str, Any]:
    fraction = min(1.0, max(0.0, fraction))
    commands = [["fillRect", 0, 0, width, 10, TRACK]]
    if fraction > 0:
        commands.append(["fillRect", 0, 0, max(4, round(width * fraction)), 10, ACCENT])
    return node("Canvas", width=width, height=10, commands=commands)


STAGE_WORDS = {
    "starting": "Starting…",
    "looking": "Looking for a saved app like it…",
    "generating": "Writing the app…",
    "checking": "Checking the code…",
    "repairing": "Fixing problems the checker found…",
    "launching": "Starting the app…",  # the window replaces this dialog when the app is up
}


def flow_dialog(flow: Flow, actions: Actions, h: Handlers, screen: tuple[int, int]) -> dict[str, Any]:
    width = panel_width(screen, wide=False)
    inner = width - 2 * PANEL_PADDING
    if flow.stage == "offered":
        return _window(
            width,
            text("A similar app exists", "lg", bold=True),
            text(f"A similar app exists: {flow.title}."),
            *trust_views.provenance_rows(flow.provenance),
            text("Use it now, or generate a new app from your words.", "sm", color=MUTED),
            node("Row", node("Button", "Use it", key="use", onClick=h(actions.answer_cached, True)),
                 node("Button", "Generate new", key="new", onClick=h(actions.answer_cached, False))),
        )
    if flow.stage == "approval":
        boxes = []
        for ask in flow.asks:
            label = f"{ask.words}  ({ask.scope}{', required' if ask.required else ''})"
            boxes.append(node("Checkbox", key=f"cap:{ask.scope}", label=label,
                              checked=flow.checked.get(ask.scope, False),
                              onChange=h(actions.toggle_ask, ask.scope)))
            if ask.warning:  # e.g. a site the request never mentioned: said plainly, under its ask
                boxes.append(text(f"⚠ {ask.warning}", "sm", bold=True, color=DANGER))
        missing = [a.words for a in flow.asks if a.required and not flow.checked.get(a.scope)]
        return _window(
            width,
            text(f"Allow “{flow.title or flow.prompt}” to:", "lg", bold=True),
            node("Column", *boxes, gap=10) if boxes else text("It asks for nothing."),
            text("It will not run without: " + ", ".join(missing), "sm", color=DANGER) if missing else None,
            *trust_views.provenance_rows(flow.provenance),
            node("Row", node("Button", "Approve", key="approve", onClick=h(actions.approve)),
                 node("Button", "Cancel", key="cancel", onClick=h(actions.cancel_flow)),
                 text("Enter: approve  ·  Esc: cancel", "sm", color=MUTED)),
            gap=14,
        )
    if flow.stage == "failed":
        return _window(
            width,
            text("The app could not be made", "lg", bold=True, color=DANGER),
            text(flow.reason or "unknown reason"),
            node("Row", node("Button", "Retry", key="retry", onClick=h(actions.retry)),
                 node("Button", "Close", key="close", onClick=h(actions.close_panel))),
        )
    detail = []
    if flow.tokens:
        detail.append(f"{flow.tokens} tokens")
    if flow.phase:
        detail.append(flow.phase)
    if flow.attempt > 1:
        detail.append(f"attempt {flow.attempt}")
    return _window(
        width,
        text(f"Making “{flow.prompt}”", "lg", bold=True),
        text(STAGE_WORDS.get(flow.stage, flow.stage), color=MUTED),
        progress_bar(inner, flow.fraction if flow.stage == "generating" else
                     (1.0 if flow.stage in ("checking", "repairing", "launching") else 0.0)),
        node("Row", node("Button", "Cancel", key="cancel", onClick=h(actions.cancel_flow)),
             text(" · ".join(detail) or " ", "sm", color=MUTED)),  # the button first: it must not move
        text(flow.fallback[:200], "sm", color=DANGER) if flow.fallback else None,
    )


# -- dock and toasts ----------------------------------------------------------------------------------
def dock(state: ShellState, actions: Actions, h: Handlers, focused_title: str) -> dict[str, Any] | None:
    if state.kiosk:
        return None
    buttons = [node("Button", "+ New app", key="new", onClick=h(actions.open_launcher))]
    for app in state.running.values():
        title = app.title or app.app_id
        label = f"● {title}" if title == focused_title else title
        buttons.append(node("Button", label[:28], key=f"app:{app.app_id}",
                            onClick=h(actions.focus_app, app.app_id)))
    buttons.append(node("Button", "Settings", key="settings", onClick=h(actions.open_settings)))
    return node("Window", node("Row", *buttons, gap=8), padding=8)


def toast(title: str, body: str, width: int = 340) -> dict[str, Any]:
    return node("Window", text(title, "sm", bold=True) if title else None, text(body), width=width,
                padding=12, gap=4)
