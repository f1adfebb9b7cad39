"""Every setting of llmos.toml, declared once: one frozen dataclass per [section], each field with its
type, default and one line of documentation. Adding a setting means adding one field here; the
loader checks it, the services read it as an attribute and docs/settings.md is generated from it."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, get_type_hints

from llmos.dailyspan import DailySpan
from llmos.settings.check import shown
from llmos.settings.declare import Section, Table, setting


@dataclass(frozen=True)
class SystemSettings(Section):
    """The machine as a whole."""

    NAME = "system"
    mode: str = setting("desktop", "desktop: the launcher and any number of windows; kiosk: one app full "
                        "screen, restarted when it stops", choices=("desktop", "kiosk"))


@dataclass(frozen=True)
class KioskSettings(Section):
    """What kiosk mode ([system] mode = "kiosk") runs and how."""

    NAME = "kiosk"
    app: str = setting("", "the registry app (sha256:…) to keep running; empty: none")
    hide_cursor: bool = setting(True, "hide the pointer in kiosk mode")
    rotation: int = setting(0, "screen rotation in kiosk mode, unless [display] rotation is set",
                            choices=(0, 90, 180, 270))


@dataclass(frozen=True)
class InputSettings(Section):
    """The keyboard, compiled by xkbcommon (hal and the compositor)."""

    NAME = "input"
    layout: str = setting("us", "XKB layout, e.g. de or fr")
    variant: str = setting("", "XKB variant, e.g. nodeadkeys")
    options: str = setting("", "XKB options, e.g. ctrl:nocaps")


@dataclass(frozen=True)
class NetworkSettings(Section):
    """Links, addresses and DNS, managed by hal (docs/hal.md)."""

    NAME = "network"
    manage: bool = setting(True, "hal configures the network links at all")
    dhcp: bool = setting(True, "DHCPv4 on wired links that have no [network.interfaces] entry")
    resolv_conf: str | None = setting(None, "file hal writes the name servers to; unset: "
                                      "$LLMOS_RUN_DIR/resolv.conf (/etc/resolv.conf links there)")
    interfaces: Mapping[str, Any] = setting({}, "per-link tables, [network.interfaces.eth0] address, "
                                            "gateway, dns or dhcp (checked by hal, see docs/hal.md)")


@dataclass(frozen=True)
class DisplaySettings(Section):
    """The screen (compositor) and how apps draw on it."""

    NAME = "display"
    backend: str = setting("auto", "auto tries drm, then fbdev, then headless",
                           choices=("auto", "drm", "fbdev", "headless"))
    scale: int = setting(1, "scale factor apps render at", choices=(1, 2, 3))
    rotation: int | None = setting(None, "screen rotation in degrees; unset: [kiosk] rotation in kiosk "
                                   "mode, else 0", choices=(0, 90, 180, 270))


BUILTIN_PROVIDERS = ("local", "cloud")  # the embedded model and Anthropic; servers need other names


def _provider_name(name: str) -> str | None:
    if name in BUILTIN_PROVIDERS:
        return f"{shown(name)} is the name of a built-in provider"
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,31}", name):
        return f"expected lower-case letters, digits, - or _ (at most 32), got {shown(name)}"
    return None


def _http_url(url: str) -> str | None:
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as error:
        return f"not a URL ({error}): {shown(url)}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"expected an http:// or https:// URL with a host, got {shown(url)}"
    return None


@dataclass(frozen=True)
class ProviderSettings(Table):
    """One inference server the gateway may send requests to, over the OpenAI chat-completions API:
    llama.cpp's llama-server, Ollama, vLLM, OpenAI or Gemini's OpenAI-compatible endpoint (docs/fleet.md).
    A bad entry is reported at start-up and left out; the other providers keep working."""

    ENTRY = "provider"
    name: str = setting("", "what the shell, the audit log and `llmos gateway try --provider` call it",
                        required=True, check=_provider_name)
    kind: str = setting("openai", "wire protocol: the OpenAI chat-completions API, streamed",
                        choices=("openai",))
    base_url: str = setting("", "API root, e.g. http://10.0.2.2:8080/v1 (llama-server), "
                            "http://host:11434/v1 (Ollama), https://api.openai.com/v1", check=_http_url)
    base_url_credential: str = setting("", "name of a boot credential holding base_url, used when "
                                       "base_url is empty (one image for a fleet, the URL per site)")
    model: str = setting("", "model name as the server knows it (its /models list)", required=True)
    key: str = setting("", "API key; empty: key_env, then key_credential, else none (a local server)")
    key_env: str = setting("", "environment variable holding the API key")
    key_credential: str = setting("", "name of a boot credential (QEMU fw_cfg or SMBIOS, "
                                  "$CREDENTIALS_DIRECTORY) holding the API key")
    timeout: float = setting(180.0, "seconds one answer may take from request to last token", minimum=1.0)
    tier: str = setting("code", "code: writes SDK code (the cloud prompt, two-block answer); spec: fills "
                        "the app language like the embedded model", choices=("code", "spec"))
    constrain: str = setting("json_schema", "how a spec-tier answer is held to the schema: json_schema "
                             "(llama-server, vLLM, Ollama, OpenAI, Gemini), json_object "
                             "(llama-cpp-python's server) or none", choices=("json_schema", "json_object",
                                                                             "none"))
    max_tokens: int = setting(4096, "answer cap, in tokens", minimum=16)
    retries: int = setting(1, "retries of the openai SDK on a dropped connection, 408, 429 or 5xx",
                           minimum=0, maximum=5)
    price_in_per_mtok: float = setting(0.0, "USD per million input tokens, for the cost budget (0 for "
                                       "a server of your own)", minimum=0.0)
    price_out_per_mtok: float = setting(0.0, "USD per million output tokens, for the cost budget",
                                        minimum=0.0)

    def problems(self) -> list[tuple[str, str]]:
        if not self.base_url and not self.base_url_credential:
            return [("base_url", "missing (give base_url or base_url_credential)")]
        return []


@dataclass(frozen=True)
class GatewaySettings(Section):
    """The model gateway: which models write apps, and the budgets that bound them (docs/gateway.md)."""

    NAME = "gateway"
    local_model: str = setting("", "path to a larger GGUF; empty: the embedded Gemma 3 270M")
    local_model_sha256: str = setting("", "expected sha256 of local_model; empty: not checked")
    local_model_capable: bool = setting(False, "the local model writes SDK code directly (needs a chat "
                                        "template) instead of filling a spec")
    adapter: str = setting("", "LoRA adapter of the embedded model (docs/adapter.md): \"shipped\" for the "
                           "one in kernel/gateway/adapters, a path to another .gguf with its .json manifest "
                           "beside it, or empty for none; the model then writes from the bare request, "
                           "and few-shot prompts take over when its app does not check")
    local_threads: int = setting(2, "llama.cpp threads")
    local_context: int = setting(2048, "llama.cpp context length in tokens")
    local_max_tokens: int = setting(448, "answer cap of the local model, in tokens (a whole app document "
                                    "from the adapter is up to about 430)")
    cloud_model: str = setting("claude-sonnet-4-6", "Claude model used when an API key is set")
    cloud_max_tokens: int = setting(4096, "answer cap of the cloud model, in tokens")
    anthropic_api_key: str = setting("", "Anthropic API key; empty: $ANTHROPIC_API_KEY or the firmware "
                                     "credential, else no cloud model")
    anthropic_base_url: str = setting("", "API base URL; empty: the SDK's default (tests point it at a stub)")
    cloud_max_retries: int = setting(2, "retries of the Anthropic SDK")
    cloud_timeout: float = setting(120.0, "seconds the Anthropic SDK waits for an answer")
    cloud_price_in_per_mtok: float = setting(3.0, "USD per million input tokens, for the cost budget")
    cloud_price_out_per_mtok: float = setting(15.0, "USD per million output tokens, for the cost budget")
    complexity_threshold: int = setting(4, "router score at which a request goes first to a provider that "
                                        "writes code (a code-tier server or the cloud model)")
    providers: tuple[ProviderSettings, ...] = setting((), "inference servers, tried in this order after the "
                                                      "embedded model and before the cloud model")
    default_provider: str = setting("", "the provider tried first (a server's name, local or cloud); "
                                    "empty: the embedded model")
    daily_token_budget: int = setting(200_000, "tokens per UTC day, all apps together")
    per_app_token_budget: int = setting(20_000, "tokens per app per UTC day")
    daily_cost_budget_usd: float = setting(2.0, "USD per UTC day, all apps together")
    per_app_cost_budget_usd: float = setting(0.5, "USD per app per UTC day")
    requests_per_minute: int = setting(30, "token-bucket rate per requester (four times that for everyone)")
    max_prompt_chars: int = setting(4000, "longest prompt accepted, in characters; the maximum is what the "
                                    "registry stores", minimum=1, maximum=8000)
    allowed_capabilities: tuple[str, ...] = setting(
        ("ui:window", "storage:local", "timer", "notify", "clipboard:read", "clipboard:write", "network:*",
         "bus:*", "app:*"),
        "capabilities generated code may ask for; network:* here means any one literal host (app:* any one "
        "installed app's function)")


@dataclass(frozen=True)
class SandboxSettings(Section):
    """Limits of each app host (docs/runtime.md)."""

    NAME = "sandbox"
    memory_mb: int = setting(32, "QuickJS heap per app, in MiB")
    stack_kb: int = setting(256, "QuickJS stack limit, in KiB (wasmtime's wasm stack may trip first)")
    deadline_ms: int = setting(500, "CPU deadline per callback (render, event handler, timer)")
    load_deadline_ms: int = setting(2000, "CPU deadline for the module body and first render")
    cpu_ms_per_s: int = setting(500, "CPU an app's host may use in any one second, in ms on the reference "
                                "machine; scaled by speed_factor, to at most 800", minimum=50, maximum=800)
    start_cpu_ms: int = setting(600, "CPU an app may use after it is ready before cpu_ms_per_s applies "
                                "(fonts, first buffers, a full-screen first paint), in ms on the reference "
                                "machine; scaled by speed_factor", minimum=0, maximum=10_000)
    speed_factor: float = setting(0.0, "how many times slower than the reference machine this one runs "
                                  "app hosts; 0 measures it once when the kernel starts "
                                  "(kernel/sandbox/speed.py)", minimum=0.0, maximum=20.0)
    max_nodes: int = setting(2000, "most nodes in an app's UI tree")
    storage_quota_kb: int = setting(1024, "storage per app, in KiB")
    uid_base: int = setting(100_000, "app hosts run as unique uids from here (state/sandbox/uids.json)")
    prefork: bool = setting(True, "fork app hosts from a zygote that has loaded everything once "
                            "(docs/runtime.md); off: start each host from scratch")
    headless_idle_s: float = setting(120.0, "an app started only to serve another app's calls stops after "
                                     "this many seconds without one (docs/composition.md)",
                                     minimum=1.0, maximum=86_400.0)
    renderer: str = setting("wayland", "wayland: apps draw windows when the compositor runs; null: headless",
                            choices=("wayland", "null"))


@dataclass(frozen=True)
class CompositorSettings(Section):
    """The Wayland compositor's own settings (docs/compositor.md)."""

    NAME = "compositor"
    runtime_dir: str = setting("/run/llmos/wayland", "XDG_RUNTIME_DIR of the Wayland socket")
    socket: str = setting("wayland-0", "name of the Wayland socket (WAYLAND_DISPLAY)")
    tiling: bool = setting(False, "tile windows instead of stacking them")
    launcher_keys: tuple[str, ...] = setting(("super", "ctrl+space"), "keys that open the launcher")
    background: str = setting("#21303f", "desktop colour, #rrggbb")
    headless_width: int = setting(1280, "width of the headless output, in pixels")
    headless_height: int = setting(800, "height of the headless output, in pixels")
    device: str = setting("", "DRM card or fbdev node to use; empty: found automatically")


@dataclass(frozen=True)
class ShellSettings(Section):
    """The OS shell drawn by the compositor: launcher, dialogs, toasts (docs/shell.md)."""

    NAME = "shell"
    enabled: bool = setting(True, "draw the OS shell inside the compositor")
    suggest_delay_ms: int = setting(120, "debounce of apps.search while typing")
    suggestions: int = setting(8, "how many cached apps the launcher lists", minimum=1, maximum=20)
    toast_ms: int = setting(4000, "default lifetime of a notification")
    reconnect_max_s: float = setting(1.0, "kernel reconnect backoff ceiling (0.25 s doubling): how long "
                                     "the shell may take to notice a kernel that came up")


@dataclass(frozen=True)
class AppsSettings(Section):
    """What a generated app may ask for, and how hard the kernel tries to fix one (docs/analysis.md)."""

    NAME = "apps"
    repair_tries: int = setting(3, "times the model may repair code that failed analysis", minimum=0)
    deny_capabilities: tuple[str, ...] = setting((), "capabilities no app may require")
    allow_network_wildcard: bool = setting(False, "apps may ask for network:* (any website)")
    max_network_hosts: int = setting(4, "most network hosts one app may name")


@dataclass(frozen=True)
class RegistrySettings(Section):
    """The store of generated apps (docs/registry.md)."""

    NAME = "registry"
    offer_threshold: float = setting(0.6, "how close a saved app's prompt must be to be offered instead "
                                     "of generating a new one")


@dataclass(frozen=True)
class KernelSettings(Section):
    """The kernel service (docs/kernel-api.md)."""

    NAME = "kernel"
    decision_timeout_s: float = setting(300.0, "an unanswered cached-offer or approval question ends the "
                                        "flow after this many seconds")
    token_ttl_days: int = setting(30, "app tokens expire after this; a host stops then (a kiosk app is "
                                  "relaunched)")
    kiosk_backoff_max_s: float = setting(30.0, "longest wait before relaunching a kiosk app that stopped")


@dataclass(frozen=True)
class InitSettings(Section):
    """PID 1 (docs/init.md)."""

    NAME = "init"
    power_button: bool = setting(True, "a press of the power button shuts the machine down cleanly")
    boot_good_within_s: int = setting(600, "a boot on trial after an update (docs/update.md) must have every "
                                      "service ready within this many seconds, or it reboots and uses "
                                      "up one of its tries", minimum=30, maximum=3600)


def _update_url(url: str) -> str | None:
    if not url:
        return None
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as error:
        return f"not a URL ({error}): {shown(url)}"
    if parts.scheme not in ("http", "https", "git") or not parts.hostname:
        return f"expected an http://, https:// or git:// URL with a host, got {shown(url)}"
    return None


def _bundle_path(path: str) -> str | None:
    words = path.split("/")
    if path and (path.startswith("/") or any(word in ("", ".", "..") for word in words)):
        return f"expected a relative path in the repository such as bundles/llmos.bundle, got {shown(path)}"
    return None


def _reboot_window(text: str) -> str | None:
    try:
        DailySpan.parse(text)
    except ValueError as error:
        return str(error)
    return None


def _git_ref(ref: str) -> str | None:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,199}", ref) or ".." in ref or ref.endswith(
            (".", "/", ".lock")) or "//" in ref:
        return f"expected a branch, a tag or a full ref such as refs/heads/main, got {shown(ref)}"
    return None


@dataclass(frozen=True)
class UpdateSettings(Section):
    """Scheduled updates (docs/update.md): a newer signed bundle from a URL goes to the inactive slot."""

    NAME = "update"
    url: str = setting("", "where the bundle comes from: its http(s):// URL, or a git remote (git://, "
                       "http(s)://) when path is set; empty: no scheduled updates", check=_update_url)
    path: str = setting("", "the bundle's path in the git remote at url, e.g. bundles/llmos.bundle; "
                        "empty: url is the bundle itself", check=_bundle_path)
    ref: str = setting("main", "the git remote's branch or tag (or full ref) to read path from",
                       check=_git_ref)
    check_every_s: int = setting(21_600, "seconds between checks; the first is a minute after a boot that "
                                 "is not on trial", minimum=300, maximum=604_800)
    reboot: bool = setting(True, "reboot into an installed update at once; false: it starts at the next "
                           "boot")
    reboot_window: str = setting("", "a daily span of local time, such as 02:00-05:00 (it may cross "
                                 "midnight), in which an installed update may reboot the machine; empty: "
                                 "at any time", check=_reboot_window)


SERVICES_DOC = ("[services.NAME] tables override one service of PID 1's table: enabled, memory_max, "
                "pids_max, ready_timeout, stop_timeout, environment (checked by init, see docs/init.md)")


@dataclass(frozen=True)
class Settings:
    """All of llmos.toml, typed. `services` stays a free-form table: its keys are service names."""

    system: SystemSettings = field(default_factory=SystemSettings)
    kiosk: KioskSettings = field(default_factory=KioskSettings)
    input: InputSettings = field(default_factory=InputSettings)
    network: NetworkSettings = field(default_factory=NetworkSettings)
    display: DisplaySettings = field(default_factory=DisplaySettings)
    gateway: GatewaySettings = field(default_factory=GatewaySettings)
    sandbox: SandboxSettings = field(default_factory=SandboxSettings)
    compositor: CompositorSettings = field(default_factory=CompositorSettings)
    shell: ShellSettings = field(default_factory=ShellSettings)
    apps: AppsSettings = field(default_factory=AppsSettings)
    registry: RegistrySettings = field(default_factory=RegistrySettings)
    kernel: KernelSettings = field(default_factory=KernelSettings)
    init: InitSettings = field(default_factory=InitSettings)
    update: UpdateSettings = field(default_factory=UpdateSettings)
    services: Mapping[str, Any] = field(default_factory=dict)

    def section(self, name: str) -> Section:
        value = getattr(self, name, None) if name in SECTIONS else None
        if not isinstance(value, Section):
            raise KeyError(f"no settings section [{name}]")
        return value


SECTIONS: dict[str, type[Section]] = {
    name: hint for name, hint in get_type_hints(Settings).items()
    if isinstance(hint, type) and issubclass(hint, Section)}
FREE_FORM: dict[str, str] = {"services": SERVICES_DOC}  # tables keyed by names, checked by their reader
