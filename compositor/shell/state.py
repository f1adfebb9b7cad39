"""What the shell shows, as plain data: views (views.py) are pure functions of this state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from llmos.settings import ShellSettings

# The [shell] section of llmos.toml, declared with every other setting in llmos/settings/sections.py.
ShellConfig = ShellSettings


@dataclass
class Suggestion:
    ref: str
    title: str
    prompt: str

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> Suggestion:
        ref = str(item.get("hash") or "")
        prompt = str(item.get("prompt") or "")
        title = str(item.get("title") or "") or prompt[:60] or ref[:12]
        return cls(ref, title, prompt)


@dataclass
class Ask:
    scope: str
    words: str
    required: bool


@dataclass
class Flow:
    """One app flow the shell started (flow.start) and follows through its pushed events."""

    prompt: str
    id: str | None = None
    stage: str = "starting"  # starting looking generating checking offered approval launching failed
    fraction: float = 0.0
    tokens: int = 0
    phase: str = ""
    attempt: int = 1
    title: str = ""          # offered app's title, or the launched app's
    asks: list[Ask] = field(default_factory=list)
    checked: dict[str, bool] = field(default_factory=dict)
    reason: str = ""

    @property
    def dialog(self) -> bool:
        """Stages that show a panel (after approval the panel closes and the app's window comes)."""
        return self.stage != "launching"


@dataclass
class RunningApp:
    app_id: str
    title: str
    hash: str = ""


@dataclass
class SettingsForm:
    local_model: str = ""
    api_key: str = ""          # the new key being typed; never shown
    api_key_set: bool = False  # a key is stored already
    kiosk_app: str = ""
    layout: str = "us"
    loaded: bool = False
    message: str = ""


@dataclass
class ShellState:
    connected: bool = False
    kiosk: bool = False
    panel: str | None = None  # "welcome" | "launcher" | "settings" (flow dialogs come from `flow`)
    welcome_shown: bool = False
    prompt: str = ""
    suggestions: list[Suggestion] = field(default_factory=list)
    highlight: int = -1
    flow: Flow | None = None
    running: dict[str, RunningApp] = field(default_factory=dict)
    settings: SettingsForm = field(default_factory=SettingsForm)
    model: str = ""
    model_loaded: bool = False
    first_boot: bool = False

    def current_panel(self) -> str | None:
        """What the central panel shows now: a flow dialog wins over launcher/settings/welcome."""
        if self.kiosk:
            return None
        if self.flow is not None and self.flow.dialog:
            return f"flow:{self.flow.stage}"
        return self.panel
