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
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from llmos import config, ipc, paths
from llmos.api import Launched
from llmos.init.awaited import AwaitError, awaited
from llmos.init.console import announced
from llmos.ipc import Connection, Params, RpcError, Server
from llmos.kernel import display, starter
from llmos.kernel.api import KernelApi
from llmos.kernel.caps import Authority, open_authority
from llmos.kernel.caps.policy import Policy
from llmos.kernel.flow import AppFlow
from llmos.kernel.flow.events import Events
from llmos.kernel.flow.sessions import FlowSession, FlowTable, SessionDecisions
from llmos.kernel.grants import Grants
from llmos.kernel.kiosk import Backoff, Kiosk
from llmos.kernel.launcher import AppInstance, Launcher, app_title
from llmos.kernel.registry import Record, Registry
from llmos.kernel.registry.providers import providing_apps
from llmos.kernel.sandbox.broker import Broker
from llmos.kernel.sandbox.limits import GuestLimits
from llmos.kernel.sandbox.manager import AppManager
from llmos.kernel.sandbox.prefork import Prefork
from llmos.kernel.sandbox.speed import speed_factor
from llmos.kernel.sandbox.storage import AppStorage
from llmos.kernel.versions import Versions
from llmos.kernel.versions.lineage import identity_for

log = logging.getLogger("llmos.kernel")

APP_EVENTS = ("launched", "exited", "crashed", "stopped")
# How long a kiosk's app waits for PID 1's word on the compositor (which awaits the display's drivers,
# 150 s at most): this only bounds a PID 1 that never answers.
DISPLAY_WAIT_S = 300.0
LIBRARY_QUIET_S = 3.0  # seconds without a launch (from "apps ready") before the example library loads


if TYPE_CHECKING:
    from llmos.kernel.gateway import Gateway
    from llmos.kernel.gateway.gateway import Generation, Progress, Repair


def _load_library() -> None:
    from llmos.kernel.applang.retrieval import library  # numpy and the encoder: after ready, not before

    try:
        index = library()
    except Exception:  # the first generation will report it where a person sees it
        log.exception("example library: not loaded")
        return
    log.info("example library: %d examples, retrieval by %s", len(index.examples),
             "words" if index.meaning is None else "meaning")


class LazyGateway:
    """The flow's generator; the gateway (and through it the model) is created on first use, so the
    kernel starts fast and a boot that only runs cached apps never loads the model."""

    def __init__(self) -> None:
        self.gateway: Gateway | None = None
        self.installed: Callable[[str], list[str]] | None = None  # what installed apps provide (Gateway)

    def instance(self) -> Gateway:
        if self.gateway is None:
            from llmos.kernel.gateway import Gateway

            self.gateway = Gateway()
            self.gateway.installed = self.installed
        return self.gateway

    def generate(self, prompt: str, *, repair: Repair | None = None,
                 prefer: str | None = None) -> AsyncIterator[Progress | Generation]:
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
    def __init__(self, cfg: config.Config | None = None, zygote: Prefork | None = None,
                 display_pipe: str = "") -> None:
        """`cfg` and `zygote`: loaded and started already, before this module's imports (__main__.py);
        `display_pipe`: where PID 1 says the compositor is up (init/awaited.py)."""
        self.started = time.monotonic()
        self.cfg = cfg or config.load()
        self.zygote = zygote
        self.display_pipe = display_pipe
        self.options = self.cfg.settings.kernel
        self.gateway = LazyGateway()
        self.first_boot = False
        self.kiosk: Kiosk | None = None
        self.authority: Authority | None = None
        self.server: Server | None = None
        self.app_server: Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

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
        self.versions = Versions(self.registry, self.broker.storage)
        self.gateway.installed = self._installed_functions
        self._seed_on_first_boot(state)
        self.grants = Grants(state / "kernel" / "grants.json")
        self.renderer_setting = sandbox.renderer
        cache = paths.quickjs_cache_dir()
        cache.mkdir(parents=True, exist_ok=True, mode=0o700)
        apps_socket = paths.socket_path("kernel-apps")
        factor = speed_factor(sandbox.speed_factor)  # once: the CPU limits are tuned on the reference machine
        limits = GuestLimits.from_settings(sandbox).scaled(factor)
        log.info("machine speed factor %.2f%s: CPU budget %d ms/s, start allowance %d ms", factor,
                 "" if sandbox.speed_factor > 0 else " (measured)", limits.cpu_ms_per_s, limits.start_cpu_ms)
        self.manager = AppManager(apps_socket, limits=limits, cache_dir=cache,
                                  renderer=self.renderer(), uid_base=sandbox.uid_base,
                                  prefork=sandbox.prefork, zygote=self.zygote)
        self.manager.warm()  # the one-time QuickJS compile, now rather than inside the first app's start
        self.launcher = Launcher(self.manager, self.authority, self._app_event, self.renderer,
                                 timedelta(days=self.options.token_ttl_days), versions=self.versions,
                                 on_notice=self._app_notice)
        self.broker.compose.starter = self._start_called  # a called app that is not running starts headless
        self.flows = FlowTable(self.options.decision_timeout_s)
        self.app_server = Server(self.broker.handlers(), mode=0o600)
        await self.app_server.start(apps_socket)
        self.server = Server({**self.broker.admin_handlers(), **ipc.handlers(KernelApi(self))}, mode=0o600)
        await self.server.start(paths.socket_path("kernel"))
        windows = "" if self.renderer() == self.renderer_setting else " once the compositor's socket appears"
        log.info("kernel ready: %d apps in the registry%s, renderer %s%s, mode %s", len(self.registry),
                 " (first boot: starter set seeded)" if self.first_boot else "", self.renderer_setting,
                 windows, self.cfg.settings.system.mode)
        self._spawn(self._once_the_display_is_up())
        self._spawn(self._announce_apps_ready())

    async def _once_the_display_is_up(self) -> None:
        """A kiosk's app needs its window, and the kernel may start while a compositor that failed is
        restarting, so it waits for PID 1 to say the compositor is up (or is not: then it runs headless,
        as any app would)."""
        try:
            await awaited(DISPLAY_WAIT_S, self.display_pipe)
        except AwaitError as error:
            log.warning("the display did not come up: %s", error)
        self._start_kiosk()

    async def _announce_apps_ready(self) -> None:
        """The boot marker from which an app opens at full speed: this kernel accepts, and its zygote
        has loaded (or failed to: apps then open, more slowly, in spawned hosts)."""
        if self.manager.prefork is not None:
            await self.manager.prefork.until_loaded()
        print(announced("apps ready"), flush=True)
        # The example library's index (numpy, the sentence encoder and the examples' vectors) is loaded
        # off the event loop before the first offline generation needs it, but only once no app has
        # started for a while since: it is seconds of the kernel's CPU under TCG, which would slow
        # the first apps opened after boot. A generation that comes first loads it itself.
        ready = time.monotonic()
        while (quiet := min(self.manager.quiet_for(), time.monotonic() - ready)) < LIBRARY_QUIET_S:
            await asyncio.sleep(LIBRARY_QUIET_S - quiet)
        await asyncio.get_running_loop().run_in_executor(None, _load_library)  # logs its own outcome

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
            await self.broker.compose.close()
            await self.flows.cancel_all()
            await self.launcher.stop_all()
            await self.manager.stop_all()  # its zygote too
        if self.zygote is not None:  # started before the manager, which a failed start never made
            await self.zygote.stop()
        if self.app_server:
            await self.app_server.close()
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(AttributeError):
            self.registry.close()
            self.broker.storage.close()
            self.versions.close()
        if self.authority:
            self.authority.audit.close()
            self.authority.revocations.close()
        for name in ("kernel", "kernel-apps"):
            with contextlib.suppress(FileNotFoundError):
                paths.socket_path(name).unlink()

    def _spawn(self, coroutine: Coroutine[object, object, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def renderer(self) -> str:
        return display.renderer(self.renderer_setting, self.cfg)

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

    # -- calls between apps (kernel/sandbox/compose.py) ------------------------------------------
    async def _start_called(self, identity: str) -> None:
        """Another app calls `identity`, which is not running: start its current version headless (no
        window, just its functions) with the grants the user last approved for it. An app never approved
        is not started: approving an app is the user's decision, in a flow, never a caller's."""
        if self.launcher.instances_of(identity):
            return  # it runs (or is starting) and says what it provides once it is up
        record = self.registry.get(self.versions.current(identity))
        granted = self.grants.get(record.codeHash)
        if granted is None:
            raise LookupError(f"{identity} ({app_title(record)}) was never approved: run it once first")
        app = await self.launcher.launch(record, granted, headless=True)
        self._spawn(self._retire_when_idle(app))

    def _installed_functions(self, request: str) -> list[str]:
        """What installed apps provide that `request` may use, as the code-writing prompt lists it."""
        apps = providing_apps(self.registry, request, self._identity_of)
        return [line for app in apps for line in app.lines()]

    def _identity_of(self, code_hash: str) -> str:
        """An app's identity, read without adopting anything (a prompt is no reason to change versions.db)."""
        known = self.versions.lineages.version(code_hash)
        return known.identity if known is not None else identity_for(code_hash)

    async def _retire_when_idle(self, app: AppInstance) -> None:
        """A headless app lives while it is called: it stops after [sandbox] headless_idle_s without one."""
        limit = self.cfg.settings.sandbox.headless_idle_s
        while not app.exited.is_set():
            idle = self.broker.compose.idle_s(app.token_app)
            if idle >= limit:
                log.info("%s (%s) served no call for %.0f s: stopping it", app.app_id, app.title, idle)
                with contextlib.suppress(KeyError):
                    await self.launcher.stop(app.app_id)
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(app.exited.wait(), limit - idle)

    # -- events --------------------------------------------------------------------------------
    def _broadcast(self, event: str, data: Mapping[str, object]) -> None:
        if self.server is not None:
            self._spawn(self.server.broadcast(event, data))

    def _app_event(self, app: AppInstance, state: str, reason: str | None) -> None:
        data = {"app_id": app.app_id, "hash": app.hash, "title": app.title, "pid": app.pid, "state": state}
        if reason:
            data["reason"] = reason
        self._broadcast("app", data)
        if state == "crashed":
            self._notify(app.app_id, app.title, f"{app.title} crashed: {reason}")

    def _app_notified(self, token_app: str, text: str, options: Mapping[str, object]) -> None:
        app = self.launcher.by_token_app(token_app)
        title = app.title if app else self.launcher.titles.get(token_app, token_app)
        self._notify(app.app_id if app else token_app, title, text)

    def _app_notice(self, identity: str, text: str) -> None:
        """What the kernel tells the user about an app's data (values kept aside by a migration)."""
        self._notify(identity, self.launcher.titles.get(identity, identity), text)

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
    def _flow(self, decisions: SessionDecisions, params: Params) -> AppFlow:
        apps, prefer = self.cfg.settings.apps, params.get("prefer")
        return AppFlow(self.registry, decisions, generator=self.gateway, versions=self.versions,
                       policy=Policy.from_settings(self.cfg.settings.apps),
                       launcher=self._flow_launch, use_cache=bool(params.get("use_cache", True)),
                       run=bool(params.get("launch", True)), repair_tries=apps.repair_tries,
                       max_prompt_chars=self.cfg.settings.gateway.max_prompt_chars,
                       prefer=prefer if isinstance(prefer, str) and prefer in ("local", "cloud") else None)

    async def _flow_launch(self, record: Record, granted: list[str]) -> Launched:
        self.grants.set(record.codeHash, granted)
        app = await self.launcher.launch(record, granted)
        return Launched(app.app_id, app.title, app.pid)

    async def _push_flow(self, session: FlowSession, data: Mapping[str, object]) -> None:
        await session.connection.push("flow", data)
        assert self.server is not None
        for connection in list(self.server.connections):
            if connection is not session.connection and ("flow" in connection.subscriptions):
                await connection.push("flow", data)

    def start_flow(self, connection: Connection, params: Params,
                   make: Callable[[AppFlow], Events]) -> dict[str, str]:
        """Start a flow session for `connection`; its events are pushed to it (and to "flow" subscribers)."""
        session = self.flows.start(connection, self._push_flow,
                                   lambda decisions: make(self._flow(decisions, params)))
        return {"flow": session.id}


async def serve(stop: asyncio.Event, cfg: config.Config | None = None,
                zygote: Prefork | None = None, display_pipe: str = "") -> None:
    kernel = KernelService(cfg, zygote, display_pipe)
    try:
        await kernel.start()
        await stop.wait()
    finally:
        await kernel.close()
