"""The settings panel's form: loaded from the kernel (settings.get), edited, saved (settings.set)
for only what changed. The model providers come with their health (gateway.providers); the one the
user picks to go first is saved with gateway.default.

The Anthropic API key field is masked: its keystrokes come here (routing.py) instead of to the
renderer, which only ever sees bullets, so the key is neither drawn nor in the shell's describe()."""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmos import ipc
from llmos.sdk.render import keys

if TYPE_CHECKING:
    from llmos.compositor.shell.shell import Shell

Setting = tuple[str, str, str]  # section, key, value
PLAIN_FIELDS = ("local_model", "kiosk_app", "layout")


class SettingsEditor:
    def __init__(self, shell: Shell) -> None:
        self.shell = shell
        self._saved: list[Setting] = []
        self._saved_default = ""

    def open(self) -> None:
        state = self.shell.state
        state.panel = "settings"
        state.settings.message = ""
        state.settings.loaded = False
        self.shell.spawn(self._load())

    async def _load(self) -> None:
        values = await self.shell.link.call("settings.get")
        form = self.shell.state.settings
        if isinstance(values, dict):
            gateway, kiosk, keyboard = (values.get(s) or {} for s in ("gateway", "kiosk", "input"))
            form.local_model = str(gateway.get("local_model") or "")
            form.api_key_set = bool(gateway.get("anthropic_api_key"))
            form.kiosk_app = str(kiosk.get("app") or "")
            form.layout = str(keyboard.get("layout") or "us")
            form.loaded = True
            self._saved = self._values()
        self.shell.invalidate()
        await self._load_providers()

    async def _load_providers(self) -> None:
        """A kernel that cannot tell (an older one, a slow check) leaves the list empty, the form usable."""
        form = self.shell.state.settings
        try:
            found = await self.shell.link.call("gateway.providers", timeout=15.0)
        except (ipc.RpcError, TimeoutError, ConnectionError):
            return
        providers = found.get("providers") if isinstance(found, dict) else None
        if isinstance(providers, list):
            form.providers = [p for p in providers if isinstance(p, dict)]
            first = next((p for p in form.providers if p.get("default")), None)
            form.default_provider = str(first.get("name", "")) if first else ""
            self._saved_default = form.default_provider
            self.shell.invalidate()

    def on_field_changed(self, name: str, value: str) -> None:
        """A plain text field's onChange (the masked key field's goes nowhere: see on_api_key_typed),
        or a provider picked to go first."""
        if name in PLAIN_FIELDS:
            setattr(self.shell.state.settings, name, value)
        elif name == "default_provider":
            self.shell.state.settings.default_provider = value
            self.shell.invalidate()

    def on_api_key_typed(self, sym: int, text: str) -> bool:
        """A key pressed in the masked field; False for keys that keep their usual meaning (Enter, Tab…)."""
        form = self.shell.state.settings
        if sym == keys.BACKSPACE:
            form.api_key = form.api_key[:-1]
            return True
        if text and text.isprintable() and sym not in keys.ENTER_KEYS:
            form.api_key += text
            return True
        return False

    def save(self) -> None:
        self.shell.spawn(self._save())

    def _values(self) -> list[Setting]:
        form = self.shell.state.settings
        model = "" if form.local_model.strip() in ("", "embedded") else form.local_model.strip()
        return [("gateway", "local_model", model), ("kiosk", "app", form.kiosk_app.strip()),
                ("input", "layout", form.layout.strip() or "us")]

    async def _save(self) -> None:
        """Only what changed: setting kiosk.app, for one, makes the kernel restart the kiosk app."""
        shell = self.shell
        form = shell.state.settings
        values = self._values()
        changes = [item for item in values if item not in self._saved]
        if form.api_key:
            changes.append(("gateway", "anthropic_api_key", form.api_key))
        for section, key, value in changes:
            await shell.link.call("settings.set", section=section, key=key, value=value)
        self._saved = values
        if form.default_provider != self._saved_default:
            name = "" if form.default_provider == "local" else form.default_provider
            await shell.link.call("gateway.default", name=name)
            self._saved_default = form.default_provider
        if form.api_key:
            form.api_key, form.api_key_set = "", True
        form.message = "Saved. The keyboard layout applies after a restart."
        shell.notify("Settings", "Settings saved.")
        shell.invalidate()
