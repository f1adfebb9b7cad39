"""What the shell shows, as plain data: views (views.py) are pure functions of this state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from llmos.api import Ask, Provenance, RunningApp


@dataclass
class Suggestion:
    ref: str
    title: str
    prompt: str
    origin: str = "local"  # "local", or the remote (another machine's registry) it was pulled from
    trusted: bool = True   # false: no key the user trusts signed or audited it (trust.py confirms)

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> Suggestion:
        ref = str(item.get("hash") or "")
        prompt = str(item.get("prompt") or "")
        title = str(item.get("title") or "") or prompt[:60] or ref[:12]
        origin, trusted = str(item.get("origin") or "local"), item.get("trusted", True) is not False
        return cls(ref, title, prompt, origin, trusted)


@dataclass(frozen=True)
class VersionRow:
    """One version in an app's history (apps.history), as the versions panel lists it."""

    seq: int
    hash: str
    model: str
    generated_at: str
    how: str
    rating: int | None
    current: bool

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> VersionRow:
        rating = item.get("rating")
        return cls(int(item.get("seq") or 0), str(item.get("hash") or ""), str(item.get("model") or ""),
                   str(item.get("generatedAt") or item.get("added") or ""), str(item.get("how") or ""),
                   rating if isinstance(rating, int) else None, bool(item.get("current")))


@dataclass
class History:
    """The versions panel's content: whose versions, which is selected, and the last outcome."""

    ref: str
    title: str
    identity: str = ""
    versions: list[VersionRow] = field(default_factory=list)
    selected: int = 0
    loaded: bool = False
    message: str = ""


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
    fallback: str = ""       # why the last model failed (located), while another one answers
    title: str = ""          # offered app's title, or the launched app's
    asks: list[Ask] = field(default_factory=list)
    checked: dict[str, bool] = field(default_factory=dict)
    reason: str = ""
    hash: str = ""           # the saved app this flow offers or runs ("" for a new app)
    provenance: Provenance | None = None  # who made and audited `hash` (apps.provenance; trust.py)


@dataclass
class UntrustedRun:
    """A saved app no trusted key signed or audited, chosen in the launcher: it waits for the user's
    extra confirmation (the "untrusted" panel, trust.py) before anything is sent to run it."""

    app: Suggestion
    provenance: Provenance | None = None


@dataclass
class SettingsForm:
    local_model: str = ""
    api_key: str = ""          # the new key being typed; never shown
    api_key_set: bool = False  # a key is stored already
    kiosk_app: str = ""
    layout: str = "us"
    providers: list[dict[str, Any]] = field(default_factory=list)  # gateway.providers, routing order
    default_provider: str = ""  # the one picked to go first; "" for the embedded model
    loaded: bool = False
    message: str = ""


@dataclass
class ShellState:
    connected: bool = False
    kiosk: bool = False
    panel: str | None = None  # "welcome" | "launcher" | "settings" | "untrusted" | "history" (flows: `flow`)
    welcome_shown: bool = False
    prompt: str = ""
    suggestions: list[Suggestion] = field(default_factory=list)
    highlight: int = -1
    flow: Flow | None = None
    untrusted: UntrustedRun | None = None  # shown while panel == "untrusted"
    history: History | None = None  # shown while panel == "history"
    running: dict[str, RunningApp] = field(default_factory=dict)
    settings: SettingsForm = field(default_factory=SettingsForm)
    model: str = ""
    model_loaded: bool = False
    first_boot: bool = False

    @classmethod
    def at_start(cls, kiosk: bool) -> ShellState:
        """What the shell shows as it opens, before the kernel answers: the launcher, as nothing runs
        yet (LauncherPanel.open_if_idle), or nothing in a kiosk. compositor/first_screen.py paints it
        before the Wayland server loads."""
        return cls(kiosk=kiosk, panel=None if kiosk else "launcher")

    def current_panel(self) -> str | None:
        """What the central panel shows now: a flow dialog wins over launcher/settings/welcome."""
        if self.kiosk:
            return None
        if self.flow is not None:  # every stage is a dialog, "launching" too: it says the Enter acted
            return f"flow:{self.flow.stage}"
        return self.panel
