"""The LLM OS kernel service (`python3 -m llmos.kernel`): one asyncio process that holds the
capability authority, the broker for app calls, the registry, the app hosts, the flows and the
(lazily created) gateway, and serves the shell/CLI API in docs/kernel-api.md.

Two sockets, both root-only (0600):
- kernel.sock: the shell/CLI API (kernel/api.py) plus the caps.* admin methods. Ready = this accepts.
- kernel-apps.sock: only the broker's app.* methods. App hosts open it as root *before* they drop
  to their per-app uid, so SO_PEERCRED says 0 on their connection; keeping them off kernel.sock
  means a host that was taken over still cannot call flow.*, apps.*, settings.* or caps.mint.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from llmos import config, ipc, paths
from llmos.api import Launched
from llmos.ipc import Connection, RpcError, Server
from llmos.kernel import starter
from llmos.kernel.api import KernelApi
from llmos.kernel.caps import Authority, open_authority
from llmos.kernel.caps.policy import Policy
from llmos.kernel.flow import AppFlow
from llmos.kernel.flow.events import Events
from llmos.kernel.flow.sessions import FlowSession, FlowTable, SessionDecisions
from llmos.kernel.grants import Grants
from llmos.kernel.kiosk import Backoff, Kiosk
from llmos.kernel.launcher import AppInstance, Launcher
from llmos.kernel.registry import Record, Registry
from llmos.kernel.sandbox.broker import Broker
from llmos.kernel.sandbox.guest import GuestLimits
from llmos.kernel.sandbox.manager import AppManager
from llmos.kernel.sandbox.storage import AppStorage

log = logging.getLogger("llmos.kernel")

APP_EVENTS = ("launched", "exited", "crashed", "stopped")


def find_wayland(cfg: config.Config) -> Path | None:
    """The compositor's socket, or None. WAYLAND_DISPLAY/XDG_RUNTIME_DIR from PID 1 win when their
    socket exists; otherwise they are set from the compositor's own settings ([compositor]
    runtime_dir, socket), so the app hosts we spawn inherit a working pair."""
    display, runtime = os.environ.get("WAYLAND_DISPLAY"), os.environ.get("XDG_RUNTIME_DIR")
    if display and (display.startswith("/") or runtime):
        given = Path(display) if display.startswith("/") else Path(runtime or "") / display
        if given.exists():
            return given
    own = cfg.settings.compositor
    runtime_dir, name = own.runtime_dir, own.socket
    configured = Path(runtime_dir) / name
    if not configured.exists():
        return None
    os.environ["XDG_RUNTIME_DIR"], os.environ["WAYLAND_DISPLAY"] = runtime_dir, name
    return configured


class LazyGateway:
    """The flow's generator; the gateway (and through it the model) is created on first use, so the
    kernel starts fast and a boot that only runs cached apps never loads the model."""

    def __init__(self) -> None:
        self.gateway: Any = None

    def instance(self) -> Any:
        if self.gateway is None:
            from llmos.kernel.gateway import Gateway

            self.gateway = Gateway()
        return self.gateway

    def generate(self, prompt: str, *, repair: Any = None, prefer: str | None = None) -> Any:
        return self.instance().generate(prompt, requester="kernel", repair=repair, prefer=prefer)

    @property
    def loaded(self) -> bool:
        return bool(self.gateway is not None and self.gateway.local.loaded)

    def model(self, cfg: config.Config) -> str:
        if self.gateway is not None:
            return str(self.gateway.local.model_name)
        configured = cfg.settings.gateway.local_model
        return configured.rsplit("/", 1)[-1] if configured else "gemma-3-270m-q4_k_m.gguf"

    def reset(self) -> None:
        """Settings changed: the next generation builds a new gateway with them."""
        self.gateway = None


class KernelService:
    def __init__(self) -> None:
        self.started = time.monotonic()
        self.cfg = config.load()
        self.options = self.cfg.settings.kernel
        self.gateway = LazyGateway()
        self.first_boot = False
        self.kiosk: Kiosk | None = None
        self.authority: Authority | None = None
        self.server: Server | None = None
        self.app_server: Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        for problem in self.cfg.problems:
            log.warning("config: %s", problem)
        state = paths.state_dir()
        state.mkdir(parents=True, exist_ok=True)
        sandbox = self.cfg.settings.sandbox
        self.authority = open_authority(state)
        self.broker = Broker(self.authority, AppStorage(state / "apps", sandbox.storage_quota_kb * 1024),
                             on_notify=self._app_notified)
        self.registry = Registry.open()
        self._seed_on_first_boot(state)
        self.grants = Grants(state / "kernel" / "grants.json")
        self.renderer_setting = sandbox.renderer
        cache = state / "cache" / "quickjs"
        cache.mkdir(parents=True, exist_ok=True, mode=0o700)
        apps_socket = paths.socket_path("kernel-apps")
        self.manager = AppManager(apps_socket, limits=GuestLimits.from_settings(sandbox), cache_dir=cache,
                                  renderer=self.renderer(), uid_base=sandbox.uid_base)
        self.manager.warm()  # the one-time QuickJS compile, now rather than inside the first app's start
        self.launcher = Launcher(self.manager, self.authority, self._app_event, self.renderer,
                                 timedelta(days=self.options.token_ttl_days))
        self.flows = FlowTable(self.options.decision_timeout_s)
        self.app_server = Server(self.broker.handlers(), mode=0o600)
        await self.app_server.start(apps_socket)
        self.server = Server({**self.broker.admin_handlers(), **ipc.handlers(KernelApi(self))}, mode=0o600)
        await self.server.start(paths.socket_path("kernel"))
        log.info("kernel ready: %d apps in the registry%s, renderer %s, mode %s", len(self.registry),
                 " (first boot: starter set seeded)" if self.first_boot else "", self.renderer(),
                 self.cfg.settings.system.mode)
        self._start_kiosk()

    def _seed_on_first_boot(self, state: Path) -> None:
        marker = state / "kernel" / "seeded"
        if len(self.registry) == 0 and not marker.exists():
            hashes = starter.seed(self.registry)
            self.first_boot = True
            log.info("first boot: seeded %d starter apps", len(hashes))
        marker.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        marker.touch()

    async def close(self) -> None:
        if self.server:
            await self.server.close()
        if self.kiosk:
            await self.kiosk.stop()
        with contextlib.suppress(AttributeError):
            await self.flows.cancel_all()
            await self.launcher.stop_all()
        if self.app_server:
            await self.app_server.close()
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(AttributeError):
            self.registry.close()
            self.broker.storage.close()
        if self.authority:
            self.authority.audit.close()
            self.authority.revocations.close()
        for name in ("kernel", "kernel-apps"):
            with contextlib.suppress(FileNotFoundError):
                paths.socket_path(name).unlink()

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def renderer(self) -> str:
        """Wayland when asked for and the compositor's socket exists, else headless: checked per
        launch, so apps started before the compositor is up still run (headless) instead of failing."""
        if self.renderer_setting == "wayland" and find_wayland(self.cfg) is not None:
            return "wayland"
        return "null"

    # -- kiosk ---------------------------------------------------------------------------------
    def _start_kiosk(self) -> None:
        if self.cfg.settings.system.mode != "kiosk":
            return
        ref = self.cfg.settings.kiosk.app.strip()
        if not ref:
            self._notify_kernel("kiosk mode is on but [kiosk] app is empty: no app to run")
            log.error("kiosk mode: [kiosk] app is empty; serving without a kiosk app")
            return
        backoff = Backoff(most=self.options.kiosk_backoff_max_s)
        self.kiosk = Kiosk(ref, self.registry.get, self.launcher.launch, self._notify_kernel, backoff)
        log.info("kiosk mode: keeping %s running", ref)
        self.kiosk.start()

    async def _restart_kiosk(self) -> None:
        if self.kiosk:
            await self.kiosk.stop()
            current = self.kiosk.current
            if current is not None and current.app_id in self.launcher.apps:
                await self.launcher.stop(current.app_id)
            self.kiosk = None
        self._start_kiosk()

    async def settings_changed(self, section: str, key: str) -> None:
        """A setting was saved (settings.set): reload, and make the parts that read it pick it up."""
        self.cfg = config.load()
        log.info("setting %s.%s changed", section, key)
        if section == "gateway":
            self.gateway.reset()
        if (section, key) == ("kiosk", "app"):
            await self._restart_kiosk()
        self._broadcast("settings", {"section": section, "key": key})

    # -- events --------------------------------------------------------------------------------
    def _broadcast(self, event: str, data: dict[str, Any]) -> None:
        if self.server is not None:
            self._spawn(self.server.broadcast(event, data))

    def _app_event(self, app: AppInstance, state: str, reason: str | None) -> None:
        data = {"app_id": app.app_id, "hash": app.hash, "title": app.title, "pid": app.pid, "state": state}
        if reason:
            data["reason"] = reason
        self._broadcast("app", data)
        if state == "crashed":
            self._notify(app.app_id, app.title, f"{app.title} crashed: {reason}")

    def _app_notified(self, token_app: str, text: str, options: dict[str, Any]) -> None:
        app = self.launcher.by_token_app(token_app)
        title = app.title if app else self.launcher.titles.get(token_app, token_app)
        self._notify(app.app_id if app else token_app, title, text)

    def _notify_kernel(self, text: str) -> None:
        self._notify("", "LLM OS", text)

    def _notify(self, app_id: str, title: str, text: str) -> None:
        """Subscribers (the shell) show notifications; with none, the compositor's own toast does."""
        data = {"app_id": app_id, "title": title, "text": text}
        if self.server and any("notify" in c.subscriptions or "*" in c.subscriptions
                               for c in self.server.connections):
            self._broadcast("notify", data)
        else:
            self._spawn(self._toast(f"{title}: {text}" if title else text))

    async def _toast(self, text: str) -> None:
        socket = paths.socket_path("compositor")
        if not socket.exists():
            return
        try:
            client = await ipc.Client.connect(socket, timeout=2.0)
            try:
                await client.call("notify", timeout=2.0, text=text[:300])
            finally:
                await client.close()
        except (OSError, RpcError, TimeoutError) as error:
            log.info("could not show a notification on the compositor: %s", error)

    # -- flows ---------------------------------------------------------------------------------
    def _flow(self, decisions: SessionDecisions, params: dict[str, Any]) -> AppFlow:
        apps = self.cfg.settings.apps
        return AppFlow(self.registry, decisions, generator=self.gateway,
                       policy=Policy.from_settings(self.cfg.settings.apps),
                       launcher=self._flow_launch, use_cache=bool(params.get("use_cache", True)),
                       run=bool(params.get("launch", True)), repair_tries=apps.repair_tries,
                       max_prompt_chars=self.cfg.settings.gateway.max_prompt_chars,
                       prefer=params.get("prefer") if params.get("prefer") in ("local", "cloud") else None)

    async def _flow_launch(self, record: Record, granted: list[str]) -> Launched:
        self.grants.set(record.codeHash, granted)
        app = await self.launcher.launch(record, granted)
        return Launched(app.app_id, app.title, app.pid)

    async def _push_flow(self, session: FlowSession, data: dict[str, Any]) -> None:
        await session.connection.push("flow", data)
        assert self.server is not None
        for connection in list(self.server.connections):
            if connection is not session.connection and ("flow" in connection.subscriptions):
                await connection.push("flow", data)

    def start_flow(self, connection: Connection, params: dict[str, Any],
                   make: Callable[[AppFlow], Events]) -> dict[str, str]:
        """Start a flow session for `connection`; its events are pushed to it (and to "flow" subscribers)."""
        session = self.flows.start(connection, self._push_flow,
                                   lambda decisions: make(self._flow(decisions, params)))
        return {"flow": session.id}


async def serve(stop: asyncio.Event) -> None:
    kernel = KernelService()
    try:
        await kernel.start()
        await stop.wait()
    finally:
        await kernel.close()
